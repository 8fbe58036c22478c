"""The finished runs of the workflow as tables, read from the run files a report rule declares.

A run's parameters come from its files' paths (:func:`lesionmtl.runspec.parse_run_path`), so the
report needs nothing but the files themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lesionmtl.architectures import ARCHITECTURES
from lesionmtl.runspec import parse_run_path

MODEL_NAMES = {name: arch.display for name, arch in ARCHITECTURES.items()}
MODEL_ORDER = list(ARCHITECTURES)


def run_facts(path: str | Path) -> dict:
    """A run's parameters as the report's columns, from the path of one of its files, e.g.
    ``results/ds/runs/a1l-ellipse-k8-a50-s0/metrics.parquet``."""
    dataset, run = parse_run_path(path)
    return {
        "dataset": dataset,
        "arch": run.arch,
        "supervision": run.supervision,
        "k": run.k,
        "alpha": run.alpha_seg,
        "seed": run.seed,
    }


def collect_runs(records: list[str | Path]) -> pd.DataFrame:
    """One row per run from its ``run.json``: its parameters and timing facts."""
    rows = []
    for record in records:
        facts = json.loads(Path(record).read_text())
        rows.append(
            {
                **run_facts(record),
                "device": facts["device"],
                "device_name": facts.get("device_name"),
                "train_seconds": facts["train_seconds"],
                "epochs_run": facts["epochs_run"],
                "best_epoch": facts["best_epoch"],
                "stopped_early": bool(facts["stopped_early"]),
                "parameters": facts["parameters"],
                "n_train": facts["n_train"],
            }
        )
    return pd.DataFrame(rows)


def load_metrics(metric_files: list[str | Path]) -> pd.DataFrame:
    """Per-lesion metrics of every run, with the run's parameters as columns."""
    frames = [pd.read_parquet(path).assign(**run_facts(path)) for path in metric_files]
    return pd.concat(frames, ignore_index=True)
