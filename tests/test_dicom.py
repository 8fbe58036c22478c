"""DICOM rows of a recist_table, read through their headers: pydicom's own test files (real files we
did not write) for the single-file paths, a series written from a synthetic LiTS volume for 2.5-D."""

from __future__ import annotations

import shutil
from pathlib import Path

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file

from lesionmtl.datasets import DataError
from lesionmtl.datasets.ingest import ingest
from lesionmtl.datasets.readers.dicom import channel_weights
from lesionmtl.datasets.readers.recist_table import DEFAULT_WINDOW, POINT_COLUMNS
from lesionmtl.datasets.synthetic import write_synthetic
from lesionmtl.dicom_out import write_seg, write_sr
from lesionmtl.measurements import measure_mask
from lesionmtl.patches import crop, window_to_uint8
from lesionmtl.recist import Ellipse, draw_ellipse, measure_recist

PATCH = 32
MR_VARIANTS = [
    "MR_small_RLE.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
]


def marks_at_centre(hw: tuple[int, int]) -> dict[str, str]:
    cx, cy = hw[1] / 2, hw[0] / 2
    points = [cx - 6, cy, cx + 6, cy, cx, cy - 3, cx, cy + 3]
    return dict(zip(POINT_COLUMNS, (f"{v:g}" for v in points)))


def one_row_table(root: Path, name: str, source: Path | str, **columns: str) -> Path:
    """``root/raw`` with ``source`` copied as ``images/<name>`` (no suffix: found by its preamble), one row on it."""
    raw = root / "raw"
    (raw / "images").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, raw / "images" / name)
    hw = pydicom.dcmread(source, stop_before_pixels=True)
    row = {"image": f"images/{name}", **marks_at_centre((hw.Rows, hw.Columns)), **columns}
    pd.DataFrame([row]).to_csv(raw / "lesions.csv", index=False)
    return raw


def ingested(raw: Path) -> tuple[pd.Series, np.ndarray]:
    table = ingest("recist_table", raw, raw.parent / "out", patch_size=PATCH, seed=0)
    return table.iloc[0], np.load(raw.parent / "out/patches/images.npy")[0]


def source_crop(image: np.ndarray, lesion: pd.Series, fill: float) -> np.ndarray:
    return crop(image, int(lesion["offset_x"]), int(lesion["offset_y"]), (PATCH, PATCH), fill=fill)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "693_J2KI.dcm"])
def test_grey_file_in_modality_values_with_the_header_window_and_spacing(name, tmp_path):
    path = get_testdata_file(name)
    ds = pydicom.dcmread(path)
    values = ds.pixel_array.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    lesion, patch = ingested(one_row_table(tmp_path, "x", path))
    if "WindowCenter" in ds:
        c, w = (
            float(v[0] if isinstance(v, pydicom.multival.MultiValue) else v) for v in (ds.WindowCenter, ds.WindowWidth)
        )
        window = (c - w / 2, c + w / 2)
    else:
        window = DEFAULT_WINDOW
    assert (lesion["window_low"], lesion["window_high"]) == pytest.approx(window)
    expected = window_to_uint8(source_crop(values.astype(np.float32), lesion, window[0]), *window)
    assert np.array_equal(patch[..., 0], expected) and np.array_equal(patch[..., 2], expected)
    assert lesion["spacing_x"] == pytest.approx(float(ds.PixelSpacing[1]))
    assert lesion["spacing_y"] == pytest.approx(float(ds.PixelSpacing[0]))
    assert lesion["dicom_sop_instance_uid"] == ds.SOPInstanceUID
    assert lesion["dicom_frame_of_reference_uid"] == ds.get("FrameOfReferenceUID", "")
    assert lesion["image_layout"] == f"{ds.Modality} slice"
    assert not any("patient" in column.lower() for column in lesion.index)


@pytest.mark.parametrize("name", MR_VARIANTS)
def test_compressed_and_big_endian_variants_read_as_the_plain_file(name, tmp_path):
    _, plain = ingested(one_row_table(tmp_path / "plain", "mr", get_testdata_file("MR_small.dcm")))
    _, variant = ingested(one_row_table(tmp_path / "variant", "mr", get_testdata_file(name)))
    assert np.array_equal(plain, variant)


def rewritten(tmp_path: Path, name: str, change) -> Path:
    ds = pydicom.dcmread(get_testdata_file(name))
    change(ds)
    ds.save_as(tmp_path / "changed.dcm")
    return tmp_path / "changed.dcm"


