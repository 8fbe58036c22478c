"""Tables 2-8 and the parameter table of the paper (Table 1 is in :mod:`lesionmtl.report.tables`)."""

from __future__ import annotations

import pandas as pd

from lesionmtl.architectures import ARCHITECTURES, BASELINE, PROPOSED, WITH_CLUSTER_HEAD, distinct_networks
from lesionmtl.report.runs import MODEL_NAMES
from lesionmtl.report.tables import HEADING, best_cells, mean_std, model_order, over_seeds, per_run_means, write_table

# Table 7 compares the decoders of the single-image architectures, in the paper's column order:
# U-Net before DeepLabV3+, single-task before multi-task.
DECODER_ORDER = ("U-Net", "DeepLabV3+")
BACKBONE_COLUMNS = sorted(
    (a for a in ARCHITECTURES.values() if not a.paired), key=lambda a: (a.cluster_head, DECODER_ORDER.index(a.decoder))
)
SUPERVISION_NAMES = {"grabcut": "GrabCut", "ellipse": "Ellipse", "full": "Fully-Supervised"}


def training_time(runs: pd.DataFrame, datasets: list[str], outputs: dict, data_label: str) -> pd.DataFrame:
    """Table 2: training time to convergence (the runs' own records), GPU or CPU hours."""
    runs = runs.assign(hours=runs["train_seconds"] / 3600.0, stopped=runs["stopped_early"].astype(float))
    summary = over_seeds(runs, ["dataset", "arch", "device"], ["hours", "epochs_run", "best_epoch", "stopped"])
    summary = model_order(summary, datasets)
    unit = {"cuda": "GPU hours", "cpu": "CPU hours"}
    display = pd.DataFrame(
        {
            "Dataset": summary["dataset"],
            "Model": summary["model"],
            "Time": [
                f"{mean_std(row, 'hours', 4)} {unit.get(row['device'], row['device'])}" for _, row in summary.iterrows()
            ],
            "Epochs": [mean_std(row, "epochs_run", 1) for _, row in summary.iterrows()],
            "Best epoch": [mean_std(row, "best_epoch", 1) for _, row in summary.iterrows()],
            "Stopped early": [
                f"{round(row['stopped_mean'] * row['seeds'])} of {row['seeds']}" for _, row in summary.iterrows()
            ],
        }
    )
    title = (
        f"Table 2 ({data_label}): training time until early stopping or the epoch budget, mean ± std over "
        "seeds; stopped early: runs that ended by patience (validation loss not improving) before the epoch budget"
    )
    write_table(display, summary, outputs, title)
    return summary


def supervision_tables(metrics: pd.DataFrame, datasets: list[str], outputs: dict[str, dict], data_label: str) -> None:
    """Tables 3-5: A1 and A1+L trained on GrabCut vs ellipse masks, one table per dataset."""
    columns = ["iou", "dice", "center_error", "perimeter_error"]
    summary = over_seeds(per_run_means(metrics), ["dataset", "arch", "supervision"], columns)
    summary = summary[summary["supervision"].isin(["grabcut", "ellipse"])]
    for dataset in datasets:
        rows = model_order(summary[summary["dataset"] == dataset], datasets)
        rows = rows.assign(_sup=rows["supervision"].map(list(SUPERVISION_NAMES).index)).sort_values(
            ["_sup"], kind="stable"
        )
        rows = rows.drop(columns="_sup").reset_index(drop=True)
        display = pd.DataFrame(
            {"Method": [f"{r.model} on {SUPERVISION_NAMES[r.supervision]}" for r in rows.itertuples()]}
        )
        for column in columns:
            display[HEADING[column]] = [mean_std(row, column) for _, row in rows.iterrows()]
        display.insert(0, "Dataset", dataset)
        bold = best_cells(rows, columns) if len(rows) else set()
        title = f"Tables 3-5 ({data_label}, {dataset}): training on GrabCut vs ellipse pseudo-masks (test split)"
        write_table(display, rows, outputs[dataset], title, bold)


