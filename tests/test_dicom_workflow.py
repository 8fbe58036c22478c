"""A recist_table of DICOM rows end to end: the workflow trains, evaluates and reports on it, and
``lesionmtl segment`` writes PNG + DICOM SEG + SR per lesion, each read back with highdicom."""

from __future__ import annotations

import shutil

import cv2
import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file

from lesionmtl.datasets.readers.recist_table import POINT_COLUMNS
from lesionmtl.datasets.synthetic import write_synthetic
from tests.conftest import cli, own_data_config, snakemake, write_config
from tests.test_owndata import RUN

LESION_CATEGORY, LESION_TYPE = "49755003", "52988006"  # SNOMED CT: morphologically abnormal structure, lesion


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("dicomflow")
    write_synthetic(
        "recist_table",
        work / "raw",
        n_cases=8,
        seed=5,
        image_size=64,
        kinds=["dicom_series", "dicom"],
        mask_fraction=0.8,
    )
    settings = own_data_config(work / "raw")  # trained until the tiny model predicts lesions
    settings["experiment"]["studies"]["main"]["models"] = ["a1l"]
    settings["training"].update(epochs=20, patience=20, batch_size=8)
    settings["evaluation"] = {"export_masks": True}
    write_config(work, settings)
    result = snakemake(work, "results/tables/data.md", "results/tables/diameters.md", f"{RUN}/metrics.parquet")
    assert result.returncode == 0, result.stderr[-5000:]
    return work


@pytest.fixture(scope="module")
def segmented(trained):
    """segment on the training table plus a frame of pydicom's 2-frame colour secondary capture."""
    rows = pd.read_csv(trained / "raw/lesions.csv", dtype=str, keep_default_na=False)
    shutil.copyfile(get_testdata_file("SC_rgb_rle_2frame.dcm"), trained / "raw/images/multiframe")
    marks = dict(zip(POINT_COLUMNS, ["40", "50", "60", "50", "50", "45", "50", "55"]))
    multiframe = pd.DataFrame([{"image": "images/multiframe", "frame": "1", **marks}])
    rows = pd.concat([rows, multiframe], ignore_index=True).fillna("")
    rows.to_csv(trained / "raw/segment.csv", index=False)
    model = str(trained / RUN / "model.pt")
    result = cli("segment", "--checkpoint", model, "--table", "raw/segment.csv", "--out", "seg", cwd=trained)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(trained / "seg/measurements.csv")
    files = ["mask_file", "dicom_seg_file", "dicom_sr_file", "qc"]
    table[files] = table[files].fillna("")
    return rows, table, result.stdout


def test_the_workflow_keeps_header_facts_and_no_patient_identifier(trained):
    lesions = pd.read_parquet(trained / "results/own/lesions.parquet")
    assert set(lesions["image_layout"]) == {"CT 2.5-D", "CT slice"}
    assert lesions["dicom_sop_instance_uid"].str.len().min() > 0
    assert lesions["dicom_frame_of_reference_uid"].str.len().min() > 0
    assert (lesions["window_low"] < lesions["window_high"]).all() and lesions["spacing_x"].gt(0).all()
    assert len(pd.read_parquet(trained / RUN / "metrics.parquet"))
    texts = [
        (trained / "results/own/lesions.parquet").read_bytes(),
        *(
            p.read_bytes()
            for p in (trained / "results").rglob("*")
            if p.is_file() and p.suffix in (".md", ".csv", ".json", ".log", ".tex")
        ),
        *(p.read_bytes() for p in (trained / "logs").rglob("*") if p.is_file()),
    ]
    for identifier in (b"Synthetic^Patient", b"SYN-PID-"):
        assert not any(identifier in text for text in texts)


def test_info_shows_what_the_model_was_trained_on(trained):
    info = cli("info", str(trained / RUN / "model.pt"), cwd=trained)
    assert info.returncode == 0, info.stderr
    assert "image_layouts:" in info.stdout and "CT 2.5-D:" in info.stdout and "CT slice:" in info.stdout


def source_of(trained, row: pd.Series) -> pydicom.Dataset:
    """The marked image of a table row: the file, or the series slice its instance names."""
    path = trained / "raw" / row["image"]
    if path.is_file():
        return pydicom.dcmread(path)
    slices = [pydicom.dcmread(p) for p in path.iterdir()]
    return next(ds for ds in slices if row["instance"] in (ds.SOPInstanceUID, str(ds.InstanceNumber)))


