"""``lesionmtl info MODEL.pt``: what a checkpoint holds and how its run scored, without the weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from lesionmtl.paths import RUN_FILES

METRIC_COLUMNS = ("dice", "iou", "hausdorff", "abs_err_long_px", "abs_err_short_px", "abs_err_long_mm")


def test_metrics(run_dir: Path) -> dict | None:
    """Means (diameter errors: medians) over the test lesions of the run's ``metrics.parquet``, if any."""
    path = Path(run_dir) / RUN_FILES["metrics"]
    if not path.is_file():
        return None
    test = pd.read_parquet(path).query("split == 'test'")
    summary: dict = {"n_test_lesions": len(test)}
    for column in METRIC_COLUMNS:
        if column in test:
            values = test[column].dropna()
            how = "median" if column.startswith("abs_err") else "mean"
            summary[f"{how}_{column}"] = round(float(values.median() if how == "median" else values.mean()), 4)
    return summary


def model_info(path: Path) -> dict:
    """The checkpoint's facts (every section but the weights) and its run's test metrics."""
    from lesionmtl.checkpoints import checkpoint_facts

    facts = checkpoint_facts(Path(path))
    facts["test_metrics"] = test_metrics(Path(path).parent)
    return facts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL.pt", help="a trained run's model.pt")
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")


def _lines(facts: dict, indent: str = "") -> list[str]:
    lines = []
    for key, value in facts.items():
        if isinstance(value, dict) and value:
            lines += [f"{indent}{key}:", *_lines(value, indent + "  ")]
        else:
            lines.append(f"{indent}{key}: {value}")
    return lines


def run(args: argparse.Namespace) -> int:
    facts = model_info(args.model)
    print(json.dumps(facts, indent=2, default=str) if args.json else "\n".join(_lines(facts)))
    return 0