def test_pixel_spacing_is_row_spacing_first(tmp_path):
    def anisotropic(ds):
        ds.PixelSpacing = [0.5, 0.8]  # 0.5 mm between rows (y), 0.8 mm between columns (x)

    source = rewritten(tmp_path, "CT_small.dcm", anisotropic)
    lesion, _ = ingested(one_row_table(tmp_path / "a", "ct", source))
    assert (lesion["spacing_x"], lesion["spacing_y"]) == (0.8, 0.5) and lesion["notes"] == ""
    agreeing, _ = ingested(one_row_table(tmp_path / "b", "ct", source, spacing_x="0.8", spacing_y="0.5"))
    assert agreeing["spacing_x"] == 0.8
    with pytest.raises(DataError, match=r"lesions.csv, row 2: spacing_x, spacing_y \(0.5, 0.8\) contradict"):
        ingested(one_row_table(tmp_path / "c", "ct", source, spacing_x="0.5", spacing_y="0.8"))


def test_imager_pixel_spacing_is_used_and_noted(tmp_path):
    def detector_spacing(ds):
        del ds.PixelSpacing
        ds.ImagerPixelSpacing = [0.3, 0.4]

    lesion, _ = ingested(one_row_table(tmp_path, "ct", rewritten(tmp_path, "CT_small.dcm", detector_spacing)))
    assert (lesion["spacing_x"], lesion["spacing_y"]) == (0.4, 0.3) and "ImagerPixelSpacing" in lesion["notes"]


def test_row_window_wins_and_monochrome1_is_inverted(tmp_path):
    plain, patch = ingested(
        one_row_table(tmp_path / "a", "ct", get_testdata_file("CT_small.dcm"), window_low="-100", window_high="300")
    )
    assert (plain["window_low"], plain["window_high"]) == (-100, 300)

    def monochrome1(ds):
        ds.PhotometricInterpretation = "MONOCHROME1"

    inverted = rewritten(tmp_path, "CT_small.dcm", monochrome1)
    _, negative = ingested(one_row_table(tmp_path / "b", "ct", inverted, window_low="-100", window_high="300"))
    assert np.array_equal(negative, 255 - patch)


@pytest.mark.parametrize(
    "name, frame",
    [
        ("SC_rgb_rle.dcm", None),
        ("SC_ybr_full_422_uncompressed.dcm", None),
        ("SC_rgb_jpeg_gdcm.dcm", None),  # JPEG lossless, process 14 (pylibjpeg-libjpeg)
        ("SC_rgb_dcmtk_+eb+cy+n1.dcm", None),  # JPEG baseline in YBR_FULL
        ("SC_rgb_rle_2frame.dcm", 1),
    ],
)
def test_colour_is_read_as_rgb_and_a_frame_of_a_multiframe(name, frame, tmp_path):
    path = get_testdata_file(name)
    columns = {} if frame is None else {"frame": str(frame)}
    lesion, patch = ingested(one_row_table(tmp_path, "sc", path, **columns))
    rgb = pydicom.dcmread(path).pixel_array  # pydicom converts YBR to RGB
    rgb = rgb if frame is None else rgb[frame]
    assert np.array_equal(patch, source_crop(rgb, lesion, 0))
    assert lesion["image_layout"] == "colour" and lesion["dicom_frame"] == (-1 if frame is None else frame)
    if frame is not None:
        other, _ = ingested(one_row_table(tmp_path / "f0", "sc", path, frame="0"))
        assert not np.array_equal(np.load(tmp_path / "f0/out/patches/images.npy")[0], patch)


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("series") / "raw"
    write_synthetic("recist_table", raw, n_cases=1, seed=11, image_size=48, kinds=["dicom_series"], mask_fraction=1)
    return raw


def read_series(folder: Path) -> tuple[np.ndarray, np.ndarray, list[pydicom.Dataset]]:
    """HU volume (z, y, x), slice positions along z and the datasets, sorted by position (the writer
    tilts nothing: the normal is z)."""
    slices = sorted((pydicom.dcmread(p) for p in folder.iterdir()), key=lambda ds: float(ds.ImagePositionPatient[2]))
    hu = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in slices])
    return hu, np.array([float(ds.ImagePositionPatient[2]) for ds in slices]), slices


