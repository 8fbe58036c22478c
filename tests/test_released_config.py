"""configs/released_code.yaml: Snakemake plans every study of the released protocol on the real
datasets, and the same switches run end to end on tiny synthetic stand-ins."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import torch
import yaml

from lesionmtl import paths
from lesionmtl.config import load_config
from lesionmtl.datasets.splits import released_image_split
from tests.conftest import REPO, TINY, n_runs, planned_jobs, snakemake, tiny_config, write_config

RELEASED = REPO / "configs" / "released_code.yaml"
# Per-dataset switches carried from the released config onto the synthetic stand-ins.
SWITCHES = ("reader", "pseudolabels", "split_by", "split_seed", "split_fractions")
SYNTHETIC = {
    "deeplesion": (
        "synth_deeplesion",
        {"n_cases": 24, "image_size": 96, "seed": 1, "split_fractions": [0.6, 0.2, 0.2]},
    ),
    "lits": ("synth_lits", {"n_cases": 4, "image_size": 64, "seed": 2}),
    "ham10000": ("synth_ham", {"n_cases": 24, "image_size": [60, 80], "seed": 3}),
}


def released() -> dict:
    return yaml.safe_load(RELEASED.read_text())


def test_released_config_plans_every_study_without_network(tmp_path):
    env = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    jobs = planned_jobs(snakemake(tmp_path, "-n", "--configfile", str(RELEASED), env=env))
    config = released()
    assert jobs["ingest"] == 3 and jobs["train"] == jobs["evaluate"] == n_runs(config)
    for artefact in ("table1", "supervision", "table7", "figure2", "figure5"):
        assert jobs[f"report_{artefact}"] == 1, artefact
    workflow = load_config(config)
    assert all(workflow.study_runs(ds, study) for ds in workflow.datasets for study in ("main", "backbone"))


def test_every_caption_names_the_switches_off_our_defaults():
    assert load_config(yaml.safe_load((REPO / "config.yaml").read_text())).protocol_note == ""
    note = load_config(released()).protocol_note
    for said in ("'reflect'", "features released", "fit_on all", "MedPy", "'linewidth': 3", "image_released"):
        assert said in note, said


DATA = {"ingest", "pseudolabel_shard", "pseudolabels", "cluster", "train", "evaluate"}


@pytest.mark.parametrize(
    ("switch", "reruns"),
    [
        (lambda c: c.update(evaluation={"metrics": "released"}), {"evaluate"}),
        (lambda c: c["training"].update(canvas={"mode": "reflect", "scale": 2}), {"train", "evaluate"}),
        (lambda c: c.update(clustering={"fit_on": "all"}), {"cluster", "train", "evaluate"}),
        (
            lambda c: c["datasets"]["synth_ham"].update(pseudolabels={"ellipse": {"draw": "matplotlib"}}),
            DATA - {"ingest", "cluster"},
        ),
        (lambda c: c["datasets"]["synth_ham"].update(split_by="image_released"), DATA),
    ],
)
def test_each_switch_reruns_what_depends_on_it(finished_run, switch, reruns):
    changed = tiny_config()
    switch(changed)
    write_config(finished_run, changed)
    try:
        jobs = planned_jobs(snakemake(finished_run, "-n"))
    finally:
        write_config(finished_run, TINY)
    assert {job for job in jobs if not job.startswith("report_") and job != "all"} == reruns
    if "pseudolabels" in reruns:  # a dataset's own switch: that dataset only
        assert jobs["pseudolabels"] == 1 and jobs.get("ingest", 1) == 1


def tiny_released() -> dict:
    """The released config on tiny synthetic data: its switches, a small network, 1 epoch."""
    config = released()
    datasets = {}
    for name, entry in config["datasets"].items():
        synth_name, generator = SYNTHETIC[name]
        datasets[synth_name] = {
            "format": entry["format"],
            "synthetic": generator,
            "patch_size": 32,
            "k": 3,
            **{key: entry[key] for key in SWITCHES if key in entry},
        }
    config["datasets"] = datasets
    config["experiment"].update(seeds=[0], studies={"main": {"models": ["a1l"]}})
    config["training"].update(
        encoder="resnet18", encoder_weights=None, epochs=1, patience=1, batch_size=4, threads=1, mem_mb=2000, runtime=30
    )
    config["training"]["canvas"] = {"mode": "reflect", "size": [96, 112]}  # the released ~3x4 patch widths
    config["pseudolabels"]["shards"] = 1
    config["report"]["figure_lesions"] = 2
    return config


@pytest.mark.slow
def test_released_config_runs_end_to_end_on_tiny_data(tmp_path):
    config = tiny_released()
    write_config(tmp_path, config)
    result = snakemake(tmp_path)
    assert result.returncode == 0, result.stderr[-5000:]
    assert (tmp_path / paths.table("table1", "md")).exists()
    ham = pd.read_parquet(tmp_path / paths.lesions("synth_ham"))
    assert dict(zip(ham["lesion_id"], ham["split"])) == released_image_split(ham["lesion_id"], (0.7, 0.2, 0.1), 1)
    facts = pd.read_parquet(tmp_path / paths.pseudolabel_facts("synth_deeplesion"))
    assert facts["grabcut_fell_back"].mean() > 0.9  # the near-black DeepLesion input: GrabCut is the ellipse
    report = snakemake(tmp_path, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    assert "the AVD column is MedPy" in (tmp_path / "report.html").read_text(errors="replace")
    model = torch.load(tmp_path / paths.run_file("synth_lits", "a1l-ellipse-k3-a50-s0", "model"), weights_only=True)
    assert model["input"]["canvas"] == {"mode": "reflect", "size": [96, 112]}
