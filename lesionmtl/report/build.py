"""Everything the `report` rule writes, from the runs' Parquet files and the dataset arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lesionmtl.report.figures import qualitative, training_curves
from lesionmtl.report.runs import collect_runs, load_metrics
from lesionmtl.report.tables import table1, write_table1


def data_label(synthetic: dict[str, bool]) -> str:
    """'synthetic data', 'real data' or both: every artefact says what it was computed on."""
    kinds = {"synthetic data" if s else "real data" for s in synthetic.values()}
    return " and ".join(sorted(kinds))


def build_report(run_dirs: list[str], datasets: dict[str, dict], outputs: dict[str, Path], figure_lesions: int = 6) -> None:
    """``datasets``: name -> {synthetic, lesions, images, truth, ellipse} (paths)."""
    label = data_label({name: d["synthetic"] for name, d in datasets.items()})
    runs = collect_runs(run_dirs)
    metrics = load_metrics(runs)
    table = table1(metrics, list(datasets))
    write_table1(table, outputs["table1_md"], outputs["table1_tex"], outputs["table1_csv"], label)

    histories = []
    for run in runs.itertuples():
        history = pd.read_parquet(Path(run.run_dir) / "history.parquet")
        histories.append(history.assign(dataset=run.dataset, arch=run.arch, supervision=run.supervision, seed=run.seed))
    training_curves(pd.concat(histories), outputs["training_curves"], f"Training curves ({label})")

    panels = []
    rng = np.random.default_rng(0)
    for name, paths in datasets.items():
        lesions = pd.read_parquet(paths["lesions"])
        test_rows = lesions.loc[lesions["split"] == "test", "patch_index"].to_numpy()
        chosen = rng.choice(test_rows, size=min(figure_lesions, len(test_rows)), replace=False)
        # First seed, ellipse supervision: the same lesions for every model.
        first = runs[(runs["dataset"] == name) & (runs["supervision"] == "ellipse")].sort_values("seed")
        predictions = {
            run.arch: np.load(Path(run.run_dir) / "predictions.npy", mmap_mode="r")
            for run in first.drop_duplicates("arch").itertuples()
        }
        panels.append(
            {
                "dataset": name,
                "images": np.load(paths["images"], mmap_mode="r"),
                "truth": np.load(paths["truth"], mmap_mode="r"),
                "ellipse": np.load(paths["ellipse"], mmap_mode="r"),
                "predictions": predictions,
                "rows": list(chosen),
            }
        )
    qualitative(
        panels,
        outputs["qualitative"],
        f"Test lesions ({label}): truth green, ellipse yellow, prediction red",
        figure_lesions,
    )
