"""Collecting the finished runs of the workflow into one table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

RUN_PATTERN = re.compile(
    r"(?P<dataset>[^/]+)/runs/(?P<arch>[a-z0-9]+)-(?P<supervision>[a-z]+)-k(?P<k>\d+)-a(?P<alpha>[^-]+)-s(?P<seed>\d+)$"
)
MODEL_NAMES = {
    "a1": "A1",
    "acoseg": "ACoseg",
    "acosegc": "ACoseg (cluster pairs)",
    "a1l": "A1+L",
    "unet": "U-Net",
    "unetl": "U-Net+L",
}
MODEL_ORDER = list(MODEL_NAMES)


def parse_run_dir(run_dir: str | Path) -> dict:
    """Wildcards of a run from its directory, e.g. ``results/ds/runs/a1l-ellipse-k8-a50-s0``."""
    match = RUN_PATTERN.search(Path(run_dir).as_posix())
    if not match:
        raise ValueError(f"not a run directory: {run_dir}")
    facts = match.groupdict()
    return {**facts, "k": int(facts["k"]), "alpha": float(facts["alpha"]), "seed": int(facts["seed"])}


def collect_runs(run_dirs: list[str | Path]) -> pd.DataFrame:
    """One row per run: its wildcards, timing facts and path."""
    rows = []
    for run_dir in run_dirs:
        facts = json.loads((Path(run_dir) / "run.json").read_text())
        rows.append(
            {
                **parse_run_dir(run_dir),
                "run_dir": str(run_dir),
                "device": facts["device"],
                "device_name": facts.get("device_name"),
                "train_seconds": facts["train_seconds"],
                "epochs_run": facts["epochs_run"],
                "best_epoch": facts["best_epoch"],
                "parameters": facts["parameters"],
            }
        )
    return pd.DataFrame(rows)


def load_metrics(run_dirs: list[str | Path]) -> pd.DataFrame:
    """Per-lesion metrics of every run, with the run's wildcards as columns."""
    frames = []
    for run_dir in run_dirs:
        metrics = pd.read_parquet(Path(run_dir) / "metrics.parquet")
        frames.append(metrics.assign(**parse_run_dir(run_dir)))
    return pd.concat(frames, ignore_index=True)
