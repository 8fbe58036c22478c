"""Real Snakemake runs of the whole DAG on a tiny synthetic configuration."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "datasets": {
        "synth_deeplesion": {"format": "deeplesion", "synthetic": {"n_cases": 30, "image_size": 96, "seed": 1}, "patch_size": 32, "k": 3},
        "synth_lits": {"format": "lits", "synthetic": {"n_cases": 4, "image_size": 64, "seed": 2}, "patch_size": 32, "k": 3, "split_fractions": [0.5, 0.25, 0.25]},
        "synth_ham": {"format": "ham", "synthetic": {"n_cases": 30, "image_size": [80, 60], "seed": 3}, "patch_size": 32, "k": 3, "split_fractions": [0.6, 0.2, 0.2]},
    },
    "experiment": {"models": ["a1", "a1l"], "supervision": ["ellipse"], "seeds": [0], "alpha_seg": 50, "alpha_cls": 1},
    "training": {"encoder": "resnet18", "encoder_weights": None, "epochs": 2, "patience": 2, "batch_size": 8, "lr": 0.001, "threads": 1},
    "pseudolabels": {"grabcut_iterations": 2, "shards": 2},
    "report": {"figure_lesions": 2},
}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts from the 'Job stats' table of a dry run."""
    assert result.returncode == 0, result.stderr[-3000:]
    counts = {}
    for line in (result.stdout + result.stderr).splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    write_config(workdir, TINY)
    dry = planned_jobs(snakemake(workdir, "-n"))
    assert dry["train"] == 6 and dry["evaluate"] == 6 and dry["synthesize"] == 3 and dry["report"] == 1
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def test_full_run_writes_table1_and_figures(finished_run):
    results = finished_run / "results"
    table = pd.read_csv(results / "tables" / "table1.csv")
    assert sorted(zip(table["dataset"], table["model"])) == sorted(
        (ds, m) for ds in TINY["datasets"] for m in ("A1", "A1+L")
    )
    assert table[["iou_mean", "dice_mean", "avd_mean", "hausdorff_mean"]].notna().all().all()
    assert ((table["dice_mean"] >= 0) & (table["dice_mean"] <= 100)).all()
    markdown = (results / "tables" / "table1.md").read_text()
    assert "synthetic" in markdown and "A1+L" in markdown
    assert (results / "tables" / "table1.tex").read_text().startswith("\\begin{table}")
    for figure in ("qualitative.png", "training_curves.png"):
        assert (results / "figures" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_intermediate_artefacts_are_consistent(finished_run):
    base = finished_run / "results" / "synth_ham"
    lesions = pd.read_parquet(base / "lesions.parquet")
    images = np.load(base / "patches" / "images.npy")
    assert images.shape == (len(lesions), 32, 32, 3) and images.dtype == np.uint8
    assert np.load(base / "pseudo" / "grabcut.npy").shape == images.shape[:3]
    clusters = pd.read_parquet(base / "clusters" / "k3.parquet")
    assert set(clusters["lesion_id"]) == set(lesions["lesion_id"]) and set(clusters["cluster"]) <= {0, 1, 2}
    metrics = pd.read_parquet(base / "runs" / "a1l-ellipse-k3-a50-s0" / "metrics.parquet")
    assert set(metrics["split"]) == {"train", "val", "test"}
    assert {"cluster_pred", "cluster_correct", "empty_pred"} <= set(metrics.columns)
    assert not list(base.rglob(".*.tmp-*")), "temporary files left behind"


def test_second_run_has_nothing_to_do(finished_run):
    result = snakemake(finished_run, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_k_of_one_dataset_reruns_only_what_depends_on_it(finished_run, tmp_path):
    changed = {**TINY, "datasets": {**TINY["datasets"], "synth_lits": {**TINY["datasets"]["synth_lits"], "k": 2}}}
    write_config(finished_run, changed)
    try:
        jobs = planned_jobs(snakemake(finished_run, "-n"))
    finally:
        write_config(finished_run, TINY)
    assert jobs == {"cluster": 1, "train": 1, "evaluate": 1, "report": 1, "all": 1}


def test_bad_config_is_rejected_before_anything_runs(tmp_path):
    bad = {**TINY, "training": {**TINY["training"], "epochs": 0}}
    write_config(tmp_path, bad)
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert "epochs" in result.stderr
