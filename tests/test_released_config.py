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


def test_protocol_config_plans_its_study_alone(tmp_path):
    protocol = REPO / "configs" / "protocol.yaml"
    jobs = planned_jobs(snakemake(tmp_path, "-n", "--configfile", str(protocol)))
    config = yaml.safe_load(protocol.read_text())
    study = load_config(config).experiment.studies["protocol"]
    assert study.datasets and jobs["train"] == jobs["evaluate"] == n_runs(config)
    assert jobs["report_protocol"] == 1 and "report_table1" not in jobs
    assert jobs["synthesize"] == 3  # the variants read the base datasets' files


def test_a_protocol_study_without_variants_plans_its_table(tmp_path):
    config = tiny_config()
    config["experiment"]["studies"] = {"protocol": {"models": ["a1"]}}
    write_config(tmp_path, config)
    jobs = planned_jobs(snakemake(tmp_path, "-n"))
    assert jobs["report_protocol"] == 1 and jobs["train"] == 2


def test_every_caption_names_the_switches_off_our_defaults():
    assert load_config(yaml.safe_load((REPO / "config.yaml").read_text())).protocol_note == ""
    note = load_config(released()).protocol_note
    for said in ("'reflect'", "features released", "fit_on all", "MedPy", "'linewidth': 3", "image_released"):
        assert said in note, said
    config = released()
    config["training"]["output_stride"] = 8
    assert "DeepLabV3+ output stride 8 (paper 16)" in load_config(config).protocol_note


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


# The protocol study on the tiny released run: the released protocol, and our fixes of the split,
# the canvas and the output stride together against it (the reference, by default).
TINY_PROTOCOL = {
    "models": ["a1l"],
    "datasets": ["synth_ham"],
    "variants": {
        "released": {},
        "fixed": {
            "dataset": {"split_by": None, "split_seed": None},
            "training": {"canvas": None, "output_stride": 8},
        },
    },
}


@pytest.fixture(scope="module")
def released_run(tmp_path_factory):
    """The tiny released config with its protocol study, run to the end (and its report built)."""
    workdir = tmp_path_factory.mktemp("released")
    config = tiny_released()
    config["experiment"]["studies"]["protocol"] = TINY_PROTOCOL
    write_config(workdir, config)
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    report = snakemake(workdir, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    return workdir


@pytest.mark.slow
def test_released_config_runs_end_to_end_on_tiny_data(released_run):
    assert (released_run / paths.table("table1", "md")).exists()
    ham = pd.read_parquet(released_run / paths.lesions("synth_ham"))
    assert dict(zip(ham["lesion_id"], ham["split"])) == released_image_split(ham["lesion_id"], (0.7, 0.2, 0.1), 1)
    facts = pd.read_parquet(released_run / paths.pseudolabel_facts("synth_deeplesion"))
    assert facts["grabcut_fell_back"].mean() > 0.9  # the near-black DeepLesion input: GrabCut is the ellipse
    assert "the AVD column is MedPy" in (released_run / "report.html").read_text(errors="replace")
    model = torch.load(released_run / paths.run_file("synth_lits", "a1l-ellipse-k3-a50-s0", "model"), weights_only=True)
    assert model["input"]["canvas"] == {"mode": "reflect", "size": [96, 112]}


@pytest.mark.slow
def test_protocol_study_runs_each_variant_on_its_own_copy_of_the_data(released_run):
    table = pd.read_csv(released_run / paths.table("protocol", "csv"))
    assert list(table["variant"]) == ["released", "fixed"]  # the reference first
    rows = table.set_index("variant")
    assert rows.loc["fixed", "compare_with"] == "synth_ham@released"
    assert rows.loc["fixed", "changes"] == (
        "dataset.split_by: null; dataset.split_seed: null; training.canvas: null; training.output_stride: 8"
    )
    assert (table["s_per_image_mean"] > 0).all() and (table["seeds"] == 1).all()
    assert "one seed: noise unknown" in (released_run / paths.table("protocol", "md")).read_text()
    assert "protocol.csv" in (released_run / "report.html").read_text(errors="replace")
    # one raw copy; each variant's own ingest: the released split by image, the fix's by lesion
    assert sorted(p.name for p in (released_run / "results" / "raw").iterdir()) == [
        "synth_deeplesion", "synth_ham", "synth_lits"
    ]  # fmt: skip
    base, fixed = (pd.read_parquet(released_run / paths.lesions(f"synth_ham@{v}")) for v in ("released", "fixed"))
    ham = pd.read_parquet(released_run / paths.lesions("synth_ham"))
    assert dict(zip(base["lesion_id"], base["split"])) == dict(zip(ham["lesion_id"], ham["split"]))
    by_group = fixed.groupby("group_id")["split"].nunique()
    assert (by_group == 1).all() and (base.groupby("group_id")["split"].nunique() > 1).any()
    model = torch.load(
        released_run / paths.run_file("synth_ham@fixed", "a1l-ellipse-k3-a50-s0", "model"), weights_only=True
    )
    assert model["model"]["output_stride"] == 8 and model["input"]["canvas"] == {"mode": "crop"}
    # the other studies' artefacts never see the variants' datasets
    data = pd.read_csv(released_run / paths.table("data", "csv"))
    assert sorted(data["Dataset"]) == ["synth_deeplesion", "synth_ham", "synth_lits"]
    assert "@" not in (released_run / paths.table("table1", "csv")).read_text()
