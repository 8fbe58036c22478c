"""The catalogue of bad inputs (docs/bad_input.md): each entry damages a tiny synthetic dataset,
written in its official format, in one way, and says what ingest must do about it.

Used by tests/test_bad_input.py (every entry through ``ingest``) and
tests/test_bad_input_workflow.py (one entry per dataset through a real ``snakemake`` run).
"""

from __future__ import annotations

import gzip
import json
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML

from lesionmtl.datasets.base import DEGENERATE, DUPLICATE
from lesionmtl.datasets.synthetic import write_synthetic

PATCH = 48
# Each format written once per session (small: the catalogue runs ingest once per entry).
SYNTH = {
    "deeplesion": ("deeplesion", dict(n_cases=8, image_size=96, seed=5)),
    "lits": ("lits", dict(n_cases=2, image_size=64, seed=6)),
    "msd": ("lits", dict(n_cases=2, image_size=64, seed=6, layout="msd")),
    "ham": ("ham", dict(n_cases=6, image_size=(60, 80), seed=7)),
    # recist_table rows on DICOM: a series folder (row 2-4: images/case000) and one file (row 5: case001.dcm)
    "dicom": ("recist_table", dict(n_cases=2, image_size=48, seed=8, kinds=["dicom_series", "dicom"], mask_fraction=0)),
}
# One entry per dataset also runs through Snakemake (all in one invocation, --keep-going).
THROUGH_SNAKEMAKE = [
    "dl-png-truncated",
    "lits-mirrored-header",
    "msd-broken-json",
    "ham-jpeg-truncated",
    "dicom-mixed-series",
]


@dataclass(frozen=True)
class Case:
    """One defect.  Exactly one outcome: ``stop`` (ingest raises a DataError whose message holds
    every needle), ``reject`` ((kind, item substring) in rejected.parquet, the rest as the
    pristine data), or ``same`` (ingest succeeds with the pristine table, ``note`` in its notes)."""

    id: str
    dataset: str  # key of SYNTH, or "archive"
    damage: Callable[[Path], None]
    stop: tuple[str, ...] = ()
    reject: tuple[str, str] | None = None
    note: str | None = None


# ----------------------------------------------------------------------------- helpers


def dl_rows(raw: Path) -> pd.DataFrame:
    return pd.read_csv(raw / "DL_info.csv", dtype=str, keep_default_na=False)


def edit_dl(raw: Path, edit: Callable[[pd.DataFrame], pd.DataFrame | None]) -> None:
    rows = dl_rows(raw)
    edited = edit(rows)
    (rows if edited is None else edited).to_csv(raw / "DL_info.csv", index=False)


def dl_set(row: int, column: str, value: str) -> Callable[[Path], None]:
    """DL_info.csv data row ``row`` (0-based; file line row + 2) gets ``value`` in ``column``."""

    def damage(raw: Path) -> None:
        rows = dl_rows(raw)
        rows.loc[row, column] = value
        rows.to_csv(raw / "DL_info.csv", index=False)

    return damage


def key_slice(raw: Path, row: int) -> Path:
    series, key = dl_rows(raw)["File_name"].iloc[row].rsplit("_", 1)
    return raw / "Images_png" / series / key


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def lits_files(raw: Path) -> tuple[Path, Path]:
    """Case 1's volume and segmentation, in either layout."""
    if (raw / "dataset.json").exists():
        return raw / "imagesTr" / "liver_1.nii.gz", raw / "labelsTr" / "liver_1.nii.gz"
    return raw / "volume-1.nii", raw / "segmentation-1.nii"


def rewrite_label(raw: Path, change: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]) -> None:
    """Replace case 1's segmentation by ``change(data, affine)`` (nibabel reads lazily: load fully first)."""
    path = lits_files(raw)[1]
    label = nib.load(path)
    data, affine = change(np.asanyarray(label.dataobj).copy(), label.affine.copy())
    nib.save(nib.Nifti1Image(data, affine), path)


