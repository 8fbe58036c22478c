"""The paper's tables, from per-lesion metrics: summaries over seeds and their renderings.

Every table is written three ways from one frame of display strings: Markdown (to read),
LaTeX (to paste into a paper) and CSV (the raw numbers, to compute with).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lesionmtl.architectures import BASELINE, COSEG_BASELINE, PROPOSED
from lesionmtl.io import save_text
from lesionmtl.metrics import LENGTH_METRICS
from lesionmtl.report.runs import MODEL_NAMES, MODEL_ORDER

RUN_KEYS = ["dataset", "arch", "supervision", "k", "alpha", "seed"]
# (column, heading, scale, higher is better)
METRICS = (
    ("iou", "IoU", 100.0, True),
    ("dice", "Dice", 100.0, True),
    ("vs", "VS", 100.0, True),
    ("center_error", "Center Error", 1.0, False),
    ("perimeter_error", "Perimeter Error", 1.0, False),
    ("avd", "AVD", 1.0, False),
    ("hausdorff", "Hausdorff", 1.0, False),
    ("hd95", "HD95", 1.0, False),
)
# The length metrics again in mm, where the data has a pixel spacing (DeepLesion, LiTS).
MM_METRICS = tuple(
    (f"{column}_mm", f"{heading} (mm)", 1.0, False) for column, heading, _, _ in METRICS if column in LENGTH_METRICS
)
SCALE = {column: scale for column, _, scale, _ in METRICS + MM_METRICS}
HEADING = {column: heading for column, heading, _, _ in METRICS + MM_METRICS}
HIGHER_IS_BETTER = {column: higher for column, _, _, higher in METRICS + MM_METRICS}


def per_run_means(metrics: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Mean of each metric over the lesions of ``split`` (in table units), one row per run; the
    mm columns are nan for data without a pixel spacing."""
    subset = metrics[metrics["split"] == split]
    subset = subset.assign(**{column: np.nan for column in SCALE if column not in subset})
    grouped = subset.groupby(RUN_KEYS)
    means = grouped[list(SCALE)].mean() * pd.Series(SCALE)
    means["n_empty"] = grouped["empty_pred"].sum()
    means["n_lesions"] = grouped.size()
    return means.reset_index()


def over_seeds(runs: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """Mean and sample std over seeds of ``columns``, per ``by`` group (std 0 for one seed)."""
    grouped = runs.groupby(by, sort=False)
    out = grouped[columns].mean().add_suffix("_mean")
    out = out.join(grouped[columns].std(ddof=1).fillna(0.0).add_suffix("_std"))
    out["seeds"] = grouped.size()
    return out.reset_index()


def model_order(frame: pd.DataFrame, datasets: list[str] | None = None) -> pd.DataFrame:
    """Rows by dataset (in ``datasets`` order, if given), then in the paper's model order,
    with the display name of each model."""
    keys = {"_model": frame["arch"].map(MODEL_ORDER.index)}
    if datasets is not None:
        keys["_dataset"] = frame["dataset"].map(datasets.index)
    frame = frame.assign(model=frame["arch"].map(MODEL_NAMES), **keys)
    by = ["_dataset", "_model"] if datasets is not None else ["_model"]
    return frame.sort_values(by, kind="stable").drop(columns=list(keys)).reset_index(drop=True)


def mean_std(row: pd.Series, column: str, digits: int = 2) -> str:
    text = f"{row[f'{column}_mean']:.{digits}f}"
    return text + (f"±{row[f'{column}_std']:.{digits}f}" if row.get("seeds", 1) > 1 else "")


# -- rendering ------------------------------------------------------------------------------
def _tex(text: str) -> str:
    return text.replace("%", "\\%").replace("±", "$\\pm$").replace("_", "\\_")


def render(display: pd.DataFrame, fmt: str, title: str, bold: set[tuple[int, str]] = frozenset()) -> str:
    """Markdown or LaTeX table from a frame of strings; ``bold`` holds (row position, column)."""
    escape = _tex if fmt == "tex" else str
    emphasise = (lambda t: f"\\textbf{{{t}}}") if fmt == "tex" else (lambda t: f"**{t}**")
    headings = [escape(str(c)) for c in display.columns]
    rows = [
        [emphasise(escape(str(v))) if (i, c) in bold else escape(str(v)) for c, v in row.items()]
        for i, (_, row) in enumerate(display.iterrows())
    ]
    if fmt == "md":
        lines = [f"**{title}**", "", "| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"
    lines = [
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{escape(title)}}}",
        "\\begin{tabular}{ll" + "r" * (len(headings) - 2) + "}",
        "\\toprule",
        " & ".join(headings) + " \\\\",
        "\\midrule",
    ]
    lines += [" & ".join(r) + " \\\\" for r in rows]
    return "\n".join(lines + ["\\bottomrule", "\\end{tabular}", "\\end{table}"]) + "\n"


