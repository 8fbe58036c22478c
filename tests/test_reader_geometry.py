"""Lesion geometry through the real readers: RECIST measured at source resolution, lesions at the
image or patch border kept with clipped masks (issue 11, points 1 and 2)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from lesionmtl.datasets.base import POOR_FIT, Rejection, Sample
from lesionmtl.datasets.ingest import ingest
from lesionmtl.datasets.readers.deeplesion import read_deeplesion
from lesionmtl.datasets.readers.ham import read_ham
from lesionmtl.datasets.readers.lits import read_lits
from lesionmtl.datasets.synthetic import write_synthetic
from lesionmtl.patches import to_source
from lesionmtl.pseudolabels import ellipse_mask, make_pseudolabels
from lesionmtl.recist import Ellipse, draw_ellipse, recist_to_ellipse
from tests.conftest import angle_diff

HAM_HW = (450, 600)  # the published image size
HAM_PATCH = (128, 160)  # configs/paper.yaml: a different scale in x and in y
# (major, minor, angle, cx, cy) in source pixels; the last one is cut by the right image edge.
DRAWN = [
    (10.0, 7.0, 30.0, 100.3, 80.6),
    (24.0, 14.0, 110.0, 420.2, 90.1),
    (60.0, 35.0, 65.0, 150.7, 300.4),
    (150.0, 90.0, 140.0, 300.5, 220.2),
    (400.0, 260.0, 15.0, 300.1, 225.3),
    (220.0, 140.0, 80.0, 560.4, 210.7),
]


def write_ham(raw: Path, ellipses: list[Ellipse]) -> None:
    """HAM10000's layout: metadata, ``ISIC_*.jpg`` and ``ISIC_*_segmentation.png`` (0/255)."""
    raw.mkdir(parents=True)
    rows = []
    for i, e in enumerate(ellipses):
        image_id = f"ISIC_{i:07d}"
        mask = draw_ellipse(e, HAM_HW)
        image = np.where(mask[..., None], (90, 60, 40), (200, 170, 150)).astype(np.uint8)
        cv2.imwrite(str(raw / f"{image_id}.jpg"), image)
        cv2.imwrite(str(raw / f"{image_id}_segmentation.png"), mask.astype(np.uint8) * 255)
        rows.append({"lesion_id": f"HAM_{i:07d}", "image_id": image_id, "dx": "nv"})
    pd.DataFrame(rows).to_csv(raw / "HAM10000_metadata.csv", index=False)


@pytest.fixture(scope="module")
def ham(tmp_path_factory) -> tuple[list[Ellipse], list[Sample | Rejection]]:
    ellipses = [Ellipse(cx, cy, major, minor, angle) for major, minor, angle, cx, cy in DRAWN]
    raw = tmp_path_factory.mktemp("ham") / "raw"
    write_ham(raw, ellipses)
    return ellipses, list(read_ham(raw, patch_size=HAM_PATCH))


def test_ham_ellipses_are_measured_at_source_resolution(ham):
    """Drawn ellipses of 10-400 px come back within 0.5 px and 1 degree, in source pixels."""
    ellipses, samples = ham
    assert all(isinstance(s, Sample) for s in samples)
    for drawn, sample in zip(ellipses, samples):
        fitted = recist_to_ellipse(sample.recist_src)
        assert abs(fitted.major - drawn.major) <= 0.5 and abs(fitted.minor - drawn.minor) <= 0.5, (drawn, fitted)
        assert math.hypot(fitted.cx - drawn.cx, fitted.cy - drawn.cy) <= 0.5
        if drawn.major >= 30:
            assert angle_diff(fitted.angle, drawn.angle) <= 1.0


def test_ham_patch_and_source_frames_agree_through_to_source(ham):
    """x and y scale differently: the patch ellipse is the image of the source ellipse, so its
    centre maps back onto the source centre and its axis endpoints onto the source ellipse."""
    _, samples = ham
    for sample in samples:
        assert sample.scale_xy[0] != pytest.approx(sample.scale_xy[1])
        source = recist_to_ellipse(sample.recist_src)
        patch = recist_to_ellipse(sample.recist)
        back = to_source(np.array([[patch.cx, patch.cy]]), sample.offset_xy, sample.scale_xy)[0]
        assert np.allclose(back, [source.cx, source.cy], atol=1e-9)
        t = math.radians(source.angle)
        for x, y in to_source(sample.recist, sample.offset_xy, sample.scale_xy):
            dx, dy = x - source.cx, y - source.cy
            along, across = dx * math.cos(t) + dy * math.sin(t), -dx * math.sin(t) + dy * math.cos(t)
            assert (along / (source.major / 2)) ** 2 + (across / (source.minor / 2)) ** 2 == pytest.approx(1.0)