def test_series_gives_channels_at_minus_2_0_plus_2_mm(series, tmp_path):
    table = ingest("recist_table", series, tmp_path / "out", patch_size=PATCH, seed=0)
    images = np.load(tmp_path / "out/patches/images.npy")
    rows = pd.read_csv(series / "lesions.csv", dtype=str, keep_default_na=False)
    assert len(rows) >= 2 and rows["image"].nunique() == 1
    hu, z, slices = read_series(series / rows["image"].iloc[0])
    assert np.diff(z) == pytest.approx(2.5)  # the volume's real slice interval
    for (_, row), (_, lesion), patch in zip(rows.iterrows(), table.iterrows(), images):
        key = next(i for i, ds in enumerate(slices) if row["instance"] in (ds.SOPInstanceUID, str(ds.InstanceNumber)))
        assert lesion["dicom_sop_instance_uid"] == slices[key].SOPInstanceUID and lesion["image_layout"] == "CT 2.5-D"
        window = (lesion["window_low"], lesion["window_high"])
        for channel, offset in enumerate((-2.0, 0.0, 2.0)):
            at = np.clip(z[key] + offset, z[0], z[-1])
            # Per pixel, linear in z between the stored slices (np.interp), independently of the reader.
            plane = np.apply_along_axis(lambda column, at=at: np.interp(at, z, column), 0, hu).astype(np.float32)
            expected = window_to_uint8(source_crop(plane, lesion, window[0]), *window)
            assert np.abs(patch[..., channel].astype(int) - expected).max() <= 1
        assert not np.array_equal(patch[..., 0], patch[..., 2])  # not three copies of the marked slice


