"""The data each result was computed on: lesions per split beside the paper's, and the lesions
ingest dropped, per split and by why."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lesionmtl.datasets.base import SPLITS
from lesionmtl.formats import FORMATS
from lesionmtl.report.tables import write_table

# What a dataset's test predictions are scored against (config score_against), in words.
SCORED_AGAINST = {"ground_truth": "ground truth", "grabcut": "GrabCut", "none": "not scored (trained only)"}


def _dropped(rejected: pd.DataFrame) -> str:
    """'12 (train 8, val 3, test 1)': rejections per split, where ingest could tell the split."""
    if rejected.empty:
        return "0"
    splits = rejected["split"]
    counts = [f"{split} {int((splits == split).sum())}" for split in SPLITS if (splits == split).any()]
    unknown = int(splits.isna().sum())
    counts += [f"no split {unknown}"] if unknown else []
    return f"{len(rejected)} ({', '.join(counts)})"


def data_summary(
    datasets: list[str],
    summaries: list[str],
    rejected: list[str],
    outputs: dict,
    data_label: str,
    score_against: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per dataset from its ``ingest.json`` and ``rejected.parquet``, and what it is scored
    against (``score_against``, by dataset: the config's setting)."""
    rows = []
    for dataset, summary_path, rejected_path in zip(datasets, summaries, rejected):
        summary = json.loads(Path(summary_path).read_text())
        dropped = pd.read_parquet(rejected_path)
        by_kind = dropped["kind"].value_counts().sort_index()
        rows.append(
            {
                "Dataset": dataset,
                "Format": summary["format"],
                "Groups": summary["n_groups"],
                "Lesions": summary["n_lesions"],
                **{split.capitalize(): summary["per_split"][split] for split in SPLITS},
                "Paper": FORMATS[summary["format"]].paper_counts,
                "Dropped": _dropped(dropped),
                "Why dropped": "; ".join(f"{kind} {n}" for kind, n in by_kind.items()) or "-",
                "Changed (notes)": summary.get("n_recorded", 0),
                "Ground truth": _ground_truth(summary),
                "Scored against": SCORED_AGAINST[score_against[dataset]] if score_against else "-",
            }
        )
    raw = pd.DataFrame(rows)
    title = (
        f"Data ({data_label}): lesions per split after ingest beside the paper's, and the lesions dropped "
        "per split (rejected.parquet)"
    )
    write_table(raw.astype(str), raw, outputs, title)
    return raw


def _ground_truth(summary: dict) -> str:
    """yes, no, or how many lesions have a reference mask (a recist_table scores only those)."""
    if summary["has_ground_truth"]:
        return "yes"
    with_gt = summary.get("n_with_ground_truth", 0)
    return f"{with_gt} of {summary['n_lesions']} lesions" if with_gt else "no"
