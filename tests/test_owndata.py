"""Users' own data end to end: an example recist_table -> the workflow -> `lesionmtl segment`."""

from __future__ import annotations

import cv2
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from lesionmtl.datasets.readers.recist_table import POINT_COLUMNS
from tests.conftest import cli, own_data_config, snakemake, write_config

RUN = "results/own/runs/a1l-ellipse-k2-a50-s0"
PATCH = 32


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The README's worked example, small: example data, the workflow, a trained model."""
    work = tmp_path_factory.mktemp("owndata")
    made = cli("example-data", "raw", "--n-images", "16", "--image-size", "80", "--seed", "3", cwd=work)
    assert made.returncode == 0, made.stderr
    config = own_data_config(work / "raw")
    config["experiment"]["studies"]["main"]["models"] = ["a1l"]
    # A few epochs: enough for the tiny model to predict lesions (one epoch predicts nothing).
    config["training"].update(epochs=5, patience=5, batch_size=8)
    config["evaluation"] = {"export_masks": True}
    write_config(work, config)
    # The artefacts this feature adds (the whole report is tests/test_workflow.py's job).
    result = snakemake(
        work, "results/tables/data.md", "results/tables/diameters.md", "results/figures/bland_altman.png"
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return work


def independent_diameters(mask: np.ndarray) -> tuple[float, float]:
    """Long axis: the largest distance between two mask pixel centres, +1 px (edge to edge).
    Short axis: the widest 1-px band across that axis, +1 px; plain loops over the pixels."""
    ys, xs = np.nonzero(mask)
    points = np.stack([xs, ys], axis=1).astype(float)
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    i, j = np.unravel_index(np.argmax(distances), distances.shape)
    u = (points[j] - points[i]) / max(distances[i, j], 1e-9)
    v = np.array([-u[1], u[0]])
    bands: dict[int, list[float]] = {}
    for p in points:
        bands.setdefault(round(float((p - points[i]) @ u)), []).append(float((p - points[i]) @ v))
    return distances[i, j] + 1, max(max(s) - min(s) for s in bands.values()) + 1


def test_workflow_scores_the_masked_lesions_and_reports_diameters(trained):
    lesions = pd.read_parquet(trained / "results/own/lesions.parquet")
    metrics = pd.read_parquet(trained / RUN / "metrics.parquet")
    assert set(metrics["lesion_id"]) == set(lesions.loc[lesions["has_gt"], "lesion_id"])
    measured = metrics.dropna(subset=["long_px_pred"])
    assert (
        len(measured)
        and (measured["abs_err_long_px"] == (measured["long_px_pred"] - measured["long_px_ref"]).abs()).all()
    )
    assert (trained / "results/tables/diameters.md").read_text().count("| own | A1+L |") == 1
    assert (trained / "results/figures/bland_altman.png").stat().st_size > 0
    test = lesions[lesions["split"] == "test"]
    for lesion in test.itertuples():
        mask = cv2.imread(str(trained / RUN / "masks" / f"{lesion.lesion_id}.png"), cv2.IMREAD_GRAYSCALE)
        assert mask.shape == (lesion.source_h, lesion.source_w)
        assert (trained / RUN / "masks" / f"{lesion.lesion_id}_overlay.png").is_file()


def test_segment_writes_masks_where_the_marks_are_and_their_measurements(trained):
    model = trained / RUN / "model.pt"
    # as a user runs it: the command in a process of its own (the other tests call its main() here)
    result = cli(
        "segment", "--checkpoint", str(model), "--table", "raw/lesions.csv", "--out", "seg", cwd=trained, process=True
    )
    assert result.returncode == 0, result.stderr
    rows = pd.read_csv(trained / "raw/lesions.csv", dtype=str, keep_default_na=False)
    table = pd.read_csv(trained / "seg/measurements.csv")
    assert len(table) == len(rows) and table["row"].tolist() == list(range(2, len(rows) + 2))
    for column in ("area_px", "area_mm2", "long_px", "short_px", "long_mm", "short_mm", "given_long_px", "mask_file"):
        assert column in table
    non_empty = 0
    for (_, row), (_, out) in zip(rows.iterrows(), table.iterrows()):
        points = row[list(POINT_COLUMNS)].astype(float).to_numpy().reshape(4, 2)
        mask = cv2.imread(str(trained / "seg" / out["mask_file"]), cv2.IMREAD_GRAYSCALE) > 0
        if row["image"].endswith(".nii.gz"):
            source = nib.load(trained / "raw" / row["image"])
            written = nib.load(trained / "seg" / out["nifti_mask_file"])
            assert written.shape == source.shape and np.allclose(written.affine, source.affine)
            volume = np.asarray(written.dataobj) > 0
            assert np.array_equal(volume[:, :, int(row["slice"])].T, mask)  # dataobj[x, y, slice]
            assert not np.delete(volume, int(row["slice"]), axis=2).any()
            shape = source.shape[1::-1]
        else:
            shape = cv2.imread(str(trained / "raw" / row["image"]), cv2.IMREAD_UNCHANGED).shape[:2]
        assert mask.shape == shape
        assert out["given_long_px"] == pytest.approx(np.linalg.norm(points[1] - points[0]), abs=1e-3)
        if not mask.any():
            assert np.isnan(out["long_px"])
            continue
        non_empty += 1
        # Where the marks are: inside the patch centred on the RECIST box, near its centre.
        ys, xs = np.nonzero(mask)
        centre = (points.min(axis=0) + points.max(axis=0)) / 2
        assert np.abs(xs - centre[0]).max() <= PATCH / 2 + 1 and np.abs(ys - centre[1]).max() <= PATCH / 2 + 1
        long_px, short_px = independent_diameters(mask)
        assert abs(out["long_px"] - long_px) <= 1 and abs(out["short_px"] - short_px) <= 1
        assert out["area_px"] == mask.sum()
    assert non_empty >= len(rows) // 2


def test_segment_one_nifti_image_and_bad_rows(trained):
    model = str(trained / RUN / "model.pt")
    rows = pd.read_csv(trained / "raw/lesions.csv", dtype=str, keep_default_na=False)
    nifti = rows[rows["image"].str.endswith(".nii.gz")].iloc[0]
    marks = nifti[list(POINT_COLUMNS)].tolist()
    one = cli("segment", "--checkpoint", model, "--image", f"raw/{nifti['image']}", "--recist", *marks,
              "--slice", nifti["slice"], "--out", "one", cwd=trained)  # fmt: skip
    assert one.returncode == 0, one.stderr
    assert len(pd.read_csv(trained / "one/measurements.csv")) == 1

    bad = rows.copy()
    bad.loc[2, "image"] = "images/missing.png"
    bad.loc[4, "x11"] = "9999"
    bad.to_csv(trained / "raw/bad.csv", index=False)
    failed = cli("segment", "--checkpoint", model, "--table", "raw/bad.csv", "--out", "badout", cwd=trained)
    assert failed.returncode != 0
    assert "bad.csv" in failed.stderr and "row 4: file not found" in failed.stderr and "row 6:" in failed.stderr
    assert not (trained / "badout").exists()  # checked before anything is written


def test_info(trained):
    info = cli("info", str(trained / RUN / "model.pt"), cwd=trained)
    assert info.returncode == 0, info.stderr
    for fact in (
        "arch: a1l",
        "encoder: resnet18",
        "n_clusters: 2",
        "patch_size: [32, 32]",
        "dataset_format: recist_table",
    ):
        assert fact in info.stdout
    assert "n_test_lesions:" in info.stdout and "mean_dice:" in info.stdout