def write_table(display: pd.DataFrame, raw: pd.DataFrame, outputs: dict, title: str, bold: set = frozenset()) -> None:
    """Write ``outputs['md']``, ``['tex']`` (from ``display``) and ``['csv']`` (from ``raw``)."""
    save_text(outputs["md"], render(display, "md", title, bold))
    save_text(outputs["tex"], render(display, "tex", title, bold))
    save_text(outputs["csv"], raw.to_csv(index=False))


def best_cells(raw: pd.DataFrame, columns: list[str], group: str = "dataset") -> set[tuple[int, str]]:
    """(row position, heading) of the best mean per group and metric."""
    best = set()
    positions = pd.Series(range(len(raw)), index=raw.index)
    for _, rows in raw.groupby(group, sort=False):
        for column in columns:
            values = rows[f"{column}_mean"]
            if values.notna().any():
                index = values.idxmax() if HIGHER_IS_BETTER[column] else values.idxmin()
                best.add((int(positions[index]), HEADING[column]))
    return best


# -- Table 1 --------------------------------------------------------------------------------
def wilcoxon_p(
    metrics: pd.DataFrame, dataset: str, arch: str, baseline: str, column: str = "dice"
) -> tuple[float, int]:
    """Paired Wilcoxon signed-rank test of the metric averaged per *group*, and the number of groups.

    Lesions of one group (adjacent slices of one LiTS tumour, images of one HAM10000 lesion,
    lesions of one DeepLesion patient: ``group_id``) are not independent, so pairing single
    lesions would make the p-value too small; each group's mean over its test lesions and all
    seeds is one pair.
    """
    subset = metrics[(metrics["dataset"] == dataset) & (metrics["split"] == "test")]
    per_group = subset.groupby(["arch", "group_id"])[column].mean().unstack(0)
    if arch not in per_group or baseline not in per_group:
        return float("nan"), 0
    pairs = per_group[[arch, baseline]].dropna()
    differences = pairs[arch] - pairs[baseline]
    if len(pairs) < 2 or not differences.any():
        return float("nan"), len(pairs)
    from scipy.stats import wilcoxon  # ~0.5 s to import: only Table 1 tests, the other report jobs need not

    return float(wilcoxon(pairs[arch], pairs[baseline]).pvalue), len(pairs)


