"""Synthetic writers -> official on-disk formats -> readers -> ingest (lesionmtl.datasets, lesionmtl.patches)."""

from __future__ import annotations

import csv
import filecmp
import json
import shutil
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from lesionmtl.datasets import DataError, Sample
from lesionmtl.datasets.ingest import ingest
from lesionmtl.datasets.readers.deeplesion import read_deeplesion
from lesionmtl.datasets.readers.lits import read_lits, slices_from_volume, volume_from_slices
from lesionmtl.datasets.synthetic import write_synthetic
from lesionmtl.datasets.synthetic.deeplesion import HEADER
from lesionmtl.metrics import dice
from lesionmtl.patches import (
    crop,
    extract_patch,
    padded_square,
    resize_image,
    resize_mask,
    to_patch,
    to_source,
    window_to_uint8,
)
from lesionmtl.recist import draw_ellipse, recist_to_ellipse

PATCH = 48
RECIST = ["r_x11", "r_y11", "r_x12", "r_y12", "r_x21", "r_y21", "r_x22", "r_y22"]
# Small but big enough for a stable median Dice; the deeplesion overrides make rare cases certain.
SETTINGS = {
    "deeplesion": dict(n_cases=40, image_size=160, seed=5, four_digit_fraction=0.4, empty_age_fraction=0.3),
    "lits": dict(n_cases=8, image_size=160, seed=6),
    "ham": dict(n_cases=60, image_size=(72, 96), seed=7),
}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, tuple[Path, pd.DataFrame, Path]]:
    """Each format written once and ingested: {fmt: (raw_dir, lesions, out_dir)}."""
    out = {}
    for fmt, kw in SETTINGS.items():
        root = tmp_path_factory.mktemp(fmt)
        write_synthetic(fmt, root / "raw", **kw)
        out[fmt] = (root / "raw", ingest(fmt, root / "raw", root / "out", patch_size=PATCH, seed=0), root / "out")
    return out