def mirrored(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same labels flipped along the first axis, with a header that says so: reoriented on
    its own it lands exactly on the volume's grid, mirrored."""
    flip = np.diag([-1.0, 1, 1, 1])
    flip[0, 3] = data.shape[0] - 1
    return data[::-1].copy(), affine @ flip


def with_tumour_value(value: float, dtype) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    def change(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = data.astype(dtype)
        out[data == 2] = value
        return out, affine

    return change


def ham_ids(raw: Path) -> list[str]:
    return sorted(p.stem for p in raw.glob("ISIC_*.jpg") if not p.stem.endswith("_segmentation"))


def ham_meta(raw: Path) -> Path:
    return next(raw.glob("HAM10000_metadata*"))


def edit_ham(raw: Path, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    meta = ham_meta(raw)
    edit(pd.read_csv(meta, dtype=str, keep_default_na=False)).to_csv(meta, index=False)


def ham_mask(raw: Path, n: int) -> Path:
    return raw / f"{ham_ids(raw)[n]}_segmentation.png"


def rewrite_mask(raw: Path, n: int, change: Callable[[np.ndarray], np.ndarray]) -> None:
    path = ham_mask(raw, n)
    cv2.imwrite(str(path), change(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)))


def grey_jpeg(raw: Path) -> None:
    path = raw / f"{ham_ids(raw)[2]}.jpg"
    cv2.imwrite(str(path), cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))


def png_as_jpeg(raw: Path) -> None:
    path = raw / f"{ham_ids(raw)[2]}.jpg"
    path.write_bytes(cv2.imencode(".png", cv2.imread(str(path)))[1].tobytes())


def noisy_mask(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[mask > 0] = 200  # e.g. a mask saved as JPEG, or a second label
    return out


def colour_mask(raw: Path) -> None:
    path = ham_mask(raw, 1)
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    colour = np.stack([mask, mask, np.zeros_like(mask)], axis=-1)
    cv2.imwrite(str(path), colour)


def dl_pngs(raw: Path, row: int, image: np.ndarray) -> None:
    cv2.imwrite(str(key_slice(raw, row)), image)


def dl_mask(raw: Path, change: Callable[[np.ndarray], np.ndarray]) -> None:
    path = sorted((raw / "true_masks").glob("*.png"))[0]
    cv2.imwrite(str(path), change(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)))


def two_lesion_slice(raw: Path) -> int:
    """Index of the first row whose key slice has a second lesion after it."""
    names = dl_rows(raw)["File_name"]
    return next(i for i in range(len(names) - 1) if names[i] == names[i + 1])


def duplicate_row(raw: Path) -> None:
    i = two_lesion_slice(raw)
    edit_dl(raw, lambda rows: pd.concat([rows.iloc[: i + 1], rows.iloc[[i]], rows.iloc[i + 1 :]], ignore_index=True))


def swap_axes(raw: Path) -> None:
    def edit(rows: pd.DataFrame) -> None:
        values = rows.loc[0, "Measurement_coordinates"].split(", ")
        rows.loc[0, "Measurement_coordinates"] = ", ".join(values[4:] + values[:4])

    edit_dl(raw, edit)


def zero_axis(raw: Path) -> None:
    def edit(rows: pd.DataFrame) -> None:
        values = rows.loc[3, "Measurement_coordinates"].split(", ")
        rows.loc[3, "Measurement_coordinates"] = ", ".join(values[:6] + values[4:6])

    edit_dl(raw, edit)


def key_outside_range(raw: Path) -> None:
    def edit(rows: pd.DataFrame) -> None:
        key = int(rows.loc[2, "Key_slice_index"])
        rows.loc[2, "Slice_range"] = f"{key + 1}, {key + 5}"

    edit_dl(raw, edit)


def drop_neighbour_slice(raw: Path) -> None:
    key = key_slice(raw, 1)
    neighbours = sorted(p for p in key.parent.glob("*.png") if p != key)
    neighbours[0].unlink()


def msd_json(text: str) -> Callable[[Path], None]:
    return lambda raw: (raw / "dataset.json").write_text(text)


def msd_missing_listed_file(raw: Path) -> None:
    listing = json.loads((raw / "dataset.json").read_text())
    listing["training"][1]["label"] = "./labelsTr/liver_7.nii.gz"
    (raw / "dataset.json").write_text(json.dumps(listing))


def not_gzip(raw: Path) -> None:
    path = lits_files(raw)[0]
    path.write_bytes(gzip.decompress(path.read_bytes()))  # a .nii.gz that is a plain .nii


def four_d(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return data[..., None], affine


def transposed(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same labels stored with the first two axes swapped (the header says so)."""
    swap = np.eye(4)[[1, 0, 2, 3]]
    return data.transpose(1, 0, 2).copy(), affine @ swap


# ----------------------------------------------------------------------------- archives


def table_rows(raw: Path) -> pd.DataFrame:
    return pd.read_csv(raw / "lesions.csv", dtype=str, keep_default_na=False)


def table_set(row: int, **values: str) -> Callable[[Path], None]:
    """lesions.csv data row ``row`` (0-based; reported as row + 2) gets ``values``."""

    def damage(raw: Path) -> None:
        rows = table_rows(raw)
        for column, value in values.items():
            rows.loc[row, column] = value
        rows.to_csv(raw / "lesions.csv", index=False)

    return damage


def dicom_file(raw: Path) -> Path:
    return raw / table_rows(raw)["image"].iloc[3]


def series_files(raw: Path) -> list[Path]:
    return sorted((raw / table_rows(raw)["image"].iloc[0]).iterdir())


def pydicom_file(name: str) -> Callable[[Path], None]:
    """The single DICOM file replaced by one of pydicom's own test files (real, not written by us)."""

    def damage(raw: Path) -> None:
        shutil.copyfile(get_testdata_file(name), dicom_file(raw))

    return damage


def rewrite_dicom(change: Callable[[pydicom.Dataset], None]) -> Callable[[Path], None]:
    def damage(raw: Path) -> None:
        ds = pydicom.dcmread(dicom_file(raw))
        change(ds)
        ds.save_as(dicom_file(raw))

    return damage


def drop_pixel_data(ds: pydicom.Dataset) -> None:
    del ds.PixelData


def mpeg2_syntax(ds: pydicom.Dataset) -> None:
    """Labelled MPEG-2 video, which no DICOM pixel decoder covers."""
    ds.PixelData = encapsulate([ds.PixelData])
    ds.file_meta.TransferSyntaxUID = MPEG2MPML


def foreign_slice(raw: Path) -> None:
    """A slice of another series (the single file's) dropped into the series folder."""
    shutil.copyfile(dicom_file(raw), series_files(raw)[0].parent / "IM9999")


def duplicate_slice(raw: Path) -> None:
    """A slice saved twice under two SOP instance UIDs: two slices at one position."""
    ds = pydicom.dcmread(series_files(raw)[1])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.InstanceNumber = 999
    ds.save_as(series_files(raw)[0].parent / "IM9999")


def tilted_slice(raw: Path) -> None:
    ds = pydicom.dcmread(series_files(raw)[1])
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 0.8, 0.6]
    ds.save_as(series_files(raw)[1])


def archive_of(raw: Path, name: str) -> Path:
    """A zip or tar.gz (by ``name``) of the pristine HAM folder, written next to it."""
    path = raw.parent / name
    files = sorted(p for p in raw.iterdir() if p.is_file())
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
            for p in files:
                z.write(p, p.name)
    else:
        with tarfile.open(path, "w:gz") as t:
            for p in files:
                t.add(p, p.name)
    return path


def corrupt_zip_member(raw: Path) -> None:
    path = archive_of(raw, "release.zip")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.infolist()[1]
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 10
    data[start : start + 8] = bytes(8)  # stored data changed: its CRC no longer matches
    path.write_bytes(bytes(data))


def zip_slip(raw: Path) -> None:
    with zipfile.ZipFile(raw.parent / "release.zip", "w") as z:
        z.writestr("HAM10000_metadata.csv", "lesion_id,image_id\n")
        z.writestr("../../outside.txt", "escaped")


def tar_symlink(raw: Path) -> None:
    with tarfile.open(raw.parent / "release.tar.gz", "w:gz") as t:
        link = tarfile.TarInfo("images/ISIC_0024306.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)


def not_an_archive(raw: Path) -> None:
    (raw.parent / "release.zip").write_bytes(b"<html>Sign in to download</html>")


def truncated_archive(name: str) -> Callable[[Path], None]:
    return lambda raw: truncate(archive_of(raw, name), 0.6)


def archive_in(raw: Path) -> Path:
    return next(p for p in raw.parent.iterdir() if p.name.startswith("release."))


# ----------------------------------------------------------------------------- the catalogue

CASES = [
    # DeepLesion: DL_info.csv
    Case("dl-csv-missing", "deeplesion", lambda raw: (raw / "DL_info.csv").unlink(), stop=("DL_info.csv", "not found")),
    Case(
        "dl-csv-not-text",
        "deeplesion",
        lambda raw: (raw / "DL_info.csv").write_bytes(b"\xff\xfe\x00\x81binary"),
        stop=("DL_info.csv", "unreadable table"),
    ),
    Case(
        "dl-missing-column",
        "deeplesion",
        lambda raw: edit_dl(raw, lambda rows: rows.drop(columns="DICOM_windows")),
        stop=("DL_info.csv, row 1", "DICOM_windows"),
    ),
    Case(
        "dl-coordinates-count",
        "deeplesion",
        dl_set(2, "Measurement_coordinates", "1, 2, 3, 4, 5, 6, 7"),
        stop=("DL_info.csv, row 4", "Measurement_coordinates", "8 numbers"),
    ),
    Case(
        "dl-coordinates-nan",
        "deeplesion",
        dl_set(2, "Measurement_coordinates", "40, 40, nan, 50, 42, 44, 48, 46"),
        stop=("DL_info.csv, row 4", "Measurement_coordinates"),
    ),
    Case(
        "dl-coordinates-text",
        "deeplesion",
        dl_set(2, "Measurement_coordinates", "40, 40, 50, 50, 42, 44, 48, x"),
        stop=("DL_info.csv, row 4", "Measurement_coordinates"),
    ),
    Case("dl-patient-not-a-number", "deeplesion", dl_set(1, "Patient_index", "P1"), stop=("row 3", "Patient_index")),
    Case("dl-key-not-a-number", "deeplesion", dl_set(1, "Key_slice_index", "1x"), stop=("row 3", "Key_slice_index")),
    Case("dl-split-out-of-range", "deeplesion", dl_set(4, "Train_Val_Test", "4"), stop=("row 6", "Train_Val_Test")),
    Case("dl-key-outside-slice-range", "deeplesion", key_outside_range, stop=("row 4", "Slice_range")),
    Case(
        "dl-zero-slice-interval", "deeplesion", dl_set(0, "Spacing_mm_px_", "0.7, 0.7, 0"), stop=("row 2", "interval")
    ),
    Case("dl-window-inverted", "deeplesion", dl_set(0, "DICOM_windows", "275, -175"), stop=("row 2", "DICOM_windows")),
    Case(
        "dl-filename-mismatch",
        "deeplesion",
        dl_set(3, "Key_slice_index", "9999"),
        stop=("row 5", "File_name", "Key_slice_index"),
    ),
    Case(
        "dl-point-outside-image",
        "deeplesion",
        dl_set(2, "Measurement_coordinates", "5000, 10, 5010, 12, 5004, 8, 5005, 14"),
        stop=("row 4", "outside"),
    ),
    Case("dl-zero-length-axis", "deeplesion", zero_axis, reject=(DEGENERATE, "_")),
    Case("dl-negative-diameter", "deeplesion", dl_set(1, "Lesion_diameters_Pixel_", "-3, 2"), reject=(DEGENERATE, "_")),
    Case("dl-short-axis-longer", "deeplesion", swap_axes, note="axes swapped"),
    Case("dl-duplicate-row", "deeplesion", duplicate_row, reject=(DUPLICATE, "row")),
    # DeepLesion: Images_png and true_masks
    Case(
        "dl-png-truncated",
        "deeplesion",
        lambda raw: truncate(key_slice(raw, 4)),
        stop=("row 6", "is not a 16-bit grey PNG (truncated?)"),
    ),
    Case(
        "dl-png-empty",
        "deeplesion",
        lambda raw: key_slice(raw, 4).write_bytes(b""),
        stop=("row 6", "16-bit grey PNG"),
    ),
    Case(
        "dl-png-8-bit",
        "deeplesion",
        lambda raw: dl_pngs(raw, 0, np.full((96, 96), 100, np.uint8)),
        stop=("row 2", "uint8"),
    ),
    Case(
        "dl-png-colour",
        "deeplesion",
        lambda raw: dl_pngs(raw, 0, np.full((96, 96, 3), 30000, np.uint16)),
        stop=("row 2", "3 channel"),
    ),
    Case("dl-png-missing-neighbour", "deeplesion", drop_neighbour_slice, stop=("row 3", "missing slice")),
    Case("dl-mask-values", "deeplesion", lambda raw: dl_mask(raw, noisy_mask), stop=("row 2", "true_masks/", "0/255")),
    Case(
        "dl-mask-size",
        "deeplesion",
        lambda raw: dl_mask(raw, lambda m: m[:-4]),
        stop=("row 2", "true_masks/", "its slice"),
    ),
    # LiTS (CodaLab layout)
    Case(
        "lits-mirrored-header", "lits", lambda raw: rewrite_label(raw, mirrored), stop=("segmentation-1.nii", "affine")
    ),
    Case(
        "lits-axes-swapped",
        "lits",
        lambda raw: rewrite_label(raw, transposed),
        stop=("segmentation-1.nii", "volume-1.nii"),
    ),
    Case(
        "lits-shape-differs",
        "lits",
        lambda raw: rewrite_label(raw, lambda d, a: (d[:-1].copy(), a)),
        stop=("segmentation-1.nii", "shape"),
    ),
    Case(
        "lits-float-labels",
        "lits",
        lambda raw: rewrite_label(raw, with_tumour_value(1.6, np.float32)),
        stop=("segmentation-1.nii", "non-whole"),
    ),
    Case("lits-affine-round-off", "lits", lambda raw: rewrite_label(raw, lambda d, a: (d, a + 2e-4))),
    Case("lits-float-whole-labels", "lits", lambda raw: rewrite_label(raw, with_tumour_value(2.0, np.float32))),
    Case(
        "lits-unknown-label",
        "lits",
        lambda raw: rewrite_label(raw, with_tumour_value(3, np.uint8)),
        stop=("segmentation-1.nii", "0 background, 1 liver, 2 tumour"),
    ),
    Case(
        "lits-four-d",
        "lits",
        lambda raw: rewrite_label(raw, four_d),
        stop=("segmentation-1.nii", "3-D"),
    ),
    Case(
        "lits-missing-partner",
        "lits",
        lambda raw: lits_files(raw)[1].unlink(),
        stop=("volume-1.nii", "no matching label"),
    ),
    Case(
        "lits-truncated-nifti",
        "lits",
        lambda raw: truncate(lits_files(raw)[0]),
        stop=("volume-1.nii", "unreadable NIfTI"),
    ),
    Case(
        "lits-empty-file",
        "lits",
        lambda raw: lits_files(raw)[1].write_bytes(b""),
        stop=("segmentation-1.nii", "unreadable NIfTI"),
    ),
    Case(
        "lits-not-nifti",
        "lits",
        lambda raw: lits_files(raw)[0].write_text("<html>Please sign in</html>"),
        stop=("volume-1.nii", "unreadable NIfTI"),
    ),
    # LiTS (MSD Task03 layout)
    Case("msd-broken-json", "msd", msd_json("{not json"), stop=("dataset.json", "training")),
    Case("msd-json-no-training", "msd", msd_json('{"name": "Liver"}'), stop=("dataset.json", "training")),
    Case("msd-json-missing-file", "msd", msd_missing_listed_file, stop=("dataset.json", "liver_7.nii.gz", "not found")),
    Case(
        "msd-truncated-gzip",
        "msd",
        lambda raw: truncate(lits_files(raw)[1], 0.7),
        stop=("labelsTr/liver_1.nii.gz", "unreadable NIfTI"),
    ),
    Case("msd-gz-not-gzip", "msd", not_gzip, stop=("imagesTr/liver_1.nii.gz", "unreadable NIfTI")),
    Case("msd-mirrored-header", "msd", lambda raw: rewrite_label(raw, mirrored), stop=("liver_1.nii.gz", "affine")),
    # HAM10000
    Case("ham-no-metadata", "ham", lambda raw: ham_meta(raw).unlink(), stop=("no HAM10000_metadata",)),
    Case(
        "ham-no-lesion-id-column",
        "ham",
        lambda raw: edit_ham(raw, lambda t: t.drop(columns="lesion_id")),
        stop=("HAM10000_metadata.csv, row 1", "lesion_id"),
    ),
    Case(
        "ham-empty-lesion-id",
        "ham",
        lambda raw: edit_ham(raw, lambda t: t.assign(lesion_id=[""] + list(t["lesion_id"][1:]))),
        stop=("HAM10000_metadata.csv, row 2", "empty"),
    ),
    Case(
        "ham-duplicate-image-id",
        "ham",
        lambda raw: edit_ham(raw, lambda t: pd.concat([t, t.iloc[[3]]], ignore_index=True)),
        stop=("row 8", "already listed on row 5"),
    ),
    Case(
        "ham-no-segmentation",
        "ham",
        lambda raw: ham_mask(raw, 2).unlink(),
        stop=("row 4", "no segmentation file"),
    ),
    Case(
        "ham-no-image",
        "ham",
        lambda raw: (raw / f"{ham_ids(raw)[2]}.jpg").unlink(),
        stop=("row 4", "no image file"),
    ),
    Case(
        "ham-jpeg-truncated",
        "ham",
        lambda raw: truncate(raw / f"{ham_ids(raw)[2]}.jpg", 0.7),
        stop=("row 4", ".jpg is truncated"),
    ),
    Case("ham-jpeg-grey", "ham", grey_jpeg, stop=("row 4", "not a colour (RGB) JPEG")),
    Case("ham-png-named-jpg", "ham", png_as_jpeg, stop=("row 4", "not a JPEG file (PNG)")),
    Case(
        "ham-mask-truncated",
        "ham",
        lambda raw: truncate(ham_mask(raw, 1)),
        stop=("row 3", "_segmentation.png is missing or unreadable"),
    ),
    Case(
        "ham-mask-values",
        "ham",
        lambda raw: rewrite_mask(raw, 1, noisy_mask),
        stop=("row 3", "_segmentation.png has values", "0/255"),
    ),
    Case("ham-mask-colour", "ham", colour_mask, stop=("row 3", "colour channels differ")),
    Case(
        "ham-mask-size",
        "ham",
        lambda raw: rewrite_mask(raw, 1, lambda m: m[:, :-2]),
        stop=("row 3", "differ in size"),
    ),
    Case("ham-mask-zero-one", "ham", lambda raw: rewrite_mask(raw, 1, lambda m: (m > 0).astype(np.uint8))),
    # recist_table rows on DICOM (a series folder, rows 2-4, and one file, row 5)
    Case("dicom-truncated", "dicom", lambda raw: truncate(dicom_file(raw)), stop=("row 5", "case001.dcm", "truncated")),
    Case(
        "dicom-pixels-truncated",
        "dicom",
        pydicom_file("MR_truncated.dcm"),
        stop=("row 5", "case001.dcm", "truncated pixel data"),
    ),
    Case(
        "dicom-no-pixel-data", "dicom", rewrite_dicom(drop_pixel_data), stop=("row 5", "case001.dcm", "no pixel data")
    ),
    Case(
        "dicom-unsupported-syntax",
        "dicom",
        rewrite_dicom(mpeg2_syntax),
        stop=("row 5", "case001.dcm", "transfer syntax MPEG2", "not supported"),
    ),
    Case(
        "dicom-rt-dose",
        "dicom",
        pydicom_file("rtdose.dcm"),
        stop=("row 5", "case001.dcm", "RT Dose Storage", "not an image"),
    ),
    Case(
        "dicom-rt-plan",
        "dicom",
        pydicom_file("rtplan.dcm"),
        stop=("row 5", "case001.dcm", "RT Plan Storage", "not an image"),
    ),
    Case("dicom-sr", "dicom", pydicom_file("test-SR.dcm"), stop=("row 5", "case001.dcm", "SR Storage", "not an image")),
    Case(
        "dicom-multiframe-without-frame",
        "dicom",
        pydicom_file("SC_rgb_rle_2frame.dcm"),
        stop=("row 5", "case001.dcm", "multi-frame image of 2 frames", "column frame"),
    ),
    Case(
        "dicom-frame-outside",
        "dicom",
        lambda raw: (pydicom_file("SC_rgb_rle_2frame.dcm")(raw), table_set(3, frame="2")(raw)),
        stop=("row 5", "frame 2 outside", "2 frames"),
    ),
    Case(
        "dicom-instance-missing",
        "dicom",
        table_set(1, instance="999"),
        stop=("row 3", "images/case000", "no slice with instance 999"),
    ),
    Case("dicom-series-without-instance", "dicom", table_set(0, instance=""), stop=("row 2", "column instance")),
    Case("dicom-mixed-series", "dicom", foreign_slice, stop=("images/case000", "mixes 2 series")),
    Case("dicom-duplicate-position", "dicom", duplicate_slice, stop=("images/case000", "same position")),
    Case("dicom-mixed-orientation", "dicom", tilted_slice, stop=("images/case000", "mixes slice orientations")),
    Case(
        "dicom-spacing-contradicts",
        "dicom",
        table_set(3, spacing_x="0.5", spacing_y="0.5"),
        stop=("row 5", "spacing_x, spacing_y", "contradict", "header"),
    ),
    Case(
        "dicom-window-outside-values",
        "dicom",
        table_set(3, window_low="3000", window_high="4000"),
        stop=("row 5", "window 3000..4000 lies outside"),
    ),
    Case("dicom-hu-offset", "dicom", table_set(3, hu_offset="32768"), stop=("row 5", "hu_offset is for 16-bit PNG")),
    # Release archives (unpacked by lesionmtl.fetching.archives.extract)
    Case("archive-not-an-archive", "archive", not_an_archive, stop=("release.zip", "neither a zip nor a tar")),
    Case("archive-zip-truncated", "archive", truncated_archive("release.zip"), stop=("release.zip",)),
    Case(
        "archive-tar-gz-truncated",
        "archive",
        truncated_archive("release.tar.gz"),
        stop=("release.tar.gz", "corrupt or truncated archive"),
    ),
    Case("archive-zip-crc", "archive", corrupt_zip_member, stop=("release.zip", "corrupt or truncated archive")),
    Case("archive-zip-slip", "archive", zip_slip, stop=("release.zip", "unsafe entry")),
    Case("archive-tar-link", "archive", tar_symlink, stop=("release.tar.gz", "link or special file")),
]


def pristine(root: Path) -> dict[str, Path]:
    """Each dataset of SYNTH written under ``root`` (once)."""
    out = {}
    for name, (fmt, kw) in SYNTH.items():
        out[name] = root / name
        if not (out[name] / "generator.json").exists():
            write_synthetic(fmt, out[name], **kw)
    return out


def damaged_copy(case: Case, sources: dict[str, Path], where: Path) -> Path:
    """A copy of the case's pristine dataset (HAM for archives) with the defect applied."""
    raw = where / "raw"
    shutil.copytree(sources["ham" if case.dataset == "archive" else case.dataset], raw)
    case.damage(raw)
    return raw