def table1(metrics: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """Dataset x model: mean and std over seeds of every metric, % change vs A1, p-values."""
    columns = list(SCALE)
    runs = per_run_means(metrics)
    summary = over_seeds(runs, ["dataset", "arch"], columns + ["n_empty"])
    summary = model_order(summary[summary["dataset"].isin(datasets)], datasets)
    summary["n_empty"] = (summary["n_empty_mean"] * summary["seeds"]).round().astype(int)
    summary = summary.drop(columns=["n_empty_mean", "n_empty_std"])
    for column in columns:
        base = summary["dataset"].map(summary[summary["arch"] == BASELINE].set_index("dataset")[f"{column}_mean"])
        with np.errstate(divide="ignore", invalid="ignore"):
            change = 100.0 * (summary[f"{column}_mean"] - base) / base
        summary[f"{column}_change_pct"] = np.where((summary["arch"] == BASELINE) | (base == 0), np.nan, change)
    dice_vs_baseline = seed_noise(summary, "dice")
    summary["dice_diff_vs_a1"], summary["dice_diff_noise"] = dice_vs_baseline["diff"], dice_vs_baseline["noise"]
    for baseline in (BASELINE, COSEG_BASELINE):
        tests = [
            wilcoxon_p(metrics, row.dataset, row.arch, baseline) if row.arch == PROPOSED else (np.nan, 0)
            for row in summary.itertuples()
        ]
        summary[f"dice_p_vs_{baseline}"] = [p for p, _ in tests]
        summary[f"dice_groups_vs_{baseline}"] = [n for _, n in tests]
    return summary


def seed_noise(summary: pd.DataFrame, column: str, reference: pd.Series | None = None) -> pd.DataFrame:
    """Each row's difference from its reference row in ``column`` (its mean over seeds minus the
    reference's) and the seed noise of that difference: 2 standard errors,
    ``2 * sqrt(sd^2/n + sd_ref^2/n_ref)`` from the seed spreads (~95% if seeds vary normally); NaN
    where a row has no reference or a side has one seed. ``reference``: each row's reference row
    (an index label of ``summary``, NaN for none); default the A1 row of its dataset."""
    if reference is None:
        a1 = summary[summary["arch"] == BASELINE]
        reference = summary["dataset"].map(pd.Series(a1.index, index=a1["dataset"])).where(summary["arch"] != BASELINE)
    mean, sd, n = (reference.map(summary[key]) for key in (f"{column}_mean", f"{column}_std", "seeds"))
    diff = summary[f"{column}_mean"] - mean
    noise = 2 * np.sqrt(summary[f"{column}_std"] ** 2 / summary["seeds"] + sd**2 / n)
    return pd.DataFrame({"diff": diff, "noise": noise.where((summary["seeds"] > 1) & (n > 1) & diff.notna())})


def noise_cell(diff: float, noise: float) -> str:
    if np.isnan(diff):
        return "-"
    if np.isnan(noise):
        return f"{diff:+.2f} (one seed: noise unknown)"
    verdict = "beyond" if abs(diff) > noise else "within"
    return f"{diff:+.2f} ± {noise:.2f}: {verdict} seed noise"


def table1_display(summary: pd.DataFrame) -> pd.DataFrame:
    """Display strings; the mm columns only where some dataset has a pixel spacing."""
    shown = list(METRICS) + [m for m in MM_METRICS if summary[f"{m[0]}_mean"].notna().any()]
    rows = []
    for _, row in summary.iterrows():
        cells = {"Dataset": row["dataset"], "Model": row["model"]}
        for column, heading, _, _ in shown:
            if np.isnan(row[f"{column}_mean"]):
                cells[heading] = "-"
                continue
            change = row[f"{column}_change_pct"]
            cells[heading] = mean_std(row, column) + (f" ({change:+.2f}%)" if not np.isnan(change) else "")
        cells["Empty preds"] = str(row["n_empty"])
        cells["Seeds"] = str(row["seeds"])
        cells["Dice vs A1 ± seed noise"] = noise_cell(row["dice_diff_vs_a1"], row["dice_diff_noise"])
        p_values = [
            f"vs {name} {row[f'dice_p_vs_{b}']:.2g} ({row[f'dice_groups_vs_{b}']} groups)"
            for b, name in ((b, MODEL_NAMES[b]) for b in (BASELINE, COSEG_BASELINE))
            if not np.isnan(row[f"dice_p_vs_{b}"])
        ]
        cells["Dice p (Wilcoxon, per group)"] = ", ".join(p_values) or "-"
        rows.append(cells)
    return pd.DataFrame(rows)


def write_table1(metrics: pd.DataFrame, datasets: list[str], outputs: dict, data_label: str) -> pd.DataFrame:
    summary = table1(metrics, datasets)
    title = (
        f"Table 1 ({data_label}): segmentation quality on the test split, mean ± std over seeds, "
        "% change vs A1; best in bold. IoU, Dice, VS in %, higher is better; distances in pixels "
        "of the patch, and in mm where the data has a pixel spacing, lower is better. Dice vs A1: "
        "the difference in Dice points and its seed noise, 2 standard errors from the two models' "
        "spreads over seeds (a difference within it is what another set of seeds could undo). p: paired "
        "Wilcoxon signed-rank test of A1+L's Dice against the baseline's, on the mean Dice of each "
        "group (patient, volume or lesion_id: lesions of one group are not independent) over its "
        "test lesions and all seeds."
    )
    shown = [m[0] for m in METRICS + MM_METRICS if summary[f"{m[0]}_mean"].notna().any()]
    write_table(table1_display(summary), summary, outputs, title, best_cells(summary, shown))
    return summary
