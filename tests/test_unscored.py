"""`score_against: none`: a dataset without reference masks is trained, never evaluated, and left
out of the scored tables and figures; its models still segment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lesionmtl.datasets.synthetic import write_synthetic
from lesionmtl.report.artefacts import ARTEFACTS
from tests.conftest import cli, own_data_config, planned_jobs, snakemake, write_config

RUN = "a1-ellipse-k0-a50-s0"
SCORED_BUILDERS = {a.builder for a in ARTEFACTS.values() if a.scored}


def config(raw_dir: Path, studies: dict | None = None) -> dict:
    config = own_data_config(raw_dir, score_against="none")
    if studies:
        config["experiment"]["studies"] = studies
    return config


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """A user's table without a single mask."""
    raw = tmp_path_factory.mktemp("unscored") / "raw"
    write_synthetic("recist_table", raw, n_cases=6, seed=4, image_size=64, mask_fraction=0.0)
    assert pd.read_csv(raw / "lesions.csv", keep_default_na=False)["mask"].eq("").all()
    return raw


def test_only_unscored_data_trains_and_builds_the_report_without_scores(raw):
    work = raw.parent
    write_config(work, config(raw))
    jobs = planned_jobs(snakemake(work, "-n"))
    assert jobs["train"] == 1 and "evaluate" not in jobs
    assert {"report_data", "report_table2", "report_figure3", "report_training_curves"} <= set(jobs)
    assert not {f"report_{name}" for name in SCORED_BUILDERS} & set(jobs)
    by_hand = snakemake(work, "-n", f"results/own/runs/{RUN}/metrics.parquet")
    assert by_hand.returncode != 0  # no rule evaluates an unscored dataset, even when asked

    result = snakemake(work)
    assert result.returncode == 0, result.stderr[-5000:]
    run = work / "results/own/runs" / RUN
    # trained and predicted (every lesion's mask), never scored
    assert {"model.pt", "history.parquet", "run.json", "predictions.npy"} <= {p.name for p in run.iterdir()}
    assert np.load(run / "predictions.npy").shape[0] == len(pd.read_parquet(work / "results/own/lesions.parquet"))
    assert not list((work / "results").rglob("metrics.parquet"))
    data = (work / "results/tables/data.md").read_text()
    assert "| own |" in data and "not scored" in data
    assert not (work / "results/tables/table1.md").exists()

    segmented = cli("segment", "--checkpoint", str(run / "model.pt"), "--table", str(raw / "lesions.csv"), "--out", "seg", cwd=work)  # fmt: skip
    assert segmented.returncode == 0, segmented.stderr
    assert len(pd.read_csv(work / "seg/measurements.csv")) == len(pd.read_csv(raw / "lesions.csv"))


def test_beside_a_scored_dataset_only_the_scored_one_is_evaluated(raw, tmp_path):
    studies = {"main": {"models": ["a1"]}, "backbone": {"models": ["a1", "unet"]}}
    mixed = config(raw, studies)
    mixed["datasets"]["synth"] = {
        "format": "ham",
        "synthetic": {"n_cases": 20, "image_size": [60, 80], "seed": 3},
        "patch_size": 32,
        "k": 2,
    }
    write_config(tmp_path, mixed)
    jobs = planned_jobs(snakemake(tmp_path, "-n"))
    # both datasets' runs (a1, unet) are trained; the scored dataset's are evaluated and tabled
    assert jobs["train"] == 4 and jobs["evaluate"] == 2
    assert jobs["report_table1"] == jobs["report_table7"] == jobs["report_data"] == 1
