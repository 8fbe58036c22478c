"""Table 1 of the paper: segmentation quality per dataset and model, mean ± std over seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lesionmtl.io import save_text
from lesionmtl.report.runs import MODEL_NAMES, MODEL_ORDER

# (column, heading, scale, higher is better)
TABLE1_METRICS = (
    ("iou", "IoU", 100.0, True),
    ("dice", "Dice", 100.0, True),
    ("vs", "VS", 100.0, True),
    ("center_error", "Center Error", 1.0, False),
    ("perimeter_error", "Perimeter Error", 1.0, False),
    ("avd", "AVD", 1.0, False),
    ("hausdorff", "Hausdorff", 1.0, False),
)


def per_run_means(metrics: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Mean of each metric over the lesions of ``split``, one row per run."""
    keys = ["dataset", "arch", "supervision", "k", "alpha", "seed"]
    subset = metrics[metrics["split"] == split]
    means = subset.groupby(keys)[[m[0] for m in TABLE1_METRICS]].mean()
    means["n_empty"] = subset.groupby(keys)["empty_pred"].sum()
    means["n_lesions"] = subset.groupby(keys).size()
    return means.reset_index()


def table1(metrics: pd.DataFrame, datasets: list[str], supervision: str = "ellipse") -> pd.DataFrame:
    """Long table: dataset, model, and per metric the mean, std over seeds and % change vs A1."""
    runs = per_run_means(metrics)
    runs = runs[runs["supervision"] == supervision]
    rows = []
    for dataset in datasets:
        for arch in MODEL_ORDER:
            seeds = runs[(runs["dataset"] == dataset) & (runs["arch"] == arch)]
            if seeds.empty:
                continue
            row = {"dataset": dataset, "model": MODEL_NAMES[arch], "arch": arch, "seeds": len(seeds)}
            for column, _, scale, _ in TABLE1_METRICS:
                values = seeds[column].to_numpy() * scale
                row[f"{column}_mean"] = float(np.mean(values))
                row[f"{column}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            row["n_empty"] = int(seeds["n_empty"].sum())
            row["n_test_lesions"] = int(seeds["n_lesions"].iloc[0])
            rows.append(row)
    table = pd.DataFrame(rows)
    for column, *_ in TABLE1_METRICS:
        baseline = table[table["arch"] == "a1"].set_index("dataset")[f"{column}_mean"]
        base = table["dataset"].map(baseline)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = 100.0 * (table[f"{column}_mean"] - base) / base
        # No change is defined against A1 itself, nor against a baseline of exactly zero.
        table[f"{column}_change_pct"] = np.where((table["arch"] == "a1") | (base == 0), np.nan, change)
    return table


def _cell(row: pd.Series, column: str, bold: bool, fmt: str) -> str:
    text = f"{row[f'{column}_mean']:.2f}±{row[f'{column}_std']:.2f}"
    change = row[f"{column}_change_pct"]
    if not np.isnan(change):
        text += f" ({change:+.2f}%)"
    if bold:
        text = {"md": f"**{text}**", "tex": f"\\textbf{{{text}}}"}[fmt]
    return text


def _best(table: pd.DataFrame) -> set[tuple[int, str]]:
    """(row index, metric) pairs holding the best mean within their dataset."""
    best = set()
    for _, group in table.groupby("dataset"):
        for column, _, _, higher in TABLE1_METRICS:
            values = group[f"{column}_mean"]
            best.add((values.idxmax() if higher else values.idxmin(), column))
    return best


def render(table: pd.DataFrame, fmt: str, title: str) -> str:
    """Markdown or LaTeX rendering shaped like the paper's Table 1."""
    best = _best(table)
    headings = ["Dataset", "Model", *[m[1] for m in TABLE1_METRICS], "Empty preds", "Seeds"]
    lines = []
    for index, row in table.iterrows():
        cells = [row["dataset"], row["model"]]
        cells += [_cell(row, column, (index, column) in best, fmt) for column, *_ in TABLE1_METRICS]
        cells += [str(row["n_empty"]), str(row["seeds"])]
        lines.append(cells)
    if fmt == "md":
        out = [f"**{title}**", "", "| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out) + "\n"
    escape = lambda s: s.replace("%", "\\%").replace("±", "$\\pm$").replace("_", "\\_")  # noqa: E731
    out = [
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{escape(title)}}}",
        "\\begin{tabular}{ll" + "r" * (len(headings) - 2) + "}",
        "\\toprule",
        " & ".join(headings) + " \\\\",
        "\\midrule",
    ]
    out += [" & ".join(escape(c) for c in cells) + " \\\\" for cells in lines]
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(out) + "\n"


def write_table1(table: pd.DataFrame, out_md: Path, out_tex: Path, out_csv: Path, data_label: str) -> None:
    title = (
        f"Table 1 ({data_label}): segmentation quality on the test split, mean ± std over seeds, "
        "% change vs A1. IoU, Dice, VS in %, higher is better; distances in pixels, lower is better."
    )
    save_text(out_md, render(table, "md", title))
    save_text(out_tex, render(table, "tex", title))
    save_text(out_csv, table.to_csv(index=False))
