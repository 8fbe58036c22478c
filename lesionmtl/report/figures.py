"""Figures: qualitative overlays (paper Fig. 4/6) and training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lesionmtl.io import atomic_path  # noqa: E402
from lesionmtl.report.runs import MODEL_NAMES, MODEL_ORDER  # noqa: E402


def _save(fig: plt.Figure, outs: list[Path]) -> None:
    """Write one drawn figure to every path (PNG and PDF), each atomically."""
    for path in outs:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format=Path(path).suffix.lstrip("."))
    plt.close(fig)


def _outline(ax: plt.Axes, mask: np.ndarray, color: str) -> None:
    if mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=1.2)


def qualitative(panels: list[dict], outs: list[Path], title: str, n_lesions: int) -> None:
    """One block of rows per dataset: image, truth, ellipse pseudo-mask, then each model's prediction.

    ``panels``: per dataset ``{"dataset", "images", "truth", "ellipse", "predictions": {arch: masks},
    "rows": patch rows to show}``; the same lesions are shown for every model.
    """
    columns = ["Image", "Truth", "Ellipse"]
    archs = [a for a in MODEL_ORDER if any(a in p["predictions"] for p in panels)]
    columns += [MODEL_NAMES[a] for a in archs]
    n_rows = sum(min(n_lesions, len(p["rows"])) for p in panels)
    fig, axes = plt.subplots(
        n_rows, len(columns), figsize=(1.6 * len(columns), 1.6 * n_rows + 0.6), squeeze=False, layout="constrained"
    )
    r = 0
    for panel in panels:
        for row in panel["rows"][:n_lesions]:
            image = panel["images"][row]
            ax_row = axes[r]
            ax_row[0].imshow(image)
            ax_row[0].set_ylabel(panel["dataset"], fontsize=7)
            for ax, (mask, color) in zip(
                ax_row[1:],
                [(panel["truth"][row], "lime"), (panel["ellipse"][row], "yellow")]
                + [(panel["predictions"][a][row] if a in panel["predictions"] else None, "red") for a in archs],
            ):
                ax.imshow(image)
                if mask is not None:
                    _outline(ax, mask, color)
            r += 1
    for ax, name in zip(axes[0], columns):
        ax.set_title(name, fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    _save(fig, outs)


def training_curves(histories: pd.DataFrame, outs: list[Path], title: str) -> None:
    """Validation segmentation loss and Dice per epoch, one panel pair per dataset."""
    datasets = list(dict.fromkeys(histories["dataset"]))
    fig, axes = plt.subplots(2, len(datasets), figsize=(4 * len(datasets), 6), squeeze=False)
    colors = dict(zip(MODEL_ORDER, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for col, dataset in enumerate(datasets):
        subset = histories[histories["dataset"] == dataset]
        for (arch, supervision, seed), run in subset.groupby(["arch", "supervision", "seed"]):
            label = f"{MODEL_NAMES[arch]} ({supervision})" if seed == subset["seed"].min() else None
            axes[0, col].plot(run["epoch"], run["val_seg_loss"], color=colors[arch], alpha=0.7, label=label)
            axes[1, col].plot(run["epoch"], run["val_dice"], color=colors[arch], alpha=0.7)
        axes[0, col].set_title(dataset, fontsize=9)
        axes[1, col].set_xlabel("epoch")
        axes[0, col].legend(fontsize=7)
    axes[0, 0].set_ylabel("validation BCE")
    axes[1, 0].set_ylabel("validation Dice (vs supervision)")
    fig.suptitle(title, fontsize=10)
    _save(fig, outs)


def sweep(summary: pd.DataFrame, parameter: str, label: str, outs: list[Path], title: str) -> None:
    """Dice (mean ± std over seeds) as a function of one parameter, one line per dataset."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for dataset, rows in summary.groupby("dataset", sort=False):
        rows = rows.sort_values(parameter)
        ax.errorbar(rows[parameter], rows["dice_mean"], yerr=rows["dice_std"], marker="o", capsize=3, label=dataset)
    ax.set_xlabel(label)
    ax.set_ylabel("Dice (%)")
    ax.set_xscale("log" if summary[parameter].max() / max(summary[parameter].min(), 1e-9) > 20 else "linear")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    _save(fig, outs)


def clusters_by_size(clusters: pd.DataFrame, lesions: pd.DataFrame, rows: int) -> pd.DataFrame:
    """Up to ``rows`` clusters spread evenly from the smallest to the largest (median long axis of
    the training members), with their median axes and number of training members."""
    train = clusters[clusters["split"] == "train"].merge(lesions[["lesion_id", "major", "minor"]], on="lesion_id")
    sizes = train.groupby("cluster").agg(major=("major", "median"), minor=("minor", "median"), n=("lesion_id", "size"))
    sizes = sizes.sort_values("major").reset_index()
    chosen = np.unique(np.round(np.linspace(0, len(sizes) - 1, min(rows, len(sizes)))).astype(int))
    return sizes.iloc[chosen].reset_index(drop=True)


def cluster_gallery(
    images: np.ndarray,
    ellipses: np.ndarray,
    clusters: pd.DataFrame,
    lesions: pd.DataFrame,
    outs: list[Path],
    title: str,
    per_cluster: int = 6,
    rows: int = 10,
) -> None:
    """Figure 3: ``rows`` clusters chosen by size, one row each, smallest first, labelled with their
    median axes; the most typical training patches of each with their RECIST ellipses."""
    train = clusters.merge(lesions[["lesion_id", "patch_index"]], on="lesion_id")
    train = train[train["split"] == "train"].sort_values("distance")  # the most typical first
    shown = clusters_by_size(clusters, lesions, rows)
    fig, axes = plt.subplots(
        len(shown),
        per_cluster,
        figsize=(1.2 * per_cluster + 1.2, 1.2 * len(shown) + 0.5),
        squeeze=False,
        layout="constrained",
    )
    for r, size in enumerate(shown.itertuples()):
        members = train[train["cluster"] == size.cluster]["patch_index"].to_numpy()[:per_cluster]
        for j, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(members):
                ax.imshow(images[members[j]])
                _outline(ax, ellipses[members[j]], "yellow")
        label = f"cluster {size.cluster}\n{size.major:.0f} x {size.minor:.0f} px\nn = {size.n}"
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=9)
    _save(fig, outs)


def pseudolabel_quality(facts: dict[str, pd.DataFrame], outs: list[Path], title: str) -> None:
    """Dice of the ellipse and GrabCut pseudo-masks against the ground truth, per dataset."""
    datasets = [name for name, table in facts.items() if "dice_ellipse_gt" in table]
    fig, ax = plt.subplots(figsize=(1.8 * max(len(datasets), 1) + 2, 3.5))
    data, labels = [], []
    for name in datasets:
        data += [facts[name]["dice_ellipse_gt"], facts[name]["dice_grabcut_gt"]]
        labels += [f"{name}\nellipse", f"{name}\nGrabCut"]
    if data:
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=7)
    else:
        ax.text(0.5, 0.5, "no dataset with ground truth", ha="center", transform=ax.transAxes)
    ax.set_ylabel("Dice vs ground truth")
    ax.set_title(title, fontsize=9)
    _save(fig, outs)