def supervision_dice(
    metrics: pd.DataFrame, datasets: list[str], outputs: dict, data_label: str, reference: dict[str, str]
) -> None:
    """Table 6: Dice of GrabCut-, ellipse- and fully-supervised A1+L (A1 where A1+L is absent)."""
    summary = over_seeds(per_run_means(metrics), ["dataset", "arch", "supervision"], ["dice"])
    arch = PROPOSED if (summary["arch"] == PROPOSED).any() else BASELINE
    summary = summary[summary["arch"] == arch]
    rows = []
    for dataset in datasets:
        cells = {"Dataset": dataset + (" *" if reference.get(dataset) == "grabcut" else "")}
        for supervision, name in SUPERVISION_NAMES.items():
            match = summary[(summary["dataset"] == dataset) & (summary["supervision"] == supervision)]
            cells[name] = mean_std(match.iloc[0], "dice") if len(match) else "-"
        rows.append(cells)
    title = (
        f"Table 6 ({data_label}): Dice of {MODEL_NAMES[arch]} by supervision (test split). "
        "* no ground truth: GrabCut masks serve as ground truth, as in the paper for DeepLesion."
    )
    write_table(pd.DataFrame(rows), summary, outputs, title)


def backbone_dice(metrics: pd.DataFrame, datasets: list[str], outputs: dict, data_label: str) -> None:
    """Table 7: Dice of U-Net vs DeepLabV3+ with the same encoder."""
    summary = over_seeds(per_run_means(metrics), ["dataset", "arch"], ["dice"])
    rows = []
    for dataset in datasets:
        cells = {"Dataset": dataset}
        for arch in BACKBONE_COLUMNS:
            match = summary[(summary["dataset"] == dataset) & (summary["arch"] == arch.name)]
            if len(match):
                cells[f"{arch.display} ({arch.decoder})"] = mean_std(match.iloc[0], "dice")
        rows.append(cells)
    title = f"Table 7 ({data_label}): Dice of U-Net vs DeepLabV3+ backbones, same encoder (test split)"
    write_table(pd.DataFrame(rows).fillna("-"), summary, outputs, title)


def classification_accuracy(metrics: pd.DataFrame, datasets: list[str], outputs: dict, data_label: str) -> None:
    """Table 8: train and test accuracy of the cluster classifier of A1+L."""
    subset = metrics[metrics["arch"].isin(WITH_CLUSTER_HEAD) & metrics["split"].isin(["train", "test"])]
    per_run = (
        subset.groupby(["dataset", "arch", "seed", "split"])["cluster_correct"]
        .mean()
        .mul(100)
        .unstack("split")
        .reset_index()
    )
    summary = model_order(over_seeds(per_run, ["dataset", "arch"], ["train", "test"]), datasets)
    display = pd.DataFrame(
        {
            "Dataset": summary["dataset"],
            "Model": summary["model"],
            "Train": [mean_std(row, "train") for _, row in summary.iterrows()],
            "Test": [mean_std(row, "test") for _, row in summary.iterrows()],
        }
    )
    title = f"Table 8 ({data_label}): cluster classification accuracy (%) of the multi-task models"
    write_table(display, summary, outputs, title)


PAPER_K = {40: "LiTS", 45: "HAM10K", 190: "DeepLesion"}


def parameter_counts(encoders: list[str], cluster_counts: dict[str, int], outputs: dict) -> None:
    """Section 7.6: parameters of every model, counted on the built models, at the paper's K
    (ResNet101) and at each configured dataset's K."""
    import torch

    from lesionmtl.models import build_model, count_parameters  # torch: only this artefact needs it

    def parameters(arch: str, encoder: str, **head: int) -> int:
        # built on the meta device: shapes without weights, the same count ~5x faster
        with torch.device("meta"):
            return count_parameters(build_model(arch, encoder=encoder, **head))

    rows = []
    for encoder in dict.fromkeys(encoders):
        for arch in distinct_networks(cluster_head=False):
            rows.append(
                {
                    "Encoder": encoder,
                    "Model": MODEL_NAMES[arch],
                    "K": "-",
                    "Used for": "all",
                    "Parameters": parameters(arch, encoder),
                }
            )
        used_for = {k: "paper " + name for k, name in PAPER_K.items()} if encoder == "resnet101" else {}
        for dataset, k in cluster_counts.items():
            used_for[k] = ", ".join(filter(None, [used_for.get(k, ""), dataset]))
        for arch in distinct_networks(cluster_head=True):
            for k, names in sorted(used_for.items()):
                count = parameters(arch, encoder, n_clusters=k)
                rows.append(
                    {
                        "Encoder": encoder,
                        "Model": MODEL_NAMES[arch],
                        "K": str(k),
                        "Used for": names,
                        "Parameters": count,
                    }
                )
    raw = pd.DataFrame(rows)
    display = raw.assign(Parameters=raw["Parameters"].map("{:,}".format))
    title = "Number of model parameters (paper section 7.6: A1 45,669,713; ACoseg 64,554,577 with ResNet101)"
    write_table(display, raw, outputs, title)
