"""Kill each kind of job mid-run (a power cut: the job and Snakemake with it) and run Snakemake
again: nothing a killed job left behind passes for complete, and the rerun ends with the same
tables as an uninterrupted run.

The kill is deterministic: ``LESIONMTL_TEST_KILL_AFTER`` (lesionmtl/io.py) SIGKILLs the process
group right after the first file matching a glob has been written, so each job dies between two
of its outputs."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from lesionmtl.io import KILL_AFTER
from tests.conftest import TINY, clean_env, snakemake, write_config

CONFIG = {
    **TINY,
    "datasets": {
        "synth_ham": {
            "format": "ham",
            "synthetic": {"n_cases": 16, "image_size": [40, 52], "seed": 3},
            "patch_size": 32,
            "k": 2,
            "split_fractions": [0.5, 0.25, 0.25],
        }
    },
    "experiment": {**TINY["experiment"], "studies": {"main": {"models": ["a1"]}}},
    "training": {**TINY["training"], "epochs": 2, "patience": 2},
    "evaluation": {"export_masks": True},  # an evaluate job with a second output to be killed before
    "pseudolabels": {"grabcut_iterations": 1, "shards": 1},
}
TARGET = "results/tables/table1.md"  # ingest, pseudo-labels, training, evaluation and a report table
# (rule, the file after which its job dies, the outputs (a glob) that must then be missing)
KILLS = [
    ("ingest", "*/synth_ham/patches/images.npy", "results/synth_ham/lesions.parquet"),
    ("pseudolabel_shard", "*/pseudo/shards/0.npz", "results/synth_ham/pseudo/ellipse.npy"),
    ("train", "*/runs/*/state/last.pt", "results/synth_ham/runs/*/model.pt"),  # after epoch 1 of 2
    ("evaluate", "*/runs/*/metrics.parquet", "results/synth_ham/runs/*/masks"),  # before the exported masks
    ("report_table1", "*/tables/table1.md", "results/tables/table1.csv"),
]
# Files that record when or how long something ran, not what it computed.
TIMED = ("ingest.json", "run.json", "history.parquet", "benchmarks/", "logs/")


def run(workdir: Path, kill_after: str | None = None) -> subprocess.CompletedProcess:
    """The target, in a session of its own: the kill takes Snakemake down with the job, never
    pytest.  A killed Snakemake leaves its lock behind (a user runs --unlock): --nolock saves that
    step here."""
    env = {k: v for k, v in clean_env().items() if k != KILL_AFTER}
    if kill_after:
        env[KILL_AFTER] = kill_after
    return snakemake(
        workdir, "--rerun-incomplete", "--nolock", TARGET, env=env, cores=1, timeout=600, start_new_session=True
    )


def tables(workdir: Path) -> dict[str, bytes]:
    results = workdir / "results"
    return {
        p.relative_to(results).as_posix(): p.read_bytes()
        for p in sorted(results.rglob("*"))
        if p.is_file()
        and p.suffix in (".parquet", ".csv", ".md", ".tex", ".npy")
        and not any(t in p.relative_to(results).as_posix() for t in TIMED)
    }


@pytest.mark.slow
def test_killed_jobs_rerun_to_the_same_tables(tmp_path):
    reference, work = tmp_path / "reference", tmp_path / "killed"
    for folder in (reference, work):
        folder.mkdir()
        write_config(folder, CONFIG)
    done = run(reference)
    assert done.returncode == 0, done.stderr[-3000:]

    runs = [run(work, kill_after=KILLS[0][1])]
    for i, (rule, _, missing) in enumerate(KILLS):
        assert runs[-1].returncode == -signal.SIGKILL, (rule, runs[-1].stderr[-3000:])
        assert not list(work.glob(missing)), missing
        # The next run starts by doing the killed job again: what it left is not taken as done.
        runs.append(run(work, kill_after=KILLS[i + 1][1] if i + 1 < len(KILLS) else None))
        assert f"rule {rule}:" in runs[-1].stdout + runs[-1].stderr, rule
    assert runs[-1].returncode == 0, runs[-1].stderr[-3000:]
    assert not [p for p in (work / "results").rglob("*") if ".tmp-" in p.name]
    expected, got = tables(reference), tables(work)
    assert got.keys() == expected.keys() and len(got) >= 8, sorted(got)
    assert [name for name in got if got[name] != expected[name]] == []
