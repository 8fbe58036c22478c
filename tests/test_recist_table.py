"""The recist_table format: a user's own table of images and RECIST marks -> patches (ingest)."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import cv2
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from lesionmtl.datasets import DataError
from lesionmtl.datasets.ingest import ingest
from lesionmtl.datasets.readers.recist_table import POINT_COLUMNS
from lesionmtl.datasets.synthetic import write_synthetic
from lesionmtl.exports import to_source_frame
from lesionmtl.measurements import measure_mask
from lesionmtl.patches import crop, paste, window_to_uint8
from lesionmtl.recist import Ellipse, draw_ellipse

PATCH = 32
RECIST = ["r_x11", "r_y11", "r_x12", "r_y12", "r_x21", "r_y21", "r_x22", "r_y22"]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("recist_table")
    write_synthetic("recist_table", root / "raw", n_cases=9, seed=4, image_size=80)
    table = ingest("recist_table", root / "raw", root / "out", patch_size=PATCH, seed=0)
    return root, pd.read_csv(root / "raw" / "lesions.csv", dtype=str, keep_default_na=False), table


def test_png_and_nifti_rows_become_patches_centred_on_their_marks(example):
    root, rows, table = example
    assert len(table) == len(rows)
    kinds = {name.split(".", 1)[1] for name in rows["image"]}
    assert kinds == {"png", "nii.gz"}
    images = np.load(root / "out/patches/images.npy")
    gt = np.load(root / "out/patches/gt_masks.npy")
    with_mask = (rows["mask"] != "").to_numpy()
    assert 0 < with_mask.sum() < len(rows)  # some rows with reference masks, some without
    assert table["has_gt"].tolist() == with_mask.tolist()
    assert not gt[~with_mask].any() and all(m.any() for m in gt[with_mask])
    summary = json.loads((root / "out/ingest.json").read_text())
    assert summary["n_with_ground_truth"] == with_mask.sum() and summary["has_ground_truth"] is False
    for i, row in rows.iterrows():
        lesion = table.iloc[i]
        points = row[list(POINT_COLUMNS)].astype(float).to_numpy().reshape(4, 2)
        offset = (int(lesion["offset_x"]), int(lesion["offset_y"]))
        assert np.allclose(lesion[RECIST].to_numpy(float).reshape(4, 2), points - offset)
        # The patch shows the source pixels around the marks (row/column order as documented).
        if row["image"].endswith(".nii.gz"):
            volume = nib.load(root / "raw" / row["image"])
            plane = np.asarray(volume.dataobj[:, :, int(row["slice"])]).T.astype(np.float32)
            window = (-175.0, 275.0)
            assert lesion["spacing_x"] == pytest.approx(volume.header.get_zooms()[0])
        else:
            png = cv2.imread(str(root / "raw" / row["image"]), cv2.IMREAD_UNCHANGED)
            plane = png.astype(np.float32) - 32768 if png.dtype == np.uint16 else png
            window = (float(row["window_low"] or -175), float(row["window_high"] or 275))
            assert lesion["spacing_x"] == pytest.approx(float(row["spacing_x"]))
        if plane.dtype == np.float32:  # CT: windowed, the window's low end outside the image
            expected = window_to_uint8(crop(plane, *offset, (PATCH, PATCH), fill=window[0]), *window)
        else:  # 8-bit grey: as it is, black outside
            expected = crop(plane, *offset, (PATCH, PATCH), fill=0)
        assert np.array_equal(images[lesion["patch_index"], :, :, 1], expected)


def write_rows(root, rows: pd.DataFrame):
    rows.to_csv(root / "raw" / "lesions.csv", index=False)


def test_bad_rows_are_reported_with_row_numbers_and_nothing_is_written(example, tmp_path):
    root, rows, _ = example
    shutil.copytree(root / "raw", tmp_path / "raw")
    bad = rows.copy()
    bad.loc[1, "image"] = "images/nowhere.png"  # file row 3
    bad.loc[2, "x12"] = "5000"  # row 4: outside the image
    bad.loc[3, ["x21", "y21", "x22", "y22"]] = ["0", "0", "60", "60"]  # row 5: short axis longer
    bad.loc[4, "split"] = "holdout"  # row 6
    write_rows(tmp_path, bad)
    with pytest.raises(DataError) as failure:
        ingest("recist_table", tmp_path / "raw", tmp_path / "out", patch_size=PATCH, seed=0)
    message = str(failure.value)
    assert "lesions.csv" in message and "4 bad rows" in message
    for line, reason in [(3, "file not found"), (4, "outside"), (5, "short axis"), (6, "split")]:
        assert f"row {line}: " in message and reason in message.split(f"row {line}: ")[1].split(";")[0]
    assert not (tmp_path / "out" / "lesions.parquet").exists()


def test_nifti_slice_is_required_and_checked(example, tmp_path):
    root, rows, _ = example
    shutil.copytree(root / "raw", tmp_path / "raw")
    nifti = rows.index[rows["image"].str.endswith(".nii.gz")][0]
    for value, reason in [("", "column slice is needed"), ("99", "slice 99 outside")]:
        bad = rows.copy()
        bad.loc[nifti, "slice"] = value
        write_rows(tmp_path, bad)
        with pytest.raises(DataError, match=f"lesions.csv, row {nifti + 2}: .*{reason}"):
            ingest("recist_table", tmp_path / "raw", tmp_path / "out", patch_size=PATCH, seed=0)


def test_measurements_and_paste():
    mask = draw_ellipse(Ellipse(30, 20, 24, 10, 30.0), (40, 60))
    sizes = measure_mask(mask, spacing_xy=(0.5, 0.5))
    assert sizes["long_px"] == pytest.approx(24, abs=1) and sizes["short_px"] == pytest.approx(10, abs=1)
    assert sizes["long_mm"] == pytest.approx(sizes["long_px"] / 2)
    assert sizes["area_mm2"] == pytest.approx(mask.sum() / 4)
    halved = measure_mask(mask, scale_xy=(0.5, 0.5))  # a patch at half the source resolution
    assert halved["long_px"] == pytest.approx(2 * sizes["long_px"])
    assert np.isnan(measure_mask(np.zeros((5, 5), bool))["long_px"])
    patch = crop(mask, -7, 12, (32, 32))  # reaches past the image on the left
    back = paste(patch, (-7, 12), mask.shape)
    assert np.array_equal(back[12:44, :25], mask[12:44, :25]) and not back[:12].any()


def test_parquet_table_reads_like_the_csv(example, tmp_path):
    root, rows, table = example
    shutil.copytree(root / "raw", tmp_path / "raw")
    (tmp_path / "raw" / "lesions.csv").unlink()
    rows.replace("", None).to_parquet(tmp_path / "raw" / "lesions.parquet")
    again = ingest("recist_table", tmp_path / "raw", tmp_path / "out", patch_size=PATCH, seed=0)
    assert again[RECIST + ["lesion_id", "split"]].equals(table[RECIST + ["lesion_id", "split"]])
    assert np.array_equal(np.load(tmp_path / "out/patches/images.npy"), np.load(root / "out/patches/images.npy"))


def test_exported_masks_are_pasted_back_at_source_resolution():
    """A patch the reader resized (scale 0.5: LiTS, HAM10000) goes back at twice its size."""
    lesion = SimpleNamespace(scale_x=0.5, scale_y=0.5, offset_x=4, offset_y=6, source_h=40, source_w=50)
    patch = np.zeros((10, 10), bool)
    patch[2:5, 3:8] = True
    source = to_source_frame(patch, lesion)
    assert source.shape == (40, 50)
    ys, xs = np.nonzero(source)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (6 + 4, 6 + 9, 4 + 6, 4 + 15)