def test_ham_lesion_cut_by_the_image_edge_is_kept_with_a_clipped_mask(ham):
    ellipses, samples = ham
    drawn, sample = ellipses[-1], samples[-1]
    assert drawn.cx + drawn.major / 2 > HAM_HW[1]  # the drawing leaves the image
    assert sample.gt[:, -1].any()  # the mask reaches the patch edge...
    assert sample.recist[:, 0].max() > HAM_PATCH[1] - 0.5  # ...and the ellipse goes on beyond it
    clipped = ellipse_mask(sample.recist, HAM_PATCH)
    assert clipped[:, -1].any() and clipped.sum() < math.pi / 4 * np.prod([*recist_axes(sample.recist)])
    # The shape (what clustering sees) is the lesion's, not the visible part's.
    fitted = recist_to_ellipse(sample.recist_src)
    assert abs(fitted.major - drawn.major) <= 1.0 and abs(fitted.minor - drawn.minor) <= 1.0


def recist_axes(points: np.ndarray) -> tuple[float, float]:
    e = recist_to_ellipse(points)
    return e.major, e.minor


def test_ingest_keeps_border_lesions_and_stores_both_frames(ham, tmp_path):
    ellipses = [Ellipse(cx, cy, major, minor, angle) for major, minor, angle, cx, cy in DRAWN]
    write_ham(tmp_path / "raw", ellipses)
    table = ingest("ham", tmp_path / "raw", tmp_path / "out", patch_size=HAM_PATCH, seed=0)
    assert len(table) == len(DRAWN) and pd.read_parquet(tmp_path / "out" / "rejected.parquet").empty
    for row, drawn in zip(table.itertuples(), ellipses):
        assert abs(row.src_major - drawn.major) <= 1.0 and abs(row.src_minor - drawn.minor) <= 1.0
    ellipses_masks, _, _ = make_pseudolabels(np.load(tmp_path / "out" / "patches" / "images.npy"), table)
    assert ellipses_masks[-1][:, -1].any()


def test_deeplesion_lesions_longer_than_the_patch_are_kept(tmp_path):
    """Every DL_info row becomes a sample, however small the patch; the marks reach beyond it."""
    write_synthetic("deeplesion", tmp_path / "raw", n_cases=6, image_size=160, seed=3)
    rows = pd.read_csv(tmp_path / "raw" / "DL_info.csv")
    items = list(read_deeplesion(tmp_path / "raw", patch_size=8))
    assert len(items) == len(rows) and all(isinstance(s, Sample) for s in items)
    beyond = [s for s in items if (s.recist < -0.5).any() or (s.recist > 7.5).any()]
    assert beyond
    for s in beyond:
        recorded = np.array(rows.loc[items.index(s), "Measurement_coordinates"].split(", "), float).reshape(4, 2)
        assert np.allclose(s.recist_src, recorded - 1.0)
        mask = ellipse_mask(s.recist, (8, 8))
        assert mask.any() and (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def test_lits_ellipse_iou_filter_rejects_with_kind_and_split(tmp_path):
    write_synthetic("lits", tmp_path / "raw", n_cases=4, image_size=160, seed=6)
    plain = [i for i in read_lits(tmp_path / "raw", patch_size=48) if isinstance(i, Sample)]
    strict = list(read_lits(tmp_path / "raw", patch_size=48, min_ellipse_iou=0.9))
    poor = [i for i in strict if isinstance(i, Rejection) and i.kind == POOR_FIT]
    kept = [i for i in strict if isinstance(i, Sample)]
    assert poor and kept and len(poor) + len(kept) == len(plain)
    assert all(r.group_id and "IoU" in r.reason for r in poor)
    ingest("lits", tmp_path / "raw", tmp_path / "out", patch_size=48, seed=0, min_ellipse_iou=0.9)
    rejected = pd.read_parquet(tmp_path / "out" / "rejected.parquet")
    assert set(rejected["kind"]) >= {POOR_FIT}
    assert rejected["split"].isin(["train", "val", "test"]).any()


def test_ham_measured_recist_is_taken_at_source_resolution(tmp_path):
    """``recist_method: measured``: the marks a reader would draw, on the source mask, then
    mapped into the patch point by point."""
    drawn = Ellipse(300.2, 220.7, 300.0, 180.0, 35.0)
    write_ham(tmp_path / "raw", [drawn])
    (sample,) = read_ham(tmp_path / "raw", patch_size=HAM_PATCH, recist_method="measured")
    long_axis = np.linalg.norm(sample.recist_src[1] - sample.recist_src[0])
    short_axis = np.linalg.norm(sample.recist_src[3] - sample.recist_src[2])
    assert abs(long_axis - drawn.major) <= 1.0 and abs(short_axis - drawn.minor) <= 1.0
    assert np.allclose(to_source(sample.recist, sample.offset_xy, sample.scale_xy), sample.recist_src)
