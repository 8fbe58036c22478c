"""The qc flags of `lesionmtl segment` on masks whose faults are known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lesionmtl.measurements import axis_lengths, measure_mask
from lesionmtl.qc import flag_counts, quality_flags
from lesionmtl.recist import Ellipse, draw_ellipse, measure_recist

HW = (32, 32)
TRAINED = {"CT 2.5-D": 10}


def flags(mask: np.ndarray, given: np.ndarray, layout: str = "CT 2.5-D") -> list[str]:
    return quality_flags(mask, measure_mask(mask), axis_lengths(given), layout, TRAINED)


def test_a_plausible_mask_raises_nothing_and_each_fault_its_flag():
    lesion = draw_ellipse(Ellipse(16, 16, 14, 8, 30.0), HW)
    marks = measure_recist(lesion)
    assert flags(lesion, marks) == []
    assert flags(np.zeros(HW, bool), marks) == ["empty"]
    # The failure seen in practice: a model on unfamiliar images fills the whole patch.
    assert flags(np.ones(HW, bool), marks, layout="colour") == [
        "fills_patch",
        "along_border",
        "area_vs_ellipse",
        "diameters_vs_given",
        "unlike_training",
    ]
    band = np.zeros(HW, bool)
    band[:, :4] = True  # runs down the patch's left edge
    assert "along_border" in flags(band, marks) and "fills_patch" not in flags(band, marks)
    small = draw_ellipse(Ellipse(16, 16, 4, 3, 0.0), HW)
    assert flags(small, marks) == ["area_vs_ellipse", "diameters_vs_given"]
    assert quality_flags(lesion, measure_mask(lesion), axis_lengths(marks), "colour", None) == []  # training unknown


def test_counts_per_flag():
    qc = pd.Series(["", "empty", "fills_patch;along_border", "along_border", None])
    assert flag_counts(qc) == {"fills_patch": 1, "along_border": 2, "empty": 1}
    assert list(flag_counts(qc)) == ["empty", "fills_patch", "along_border"]  # in the documented order