def test_series_gap_is_noted_and_no_patient_identifier_is_kept(series, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(series, raw)
    rows = pd.read_csv(raw / "lesions.csv", dtype=str, keep_default_na=False)
    _, _, slices = read_series(raw / rows["image"].iloc[0])
    marked = set(rows["instance"])
    spare = next(ds for ds in slices[1:-1] if ds.SOPInstanceUID not in marked and str(ds.InstanceNumber) not in marked)
    Path(spare.filename).unlink()
    table = ingest("recist_table", raw, tmp_path / "out", patch_size=PATCH, seed=0)
    assert table["notes"].str.contains("gap of 5.00 mm").all()
    text = (tmp_path / "out/lesions.parquet").read_bytes()
    for identifier in (slices[0].PatientName, slices[0].PatientID, slices[0].PatientBirthDate):
        assert str(identifier).encode() not in text


@pytest.mark.parametrize("name, frame", [("CT_small.dcm", None), ("MR_small.dcm", None), ("SC_rgb_rle_2frame.dcm", 1)])
def test_seg_and_sr_read_back_with_highdicom(name, frame, tmp_path):
    """The writers segment uses, on a known mask: SEG pixels and references, SR diameters and end points."""
    source = pydicom.dcmread(get_testdata_file(name))
    mask = draw_ellipse(Ellipse(source.Columns / 2, source.Rows / 3, 30, 12, 20.0), (source.Rows, source.Columns))
    write_seg(tmp_path / "seg.dcm", mask, source, frame, "lesion_0")
    seg = hd.seg.segread(tmp_path / "seg.dcm")
    if frame is None:
        pixels = seg.get_pixels_by_source_instance([source.SOPInstanceUID], segment_numbers=[1])
    else:
        pixels = seg.get_pixels_by_source_frame(source.SOPInstanceUID, [frame + 1], segment_numbers=[1])
    assert np.array_equal(pixels[0, ..., 0] > 0, mask)
    assert seg.PatientID == source.PatientID and seg.StudyInstanceUID == source.StudyInstanceUID
    assert seg.get("FrameOfReferenceUID") == source.get("FrameOfReferenceUID")

    spacing = (float(source.PixelSpacing[1]), float(source.PixelSpacing[0]))
    points = measure_recist(mask)
    sizes = measure_mask(mask, spacing_xy=spacing)
    write_sr(tmp_path / "sr.dcm", source, frame, points, (sizes["long_mm"], sizes["short_mm"]), "lesion_0")
    sr = hd.sr.srread(tmp_path / "sr.dcm")
    assert sr.PatientID == source.PatientID
    for group, axis, ends in zip(
        sr.content.get_planar_roi_measurement_groups(), ("long", "short"), (points[:2], points[2:])
    ):
        (measurement,) = group.get_measurements()
        assert measurement.name.meaning == f"{axis.capitalize()} axis" and measurement.unit.value == "mm"
        assert measurement.value == pytest.approx(sizes[f"{axis}_mm"], rel=1e-6)
        assert np.allclose(
            np.asarray(group.roi.value, float), ends + 0.5, atol=1e-3
        )  # SCOORD: pixel corners at integers
        reference = group.roi.ContentSequence[0].ReferencedSOPSequence[0]
        assert reference.ReferencedSOPInstanceUID == source.SOPInstanceUID
        assert reference.get("ReferencedFrameNumber") == (None if frame is None else frame + 1)


def test_enhanced_multiframe_rescale_window_and_spacing_come_from_its_functional_groups(tmp_path):
    """An enhanced CT keeps rescale, window and spacing in functional groups, which pydicom's
    modality LUT does not read; frame 1 here has its own rescale, frame 0 the shared one."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    stored = ds.pixel_array
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.EnhancedCTImageStorage
    ds.NumberOfFrames = 2
    ds.PixelData = np.stack([stored, stored]).tobytes()
    for keyword in ("RescaleSlope", "RescaleIntercept", "PixelSpacing"):
        delattr(ds, keyword)

    def group(**sequences) -> pydicom.Dataset:
        item = pydicom.Dataset()
        for name, values in sequences.items():
            inner = pydicom.Dataset()
            for keyword, value in values.items():
                setattr(inner, keyword, value)
            setattr(item, name, [inner])
        return item

    ds.SharedFunctionalGroupsSequence = [
        group(
            PixelValueTransformationSequence={"RescaleSlope": 1, "RescaleIntercept": -1024},
            PixelMeasuresSequence={"PixelSpacing": [0.6, 0.7], "SliceThickness": 1},
            FrameVOILUTSequence={"WindowCenter": 40, "WindowWidth": 400},
        )
    ]
    ds.PerFrameFunctionalGroupsSequence = [
        pydicom.Dataset(),
        group(PixelValueTransformationSequence={"RescaleSlope": 2, "RescaleIntercept": -2048}),
    ]
    ds.save_as(tmp_path / "enhanced.dcm")
    for frame, (slope, intercept) in ((0, (1, -1024)), (1, (2, -2048))):
        lesion, patch = ingested(
            one_row_table(tmp_path / str(frame), "ct", tmp_path / "enhanced.dcm", frame=str(frame))
        )
        assert (lesion["spacing_x"], lesion["spacing_y"]) == (0.7, 0.6)
        assert (lesion["window_low"], lesion["window_high"]) == (-160, 240)
        hu = stored.astype(np.float32) * slope + intercept
        assert np.array_equal(patch[..., 0], window_to_uint8(source_crop(hu, lesion, -160), -160, 240))


def test_series_folder_with_a_dicomdir_and_a_parquet_table_of_instance_numbers(series, tmp_path):
    """A DICOMDIR beside the slices is no slice; InstanceNumbers that Parquet stored as floats still match."""
    raw = tmp_path / "raw"
    shutil.copytree(series, raw)
    rows = pd.read_csv(raw / "lesions.csv", dtype=str, keep_default_na=False)
    shutil.copyfile(get_testdata_file("DICOMDIR"), raw / rows["image"].iloc[0] / "DICOMDIR")
    expected = ingest("recist_table", series, tmp_path / "expected", patch_size=PATCH, seed=0)
    numbers = rows[~rows["instance"].str.contains(r"\.")]
    assert len(numbers)
    table = numbers.replace("", None).astype({"instance": float})  # 5 -> 5.0, as pandas stores a column with gaps
    (raw / "lesions.csv").unlink()
    table.to_parquet(raw / "lesions.parquet")
    again = ingest("recist_table", raw, tmp_path / "out", patch_size=PATCH, seed=0)
    assert again["dicom_sop_instance_uid"].tolist() == expected.loc[numbers.index, "dicom_sop_instance_uid"].tolist()


def test_channel_weights_interpolate_between_slices_and_clamp_at_the_ends():
    z = np.array([0.0, 2.5, 5.0, 6.0])  # uneven steps, as in a series with a thinner last slice
    assert channel_weights(z, 0) == [[(0, 1.0)], [(0, 1.0)], [(0, pytest.approx(0.2)), (1, pytest.approx(0.8))]]
    assert channel_weights(z, 2) == [
        [(1, pytest.approx(0.8)), (2, pytest.approx(0.2))],  # 3 mm: 0.5 of 2.5 mm above slice 1
        [(2, 1.0)],
        [(3, 1.0)],  # 7 mm lies past the last slice (6 mm): clamped to it
    ]
    assert channel_weights(np.array([0.0, 2.0, 4.0]), 1) == [[(0, 1.0)], [(1, 1.0)], [(2, 1.0)]]  # on stored slices