def test_seg_is_the_png_mask_on_its_source_image(trained, segmented):
    rows, table, _ = segmented
    assert len(table) == len(rows) and (table["dicom_seg_file"] != "").all()
    for (_, row), (_, out) in zip(rows.iterrows(), table.iterrows()):
        source = source_of(trained, row)
        png = cv2.imread(str(trained / "seg" / out["mask_file"]), cv2.IMREAD_GRAYSCALE) > 0
        seg = hd.seg.segread(trained / "seg" / out["dicom_seg_file"])
        if row.get("frame"):
            pixels = seg.get_pixels_by_source_frame(source.SOPInstanceUID, [int(row["frame"]) + 1], segment_numbers=[1])
        else:
            pixels = seg.get_pixels_by_source_instance([source.SOPInstanceUID], segment_numbers=[1])
        assert pixels.shape == (1, source.Rows, source.Columns, 1)
        assert np.array_equal(pixels[0, ..., 0] > 0, png)
        assert seg.StudyInstanceUID == source.StudyInstanceUID and seg.PatientID == source.PatientID
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
        assert seg.get("FrameOfReferenceUID") == source.get("FrameOfReferenceUID")
        segment = seg.SegmentSequence[0]
        assert segment.SegmentedPropertyCategoryCodeSequence[0].CodeValue == LESION_CATEGORY
        assert segment.SegmentedPropertyTypeCodeSequence[0].CodeValue == LESION_TYPE
        assert seg.SegmentationType == "BINARY"
        if "PixelSpacing" in source and "FrameOfReferenceUID" in source:
            measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
            assert [float(v) for v in measures.PixelSpacing] == pytest.approx([float(v) for v in source.PixelSpacing])


def test_sr_holds_the_measured_diameters_in_mm_on_the_source_image(trained, segmented):
    rows, table, _ = segmented
    measured = table[table["dicom_sr_file"] != ""]
    assert len(measured) >= len(table) // 2
    for index, out in measured.iterrows():
        source = source_of(trained, rows.loc[index])
        sr = hd.sr.srread(trained / "seg" / out["dicom_sr_file"])
        assert sr.StudyInstanceUID == source.StudyInstanceUID and sr.PatientID == source.PatientID
        groups = sr.content.get_planar_roi_measurement_groups()
        assert len(groups) == 2
        for group, axis in zip(groups, ("long", "short")):
            (measurement,) = group.get_measurements()
            assert measurement.unit.value == "mm" and measurement.value == pytest.approx(out[f"{axis}_mm"], rel=1e-5)
            region = group.roi
            reference = region.ContentSequence[0].ReferencedSOPSequence[0]
            assert reference.ReferencedSOPInstanceUID == source.SOPInstanceUID
            ends = np.asarray(region.value, dtype=float)
            spacing = np.array([out["spacing_x"], out["spacing_y"]])
            assert np.linalg.norm((ends[1] - ends[0]) * spacing) == pytest.approx(out[f"{axis}_mm"], rel=1e-4)


def test_qc_flags_the_image_unlike_the_training_data(segmented):
    rows, table, stdout = segmented
    assert "qc" in table and table["qc"].iloc[-1].split(";").count("unlike_training") == 1
    assert not table["qc"].iloc[:-1].str.contains("unlike_training").any()
    assert "unlike_training 1" in stdout.splitlines()[-1]
    empty = table["long_px"].isna()
    assert (
        table.loc[empty, "qc"].str.contains("empty").all() and not table.loc[~empty, "qc"].str.contains("empty").any()
    )
    assert ((table["dicom_sr_file"] == "") == empty).all()  # every measured mask has its SR


def test_segment_one_series_slice_and_a_multiframe_without_frame(trained, segmented):
    rows, table, _ = segmented
    model = str(trained / RUN / "model.pt")
    row = rows[rows["instance"] != ""].iloc[0]
    marks = row[list(POINT_COLUMNS)].tolist()
    one = cli("segment", "--checkpoint", model, "--image", f"raw/{row['image']}", "--instance", row["instance"],
              "--recist", *marks, "--out", "one", cwd=trained)  # fmt: skip
    assert one.returncode == 0, one.stderr
    (written,) = pd.read_csv(trained / "one/measurements.csv").itertuples()
    assert written.dicom_seg_file and written.area_px == table.iloc[row.name]["area_px"]

    failed = cli("segment", "--checkpoint", model, "--image", "raw/images/multiframe", "--recist", *marks,
                 "--out", "none", cwd=trained)  # fmt: skip
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
    assert "images/multiframe" in failed.stderr and "column frame is needed" in failed.stderr
    assert not (trained / "none").exists()
