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


def _save(fig: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=Path(path).suffix.lstrip("."))
    plt.close(fig)


def _outline(ax: plt.Axes, mask: np.ndarray, color: str) -> None:
    if mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=1.2)


def qualitative(panels: list[dict], out: Path, title: str, n_lesions: int) -> None:
    """One block of rows per dataset: image, truth, ellipse pseudo-mask, then each model's prediction.

    ``panels``: per dataset ``{"dataset", "images", "truth", "ellipse", "predictions": {arch: masks},
    "rows": patch rows to show}``; the same lesions are shown for every model.
    """
    columns = ["Image", "Truth", "Ellipse"]
    archs = [a for a in MODEL_ORDER if any(a in p["predictions"] for p in panels)]
    columns += [MODEL_NAMES[a] for a in archs]
    n_rows = sum(min(n_lesions, len(p["rows"])) for p in panels)
    fig, axes = plt.subplots(n_rows, len(columns), figsize=(1.6 * len(columns), 1.6 * n_rows + 0.6), squeeze=False)
    r = 0
    for panel in panels:
        for row in panel["rows"][:n_lesions]:
            image = panel["images"][row]
            ax_row = axes[r]
            ax_row[0].imshow(image)
            ax_row[0].set_ylabel(panel["dataset"], fontsize=7)
            for ax, (mask, color) in zip(
                ax_row[1:], [(panel["truth"][row], "lime"), (panel["ellipse"][row], "yellow")]
                + [(panel["predictions"][a][row] if a in panel["predictions"] else None, "red") for a in archs]
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
    _save(fig, out)


def training_curves(histories: pd.DataFrame, out: Path, title: str) -> None:
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
    _save(fig, out)