def copy_raw(datasets, fmt: str, tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(datasets[fmt][0], raw)
    return raw


# ----------------------------------------------------------------------------- patches


def test_extract_patch_pads_outside_and_reports_offset():
    image = np.arange(20, dtype=np.int32).reshape(4, 5)
    patch, (x0, y0) = extract_patch(image, (0.0, 0.0), (3, 3), fill=-1)
    assert (x0, y0) == (-1, -1)
    assert patch.tolist() == [[-1, -1, -1], [-1, 0, 1], [-1, 5, 6]]
    rgb, _ = extract_patch(np.ones((4, 5, 3), np.uint8), (10.0, 10.0), (2, 2))
    assert rgb.shape == (2, 2, 3) and not rgb.any()


def test_resize_maps_points_about_pixel_centres():
    image = np.zeros((20, 30), np.float32)
    image[7, 11] = 1.0
    scale = (64 / 30, 48 / 20)
    big = resize_image(image, (48, 64))
    ys, xs = np.nonzero(big)
    centroid = np.array([np.average(xs, weights=big[ys, xs]), np.average(ys, weights=big[ys, xs])])
    assert np.allclose(centroid, to_patch(np.array([11.0, 7.0]), (0, 0), scale), atol=0.05)
    points = np.random.default_rng(0).uniform(-5, 40, (4, 2))
    assert np.allclose(to_source(to_patch(points, (3, -2), scale), (3, -2), scale), points)
    assert resize_mask(np.ones((5, 5), bool), (9, 9)).all()


def test_padded_square_and_window():
    x0, y0, side = padded_square((10, 20, 14, 29), pad=3)
    assert side == 16 and x0 <= 10 - 3 and x0 + side - 1 >= 14 + 3 and y0 == 20 - 3
    assert window_to_uint8(np.array([-200.0, -100, 50, 200, 900]), -100, 200).tolist() == [0, 0, 128, 255, 255]


# ----------------------------------------------------------------------------- official formats


def test_deeplesion_files_are_official(datasets):
    raw, _, _ = datasets["deeplesion"]
    lines = (raw / "DL_info.csv").read_text().splitlines()
    assert lines[0] == ",".join(HEADER)
    assert '"' in lines[1] and lines[1].count('"') == 2 * 8  # the eight multi-value fields are quoted
    rows = list(csv.DictReader((raw / "DL_info.csv").read_text().splitlines()))
    assert {r["Train_Val_Test"] for r in rows} == {"1", "2", "3"}
    assert any(r["Patient_age"] == "" for r in rows)
    assert any(len(r["File_name"].split("_")[-1]) == len("1234.png") for r in rows)
    assert any(len([s for s in rows if s["File_name"] == r["File_name"]]) > 1 for r in rows)
    for r in rows:
        pts = np.array(r["Measurement_coordinates"].split(", "), float).reshape(4, 2)
        box = np.array(r["Bounding_boxes"].split(", "), float)
        assert np.allclose(box, [*(pts.min(0) - 5), *(pts.max(0) + 5)], atol=1e-3)
        by_patient = {s["Train_Val_Test"] for s in rows if s["Patient_index"] == r["Patient_index"]}
        assert len(by_patient) == 1
    png = cv2.imread(str(next((raw / "Images_png").rglob("*.png"))), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.ndim == 2 and png.min() >= 32768 - 1100
    assert json.loads((raw / "generator.json").read_text())["seed"] == SETTINGS["deeplesion"]["seed"]


def test_lits_files_are_official_with_varying_orientation(datasets):
    raw, _, _ = datasets["lits"]
    codes = set()
    for n in range(SETTINGS["lits"]["n_cases"]):
        image, label = nib.load(raw / f"volume-{n}.nii"), nib.load(raw / f"segmentation-{n}.nii")
        assert image.shape == label.shape
        assert set(np.unique(np.asanyarray(label.dataobj))) <= {0, 1, 2}
        codes.add(nib.aff2axcodes(image.affine))
    assert len(codes) >= 3


def test_ham_files_are_official(datasets):
    raw, _, _ = datasets["ham"]
    meta = pd.read_csv(raw / "HAM10000_metadata.csv")
    assert list(meta.columns) == ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization", "dataset"]
    assert meta["lesion_id"].value_counts().max() >= 2
    image_id = meta["image_id"].iloc[0]
    assert (raw / f"{image_id}.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    seg = cv2.imread(str(raw / f"{image_id}_segmentation.png"), cv2.IMREAD_UNCHANGED)
    assert seg.shape == (72, 96) and set(np.unique(seg)) == {0, 255}


def test_unknown_generator_parameter_is_refused(tmp_path):
    with pytest.raises(TypeError, match="bogus"):
        write_synthetic("ham", tmp_path, n_cases=1, seed=0, image_size=64, bogus=1)


# ----------------------------------------------------------------------------- ingest


@pytest.mark.parametrize("fmt", list(SETTINGS))
def test_ingest_outputs(datasets, fmt):
    raw, table, out = datasets[fmt]
    images = np.load(out / "patches" / "images.npy")
    gt = np.load(out / "patches" / "gt_masks.npy")
    summary = json.loads((out / "ingest.json").read_text())
    rejected = pd.read_parquet(out / "rejected.parquet")
    assert images.shape == (len(table), PATCH, PATCH, 3) and images.dtype == np.uint8
    assert gt.shape == (len(table), PATCH, PATCH) and gt.dtype == bool and gt.reshape(len(gt), -1).any(1).all()
    assert pd.read_parquet(out / "lesions.parquet").equals(table)
    assert table["lesion_id"].is_unique and (table["patch_index"] == np.arange(len(table))).all()
    assert summary["n_lesions"] == len(table) and summary["n_rejected"] == len(rejected)
    assert set(table["split"]) == {"train", "val", "test"}
    assert (table.groupby("group_id")["split"].nunique() == 1).all()
    recist = table[RECIST].to_numpy().reshape(-1, 4, 2)
    centres = table[["cx", "cy"]].to_numpy()
    assert (centres >= -0.5).all() and (centres <= PATCH - 0.5).all()  # marks may reach beyond the patch
    offsets, scales = table[["offset_x", "offset_y"]].to_numpy(), table[["scale_x", "scale_y"]].to_numpy()
    source_centres = np.stack([to_source(c, o, s) for c, o, s in zip(centres, offsets, scales)])
    assert np.allclose(source_centres, table[["src_cx", "src_cy"]].to_numpy(), atol=1e-6)
    isotropic = np.isclose(scales[:, 0], scales[:, 1])
    source = table[[f"src_{c}" for c in RECIST]].to_numpy().reshape(-1, 4, 2)
    for points, src, o, s in zip(recist[isotropic], source[isotropic], offsets[isotropic], scales[isotropic]):
        assert np.allclose(to_source(points, o, s), src, atol=1e-6)
    if fmt == "deeplesion":
        rows = pd.read_csv(raw / "DL_info.csv")
        assert len(table) + len(rejected) == len(rows)
        official = dict(
            zip(
                rows["File_name"].str.removesuffix(".png"),
                rows["Train_Val_Test"].map({1: "train", 2: "val", 3: "test"}),
            )
        )
        assert (table["lesion_id"].str.rsplit("_", n=1).str[0].map(official) == table["split"]).all()
        assert (table["recist_source"] == "annotation").all()
    else:
        assert (table["recist_source"] == "ellipse_fit").all()
    if fmt == "ham":
        assert len(table) + len(rejected) == SETTINGS["ham"]["n_cases"]


@pytest.mark.parametrize("fmt", list(SETTINGS))
def test_ellipse_pseudo_mask_is_calibrated(datasets, fmt):
    """Ellipse vs truth like real lesions (median Dice ~0.75-0.90), not trivially perfect."""
    _, table, out = datasets[fmt]
    gt = np.load(out / "patches" / "gt_masks.npy")
    scores = [
        dice(draw_ellipse(recist_to_ellipse(r), gt.shape[1:]), g)
        for r, g in zip(table[RECIST].to_numpy().reshape(-1, 4, 2), gt)
    ]
    median = float(np.median(scores))
    print(f"{fmt}: median ellipse-vs-truth Dice {median:.3f} over {len(scores)} lesions")
    assert 0.70 <= median <= 0.92


@pytest.mark.parametrize("fmt", list(SETTINGS))
def test_same_seed_same_data(tmp_path, fmt):
    kw = {**SETTINGS[fmt], "n_cases": 3}
    for name in ("a", "b"):
        write_synthetic(fmt, tmp_path / name / "raw", **kw)
        ingest(fmt, tmp_path / name / "raw", tmp_path / name / "out", patch_size=PATCH, seed=1)
    files = sorted(p.relative_to(tmp_path / "a" / "raw") for p in (tmp_path / "a" / "raw").rglob("*") if p.is_file())
    assert files and filecmp.cmpfiles(
        tmp_path / "a" / "raw", tmp_path / "b" / "raw", [str(f) for f in files], shallow=False
    )[0] == [str(f) for f in files]
    for name in ("images.npy", "gt_masks.npy"):
        assert np.array_equal(
            np.load(tmp_path / "a" / "out" / "patches" / name), np.load(tmp_path / "b" / "out" / "patches" / name)
        )
    assert pd.read_parquet(tmp_path / "a" / "out" / "lesions.parquet").equals(
        pd.read_parquet(tmp_path / "b" / "out" / "lesions.parquet")
    )


# ----------------------------------------------------------------------------- readers


def test_deeplesion_channels_are_slices_at_minus2_0_plus2_mm(datasets):
    raw, _, _ = datasets["deeplesion"]
    rows = pd.read_csv(raw / "DL_info.csv", dtype=str)
    row = next(r for r in rows.itertuples() if float(r.Spacing_mm_px_.split(", ")[2]) == 1.0)
    sample = next(s for s in read_deeplesion(raw, patch_size=PATCH) if s.lesion_id.startswith(row.File_name[:-4]))
    lo, hi = (float(v) for v in row.DICOM_windows.split(", "))
    series = raw / "Images_png" / row.File_name.rsplit("_", 1)[0]
    key = int(row.Key_slice_index)
    x0, y0 = (int(v) for v in sample.offset_xy)
    for channel, index in enumerate((key - 2, key, key + 2)):  # 1 mm slices: no interpolation needed
        hu = cv2.imread(str(series / f"{index:03d}.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) - 32768
        expected = window_to_uint8(crop(hu, x0, y0, (PATCH, PATCH), fill=lo), lo, hi)
        assert np.array_equal(sample.image[..., channel], expected)
    points = np.array(row.Measurement_coordinates.split(", "), float).reshape(4, 2) - 1
    assert np.allclose(sample.recist, points - np.array(sample.offset_xy))


def test_lits_reader_undoes_any_storage_orientation(datasets, tmp_path):
    raw, _, _ = datasets["lits"]
    ornt = np.array([[1, -1], [2, 1], [0, -1]])
    for name in ("volume-1.nii", "segmentation-1.nii"):
        img = nib.as_closest_canonical(nib.load(raw / name))
        data = nib.orientations.apply_orientation(np.asanyarray(img.dataobj), ornt)
        nib.save(nib.Nifti1Image(data, img.affine @ nib.orientations.inv_ornt_aff(ornt, img.shape)), tmp_path / name)
    a = [s for s in read_lits(tmp_path, patch_size=PATCH) if isinstance(s, Sample)]
    b = [s for s in read_lits(raw, patch_size=PATCH) if isinstance(s, Sample) and s.group_id == "volume-1"]
    assert a and [s.lesion_id for s in a] == [s.lesion_id for s in b]
    for x, y in zip(a, b):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.gt, y.gt) and np.allclose(x.recist, y.recist)
    stack = np.arange(24).reshape(2, 3, 4)
    assert np.array_equal(slices_from_volume(volume_from_slices(stack)), stack)


def test_alternative_layouts_read_the_same(datasets, tmp_path):
    """MSD Task03_Liver layout (with ._ stubs) and the tab-separated HAM metadata (with __MACOSX debris)."""
    write_synthetic("lits", tmp_path / "msd", layout="msd", **SETTINGS["lits"])
    assert (tmp_path / "msd" / "imagesTr" / "._liver_0.nii.gz").exists()
    msd = ingest("lits", tmp_path / "msd", tmp_path / "msd_out", patch_size=PATCH, seed=0)
    lits = datasets["lits"][1]
    assert np.array_equal(msd[RECIST].to_numpy(), lits[RECIST].to_numpy())
    assert (msd["lesion_id"].str.replace("liver_", "volume-") == lits["lesion_id"]).all()

    write_synthetic("ham", tmp_path / "tab", metadata="tab", **SETTINGS["ham"])
    (tmp_path / "tab" / "__MACOSX").mkdir()
    (tmp_path / "tab" / "__MACOSX" / "ISIC_0024306_segmentation.png").write_bytes(b"junk")
    (tmp_path / "tab" / "._ISIC_0024306.jpg").write_bytes(b"junk")
    tab = ingest("ham", tmp_path / "tab", tmp_path / "tab_out", patch_size=PATCH, seed=0)
    assert tab.drop(columns="source").equals(datasets["ham"][1].drop(columns="source"))


# ----------------------------------------------------------------------------- bad input


def _assert_fails(fmt: str, raw: Path, out: Path, *needles: str) -> None:
    with pytest.raises(DataError) as info:
        ingest(fmt, raw, out, patch_size=PATCH, seed=0)
    for needle in needles:
        assert needle in str(info.value)
    assert not (out / "lesions.parquet").exists()


def test_corrupt_png_names_file_and_row(datasets, tmp_path):
    raw = copy_raw(datasets, "deeplesion", tmp_path)
    rows = pd.read_csv(raw / "DL_info.csv", dtype=str)
    name = rows["File_name"].iloc[4]
    series, key = name.rsplit("_", 1)
    (raw / "Images_png" / series / key).write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    first = rows.index[rows["File_name"] == name][0] + 2
    _assert_fails("deeplesion", raw, tmp_path / "out", "DL_info.csv", f"row {first}", f"{series}/{key}")


def test_recist_outside_image_names_file_and_row(datasets, tmp_path):
    raw = copy_raw(datasets, "deeplesion", tmp_path)
    rows = pd.read_csv(raw / "DL_info.csv", dtype=str, keep_default_na=False)
    rows.loc[6, "Measurement_coordinates"] = "5000, 10, 5010, 12, 5004, 8, 5005, 14"
    rows.to_csv(raw / "DL_info.csv", index=False)
    _assert_fails("deeplesion", raw, tmp_path / "out", "DL_info.csv", "row 8", "outside")


def test_missing_column_names_file_and_row(datasets, tmp_path):
    raw = copy_raw(datasets, "deeplesion", tmp_path)
    rows = pd.read_csv(raw / "DL_info.csv", dtype=str, keep_default_na=False)
    rows.drop(columns="DICOM_windows").to_csv(raw / "DL_info.csv", index=False)
    _assert_fails("deeplesion", raw, tmp_path / "out", "DL_info.csv", "row 1", "DICOM_windows")


def test_ham_missing_segmentation_and_lits_mismatch(datasets, tmp_path):
    raw = copy_raw(datasets, "ham", tmp_path)
    (raw / "ISIC_0024310_segmentation.png").unlink()
    _assert_fails("ham", raw, tmp_path / "out", "HAM10000_metadata.csv", "row 6", "ISIC_0024310")

    lits = tmp_path / "lits"
    shutil.copytree(datasets["lits"][0], lits)
    label = nib.load(lits / "segmentation-2.nii", mmap=False)  # we overwrite the file it maps
    nib.save(nib.Nifti1Image(np.asanyarray(label.dataobj)[:-1], label.affine), lits / "segmentation-2.nii")
    _assert_fails("lits", lits, tmp_path / "lits_out", "segmentation-2.nii", "volume-2.nii")


def test_deeplesion_without_true_masks_has_an_empty_ground_truth_stack(datasets, tmp_path):
    raw = copy_raw(datasets, "deeplesion", tmp_path)
    shutil.rmtree(raw / "true_masks")
    table = ingest("deeplesion", raw, tmp_path / "out", patch_size=PATCH, seed=0)
    assert np.load(tmp_path / "out" / "patches" / "gt_masks.npy").shape == (0, PATCH, PATCH)
    assert json.loads((tmp_path / "out" / "ingest.json").read_text())["has_ground_truth"] is False
    assert len(table) == len(datasets["deeplesion"][1])


def test_deeplesion_zero_padded_four_digit_slice_names_read_the_same(datasets, tmp_path):
    """Slices stored as ``0103.png`` instead of ``103.png`` are found, with the same patches."""
    raw = copy_raw(datasets, "deeplesion", tmp_path)
    renamed = 0
    for png in (raw / "Images_png").rglob("*.png"):
        if len(png.stem) == 3:
            png.rename(png.with_name(f"{int(png.stem):04d}.png"))
            renamed += 1
    assert renamed > 0
    table = ingest("deeplesion", raw, tmp_path / "out", patch_size=PATCH, seed=0)
    reference, reference_out = datasets["deeplesion"][1], datasets["deeplesion"][2]
    assert table[RECIST].equals(reference[RECIST])
    assert np.array_equal(np.load(tmp_path / "out/patches/images.npy"), np.load(reference_out / "patches/images.npy"))
