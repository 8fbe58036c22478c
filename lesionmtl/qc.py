"""When a predicted mask is not to be trusted: plausibility flags for ``lesionmtl segment``.

A model applied to images unlike its training data tends to return masks that fill the whole
patch, or none.  Each lesion gets the names of the checks it fails (``measurements.csv``'s ``qc``
column, ``;``-separated, empty when none):

- ``empty``: no lesion pixel;
- ``fills_patch``: at least :data:`FILL_FRACTION` of the patch;
- ``along_border``: at least :data:`BORDER_FRACTION` of the patch's border pixels (the lesion was
  cut by the patch, or the mask is background);
- ``area_vs_ellipse``: the area is more than :data:`AREA_FACTOR` times larger or smaller than that
  of the ellipse the given RECIST marks span;
- ``diameters_vs_given``: a measured diameter is more than :data:`DIAMETER_FACTOR` times longer or
  shorter than the given one;
- ``unlike_training``: the image's layout (``CT 2.5-D``, ``MR slice``, ``colour``, ...) is not
  among those the checkpoint was trained on (``lesionmtl info`` lists them).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

FLAGS = ("empty", "fills_patch", "along_border", "area_vs_ellipse", "diameters_vs_given", "unlike_training")
FILL_FRACTION = 0.9
BORDER_FRACTION = 0.25
AREA_FACTOR = 3.0
DIAMETER_FACTOR = 2.0


def _far(value: float, reference: float, factor: float) -> bool:
    return reference > 0 and not (reference / factor <= value <= reference * factor)


def quality_flags(
    patch_mask: np.ndarray,
    measured: dict[str, float],
    given: dict[str, float],
    layout: str,
    training_layouts: dict | None,
) -> list[str]:
    """The :data:`FLAGS` a lesion raises: ``patch_mask`` is the predicted (h, w) patch, ``measured``
    and ``given`` the :func:`~lesionmtl.measurements.measure_mask` / ``axis_lengths`` in pixels."""
    mask = np.asarray(patch_mask, dtype=bool)
    flags = []
    if not mask.any():
        flags.append("empty")
    else:
        if mask.mean() >= FILL_FRACTION:
            flags.append("fills_patch")
        border = np.concatenate([mask[0], mask[-1], mask[1:-1, 0], mask[1:-1, -1]])
        if border.mean() >= BORDER_FRACTION:
            flags.append("along_border")
        ellipse = math.pi / 4 * given["long_px"] * given["short_px"]
        if _far(measured["area_px"], ellipse, AREA_FACTOR):
            flags.append("area_vs_ellipse")
        if _far(measured["long_px"], given["long_px"], DIAMETER_FACTOR) or _far(
            measured["short_px"], given["short_px"], DIAMETER_FACTOR
        ):
            flags.append("diameters_vs_given")
    if training_layouts and layout and layout not in training_layouts:
        flags.append("unlike_training")
    return flags


def flag_counts(qc: pd.Series) -> dict[str, int]:
    """How many lesions raised each flag (flags no lesion raised left out), in :data:`FLAGS` order."""
    counts = Counter(flag for value in qc.fillna("") for flag in str(value).split(";") if flag)
    return {flag: counts[flag] for flag in FLAGS if counts[flag]}
