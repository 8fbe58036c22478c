"""Lesion diameters as radiologists use them: the long and short axes measured on each model's
test predictions against those measured on the reference masks (Chu et al. report overlap only)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lesionmtl.report.figures import _save  # noqa: E402
from lesionmtl.report.runs import MODEL_NAMES, MODEL_ORDER  # noqa: E402
from lesionmtl.report.tables import model_order, write_table  # noqa: E402

ERRORS = ("abs_err_long_px", "abs_err_short_px", "abs_err_long_mm", "abs_err_short_mm")


def diameter_summary(metrics: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """Per dataset and model (ellipse supervision, all seeds pooled): median absolute error of
    the long and short diameter over the test lesions, and how many lesions it is over."""
    test = metrics[(metrics["split"] == "test") & (metrics["supervision"] == "ellipse")]
    grouped = test.groupby(["dataset", "arch"])
    summary = grouped[list(ERRORS)].median()
    summary["n_lesions"] = grouped["lesion_id"].nunique()
    summary["n_measured"] = grouped["abs_err_long_px"].count()
    summary["seeds"] = grouped["seed"].nunique()
    summary = summary.reset_index()
    return model_order(summary[summary["dataset"].isin(datasets)], datasets)


def _cell(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.2f}"


def write_diameter_table(metrics: pd.DataFrame, datasets: list[str], outputs: dict, data_label: str) -> pd.DataFrame:
    summary = diameter_summary(metrics, datasets)
    display = pd.DataFrame(
        {
            "Dataset": summary["dataset"],
            "Model": summary["model"],
            "Long axis (px)": summary["abs_err_long_px"].map(_cell),
            "Short axis (px)": summary["abs_err_short_px"].map(_cell),
            "Long axis (mm)": summary["abs_err_long_mm"].map(_cell),
            "Short axis (mm)": summary["abs_err_short_mm"].map(_cell),
            "Lesions": [f"{m} of {n}" for m, n in zip(summary["n_measured"], summary["n_lesions"])],
        }
    )
    title = (
        f"RECIST diameters ({data_label}): median absolute error of the long and short axis measured on the "
        "prediction vs on the reference mask, test split, ellipse supervision, seeds pooled "
        "(mm where the spacing is known; lesions: measured of all, an empty prediction has no diameter)"
    )
    write_table(display, summary, outputs, title)
    return summary


def bland_altman(metrics: pd.DataFrame, datasets: list[str], outs: list[Path], title: str) -> None:
    """Difference (predicted - reference) vs mean of the long diameter, one panel per dataset,
    one colour per model, with each model's bias and 95 % limits of agreement."""
    test = metrics[(metrics["split"] == "test") & (metrics["supervision"] == "ellipse")]
    test = test.dropna(subset=["long_px_pred", "long_px_ref"])
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.6), squeeze=False)
    colors = dict(zip(MODEL_ORDER, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, dataset in zip(axes[0], datasets):
        rows = test[test["dataset"] == dataset]
        for arch in [a for a in MODEL_ORDER if a in set(rows["arch"])]:
            r = rows[rows["arch"] == arch]
            mean = (r["long_px_pred"] + r["long_px_ref"]) / 2
            diff = r["long_px_pred"] - r["long_px_ref"]
            bias, spread = diff.mean(), 1.96 * diff.std(ddof=1) if len(diff) > 1 else 0.0
            label = f"{MODEL_NAMES[arch]}: bias {bias:+.1f}, LoA ±{spread:.1f}"
            ax.scatter(mean, diff, s=10, alpha=0.6, color=colors[arch], label=label)
            ax.axhline(bias, color=colors[arch], lw=1)
            for limit in (bias - spread, bias + spread):
                ax.axhline(limit, color=colors[arch], lw=0.8, ls="--")
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("mean long diameter (px)")
        if len(rows):
            ax.legend(fontsize=6)
        else:
            ax.text(0.5, 0.5, "no measured test lesion", ha="center", transform=ax.transAxes)
    axes[0, 0].set_ylabel("predicted - reference (px)")
    fig.suptitle(title, fontsize=9)
    _save(fig, outs)
