"""Real Snakemake runs of the whole DAG, every study included, on the tiny synthetic configuration."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lesionmtl.config import load_config
from lesionmtl.report.artefacts import ARTEFACTS, covered_datasets, is_built
from tests.conftest import (
    REPO,
    TINY,
    TINY_CONFIG,
    n_runs,
    planned_jobs,
    reversed_keys,
    snakemake,
    tiny_config,
    write_config,
)

DATASETS = list(TINY["datasets"])
TINY_WORKFLOW = load_config(tiny_config())
# The tiny configuration has every study of the paper and scores every dataset: every registered
# artefact of them is made (the protocol study's: tests/test_released_config.py), each on the
# datasets of its study.
BUILT = [a for a in ARTEFACTS.values() if is_built(a, TINY_WORKFLOW)]
assert [a.name for a in ARTEFACTS.values() if a not in BUILT] == ["protocol"]
COVERED = {a.name: covered_datasets(a, TINY_WORKFLOW) for a in BUILT}
TABLES = [stem for a in BUILT if a.kind == "table" for stem in a.file_stems(COVERED[a.name])]
FIGURES = [stem for a in BUILT if a.kind == "figure" for stem in a.file_stems(COVERED[a.name])]


def test_every_table_has_its_rows_and_columns(finished_run):
    tables = finished_run / "results" / "tables"
    for stem in TABLES:
        for ext in ("md", "tex", "csv"):
            assert (tables / f"{stem}.{ext}").stat().st_size > 0, f"{stem}.{ext}"
        assert "synthetic" in (tables / f"{stem}.md").read_text() or stem == "parameters"

    table1 = pd.read_csv(tables / "table1.csv")
    assert sorted(zip(table1["dataset"], table1["model"])) == sorted(
        (ds, m) for ds in DATASETS for m in ("A1", "ACoseg", "A1+L")
    )
    for metric in ("iou", "dice", "vs", "center_error", "perimeter_error", "avd", "hausdorff"):
        assert table1[f"{metric}_mean"].notna().all() and f"{metric}_change_pct" in table1
    assert {"n_empty", "seeds", "dice_p_vs_a1", "dice_p_vs_acoseg", "dice_diff_vs_a1", "dice_diff_noise"} <= set(
        table1.columns
    )
    # one seed in the tiny run: each difference from A1 is shown, its seed noise unknown
    others = table1[table1["model"] != "A1"]
    assert others["dice_diff_vs_a1"].notna().all() and others["dice_diff_noise"].isna().all()
    assert "(one seed: noise unknown)" in (tables / "table1.md").read_text()
    assert ((table1["dice_mean"] >= 0) & (table1["dice_mean"] <= 100)).all()
    assert "A1+L" in (tables / "table1.md").read_text() and (tables / "table1.tex").read_text().startswith(
        "\\begin{table}"
    )

    table2 = pd.read_csv(tables / "table2.csv")
    assert len(table2) == 6 and (table2["device"] == "cpu").all() and (table2["hours_mean"] > 0).all()
    assert "CPU hours" in (tables / "table2.md").read_text()
    # 2 epochs with patience 2 cannot stop early; the best epoch is one of the two
    assert table2["stopped_mean"].eq(0).all() and table2["best_epoch_mean"].between(1, 2).all()
    assert "Stopped early" in (tables / "table2.md").read_text()
    assert not (tables / "table3-5_synth_deeplesion.csv").exists()  # the study runs on synth_ham only
    rows = pd.read_csv(tables / "table3-5_synth_ham.csv")
    assert sorted(rows["supervision"]) == ["ellipse", "grabcut"]
    assert {"iou_mean", "dice_mean", "center_error_mean", "perimeter_error_mean"} <= set(rows.columns)
    table6 = pd.read_csv(tables / "table6.csv")
    assert sorted(set(table6["supervision"])) == ["ellipse", "full", "grabcut"]
    table7 = pd.read_csv(tables / "table7.csv")
    assert set(zip(table7["dataset"], table7["arch"])) == {("synth_ham", "a1"), ("synth_ham", "unet")}
    table8 = pd.read_csv(tables / "table8.csv")
    assert (
        len(table8) == 2
        and ((table8[["train_mean", "test_mean"]] >= 0) & (table8[["train_mean", "test_mean"]] <= 100)).all().all()
    )
    data = pd.read_csv(tables / "data.csv").set_index("Dataset")
    for ds in DATASETS:
        lesions = pd.read_parquet(finished_run / "results" / ds / "lesions.parquet")
        rejected = pd.read_parquet(finished_run / "results" / ds / "rejected.parquet")
        assert data.loc[ds, "Lesions"] == len(lesions) and data.loc[ds, "Dropped"] == len(rejected)
        assert [data.loc[ds, s.capitalize()] for s in ("train", "val", "test")] == [
            (lesions["split"] == s).sum() for s in ("train", "val", "test")
        ]
        assert set(rejected["kind"]) <= {"larger than the patch", "below min_area", "empty after resizing"}
    parameters = pd.read_csv(tables / "parameters.csv")
    resnet101 = parameters[parameters["Encoder"] == "resnet101"].set_index("Model")["Parameters"]
    assert resnet101["A1"] == 45_669_713 and resnet101["ACoseg"] == 64_554_577


def test_every_figure_is_a_png_and_a_pdf(finished_run):
    figures = finished_run / "results" / "figures"
    for stem in FIGURES:
        assert (figures / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
        assert (figures / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-", stem


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


def test_a_second_run_plans_nothing_whatever_the_order_of_the_config_keys(finished_run):
    """YAML mappings are unordered: the same configuration as tests/tiny_config.yaml writes it
    (finished_run's own is key-sorted by yaml.safe_dump) and with every mapping reversed plans
    nothing."""
    written = TINY_CONFIG.read_text()
    try:
        for text in (written, yaml.safe_dump(reversed_keys(TINY), sort_keys=False)):
            (finished_run / "config.yaml").write_text(text)
            result = snakemake(finished_run, "-n")
            assert result.returncode == 0, result.stderr[-3000:]
            assert "Nothing to be done" in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]
    finally:
        write_config(finished_run, TINY)


@pytest.mark.slow
def test_the_order_of_the_default_config_keys_reruns_nothing(tmp_path):
    """The same on the default config.yaml, as a finished run made by touching every output (training
    it takes minutes): key-sorted plans nothing; reversed, with one dataset's generator seed changed,
    plans that dataset's jobs and nothing of the others (so the touched run's params are compared)."""
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    (tmp_path / "config.yaml").write_text((REPO / "config.yaml").read_text())
    summary = snakemake(tmp_path, "-n", "--detailed-summary")
    assert summary.returncode == 0, summary.stderr[-3000:]
    for line in summary.stdout.splitlines()[1:]:
        path, _, rule = line.split("\t")[:3]
        if rule == "synthesize":
            (tmp_path / path).mkdir(parents=True)
        else:
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).touch()
    touched = snakemake(tmp_path, "--touch", "--forceall")
    assert touched.returncode == 0, touched.stderr[-3000:]

    write_config(tmp_path, default)  # yaml.safe_dump sorts the keys
    result = snakemake(tmp_path, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]
    changed = reversed_keys(default)
    changed["datasets"]["synth_lits"]["synthetic"]["seed"] += 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(changed, sort_keys=False))
    jobs = planned_jobs(snakemake(tmp_path, "-n"))
    assert jobs["synthesize"] == jobs["ingest"] == 1
    assert jobs["train"] == len(load_config(changed).experiment_runs("synth_lits"))


# Where the report lists each artefact: under the study it comes from (the artefact registry).
REPORT_STUDIES: dict[str, list[str]] = {}
for _artefact in BUILT:
    REPORT_STUDIES.setdefault(_artefact.category, []).extend(_artefact.entry_files(COVERED[_artefact.name]))


def report_data(html: str, script_id: str):
    """The JSON value the HTML report embeds in `<script id="<script_id>"> var <name> = ...;`."""
    script = html.index(f'<script id="{script_id}">')
    start = html.index(" = ", script) + len(" = ")
    return json.JSONDecoder().raw_decode(html, start)[0]


def test_html_report_lists_each_artefact_once_under_its_study(finished_run):
    result = snakemake(finished_run, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (finished_run / "report.html").read_text(errors="replace")
    categories = report_data(html, "categories")
    listed = {
        category: sorted(Path(path).name for paths in subcategories.values() for path in paths)
        for category, subcategories in categories.items()
    }
    assert listed == {category: sorted(files) for category, files in REPORT_STUDIES.items()}
    # every table and figure of the run is in the report, each once
    assert sorted(sum(listed.values(), [])) == sorted([f"{t}.csv" for t in TABLES] + [f"{f}.png" for f in FIGURES])
    results = report_data(html, "results")
    assert "Table 1 on synthetic data" in next(
        r["caption"] for path, r in results.items() if path.endswith("table1.csv")
    )
    # a per-dataset artefact is one entry per dataset it covers, labelled with it
    for stem, name in (("figure3_", "figure3"), ("table3-5_", "table3_5")):
        labelled = [r["labels"]["dataset"] for path, r in results.items() if Path(path).name.startswith(stem)]
        assert sorted(labelled) == sorted(COVERED[name]), stem
    assert COVERED["figure3"] == DATASETS and COVERED["table3_5"] == ["synth_ham"]
    # the front page describes the workflow
    assert "weakly supervised lesion segmentation with multi-task learning" in report_data(html, "workflow-desc")


def test_changing_every_resource_setting_reruns_nothing(finished_run):
    changed = tiny_config()
    changed["training"].update(threads=2, mem_mb=9999, runtime=999)
    overrides = [
        f"{rule}:{resource}"
        for rule in ("train", "evaluate", "ingest", "pseudolabel_shard", "cluster", "report_table1")
        for resource in ("mem_mb=777", "runtime=3*attempt", "slurm_partition='gpu'", "cpus_per_gpu=3")
    ]
    write_config(finished_run, changed)
    try:
        local = snakemake(
            finished_run,
            "-n",
            "--set-resources",
            *overrides,
            "--set-threads",
            "train=2",
            "evaluate=2",
            "--default-resources",
            "mem_mb=100",
            "runtime=5",
            "--resources",
            "gpu=1",
            "downloads=1",
        )
        cluster = snakemake(
            finished_run,
            "-n",
            "--workflow-profile",
            str(REPO / "profiles" / "slurm"),
            "--default-resources",
            "slurm_account='acct'",
            "slurm_partition='cpu'",
            "--set-resources",
            *overrides,
            cores=None,
        )
    finally:
        write_config(finished_run, TINY)
    for result in (local, cluster):
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Nothing to be done" in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]


def _plan_with(workdir: Path, config: dict) -> dict[str, int]:
    write_config(workdir, config)
    try:
        return planned_jobs(snakemake(workdir, "-n"))
    finally:
        write_config(workdir, TINY)


def test_changing_k_of_one_dataset_reruns_only_what_depends_on_it(finished_run):
    changed = tiny_config()
    changed["datasets"]["synth_ham"]["k"] = 4
    new_runs = set(load_config(changed).experiment_runs("synth_ham")) - set(
        load_config(tiny_config()).experiment_runs("synth_ham")
    )
    jobs = _plan_with(finished_run, changed)
    assert jobs.pop("cluster") == 1
    assert jobs.pop("train") == jobs.pop("evaluate") == len(new_runs) == 4
    assert jobs.pop("all") == 1
    # Nothing upstream, nothing for the other dataset; only reports fed by A1+L at the main K.
    assert set(jobs) <= {
        f"report_{name}"
        for name in (
            "table1",
            "table2",
            "table8",
            "supervision",
            "figure3",
            "figure4",
            "figure5",
            "training_curves",
            "parameters",
            "diameters",
            "bland_altman",
        )
    }


def test_removing_one_k_from_the_sweep_reruns_only_figure2(finished_run):
    changed = tiny_config()
    for ds in DATASETS:
        changed["datasets"][ds]["k_sweep"] = [3]
    assert _plan_with(finished_run, changed) == {"report_figure2": 1, "all": 1}


def test_bad_config_is_rejected_before_anything_runs(tmp_path):
    bad = tiny_config()
    bad["training"]["epochs"] = 0
    write_config(tmp_path, bad)
    result = snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert "['training']['epochs']" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_runlog_reads_every_job_of_a_real_run_from_snakemakes_log(finished_run):
    from benchmarks.runlog import job_spans, summary

    runs = [job_spans(log) for log in sorted((finished_run / ".snakemake" / "log").glob("*.snakemake.log"))]
    full = [(spans, wall) for spans, wall in runs if sum(rule == "train" for rule, _, _ in spans) == n_runs(TINY)]
    assert full, "no log of the full tiny run"
    spans, wall = full[0]
    assert {"synthesize", "ingest", "train", "evaluate", "report_table1", "all"} <= {rule for rule, _, _ in spans}
    assert all(0 <= seconds <= wall for _, seconds, _ in spans) and wall > 0
    trained = {Path(output).parent for rule, _, output in spans if rule == "train"}
    assert len(trained) == n_runs(TINY) and all((finished_run / run / "run.json").is_file() for run in trained)
    assert "| train |" in summary(finished_run)
