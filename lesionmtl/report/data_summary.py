"""The data each result was computed on: lesions per split and the lesions ingest dropped, by why."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lesionmtl.datasets.base import SPLITS
from lesionmtl.report.tables import write_table


def data_summary(
    datasets: list[str], summaries: list[str], rejected: list[str], outputs: dict, data_label: str
) -> pd.DataFrame:
    """One row per dataset from its ``ingest.json`` and ``rejected.parquet``."""
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
                "Dropped": len(dropped),
                "Why dropped": "; ".join(f"{kind} {n}" for kind, n in by_kind.items()) or "-",
                "Changed (notes)": summary.get("n_recorded", 0),
                "Ground truth": "yes" if summary["has_ground_truth"] else "no (scored against GrabCut)",
            }
        )
    raw = pd.DataFrame(rows)
    title = f"Data ({data_label}): lesions per split after ingest, and the lesions dropped (rejected.parquet)"
    write_table(raw.astype(str), raw, outputs, title)
    return raw
