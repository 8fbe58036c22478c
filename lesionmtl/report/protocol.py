"""The protocol study's table: the released code's protocol and each of our fixes on it, measured.

One row per derived dataset (``dataset@variant``, lesionmtl.config) and model: Dice and HD95 on
the test split, empty predictions, the training cost per image, and the difference in Dice from
the variant it is compared with, beside the seed noise of that difference.
"""

from __future__ import annotations

import pandas as pd

from lesionmtl.report.tables import (
    RUN_KEYS,
    mean_std,
    model_order,
    noise_cell,
    over_seeds,
    per_run_means,
    seed_noise,
    write_table,
)

COLUMNS = ["dice", "dice_small", "hd95", "n_empty", "s_per_image", "epochs_run"]


def small_lesion_dice(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per run, the mean test Dice (%) of the smallest third of its dataset's test lesions, by the
    reference mask's long diameter: where a model that cannot resolve small lesions falls behind."""
    test = metrics[metrics["split"] == "test"]
    cut = test.groupby("dataset")["long_px_ref"].transform(lambda lengths: lengths.quantile(1 / 3))
    small = test[test["long_px_ref"] <= cut]
    return (100.0 * small.groupby(RUN_KEYS)["dice"].mean()).rename("dice_small").reset_index()


def protocol_summary(metrics: pd.DataFrame, records: pd.DataFrame, variants: dict[str, dict]) -> pd.DataFrame:
    """Mean and std over seeds per derived dataset and model, in the order of ``variants``
    ({derived dataset: {base, variant, changes, compare_with}}), and the Dice difference from the
    compared variant with its seed noise."""
    runs = per_run_means(metrics).merge(small_lesion_dice(metrics), on=RUN_KEYS, how="left")
    cost = records.assign(s_per_image=records["train_seconds"] / (records["epochs_run"] * records["n_train"]))
    runs = runs.merge(cost[[*RUN_KEYS, "s_per_image", "epochs_run"]], on=RUN_KEYS, how="left")
    datasets = list(variants)
    summary = over_seeds(runs[runs["dataset"].isin(datasets)], ["dataset", "arch"], COLUMNS)
    summary = model_order(summary, datasets)
    for key in ("base", "variant", "changes", "compare_with"):
        summary[key] = summary["dataset"].map({ds: facts[key] for ds, facts in variants.items()})
    row_of = pd.Series(summary.index, index=pd.MultiIndex.from_frame(summary[["dataset", "arch"]]))
    reference = pd.Series(
        [row_of.get((against, arch)) for against, arch in zip(summary["compare_with"], summary["arch"])],
        index=summary.index,
        dtype=float,
    )
    noise = seed_noise(summary, "dice", reference)
    summary["dice_diff"], summary["dice_diff_noise"] = noise["diff"], noise["noise"]
    return summary


def write_protocol_table(
    metrics: pd.DataFrame, records: pd.DataFrame, variants: dict[str, dict], outputs: dict, data_label: str
) -> pd.DataFrame:
    summary = protocol_summary(metrics, records, variants)
    compared = {
        ds: variants[facts["compare_with"]]["variant"] for ds, facts in variants.items() if facts["compare_with"]
    }
    display = pd.DataFrame(
        {
            "Dataset": summary["base"],
            "Variant": summary["variant"],
            "Changes": summary["changes"],
            "Model": summary["model"],
            "Dice": [mean_std(row, "dice") for _, row in summary.iterrows()],
            "Dice vs compared ± seed noise": [
                "-" if row.dataset not in compared or pd.isna(row.dice_diff) else
                f"vs {compared[row.dataset]}: {noise_cell(row.dice_diff, row.dice_diff_noise)}"
                for row in summary.itertuples()
            ],
            "Dice, smallest third": [mean_std(row, "dice_small") for _, row in summary.iterrows()],
            "HD95": [mean_std(row, "hd95") for _, row in summary.iterrows()],
            "Empty preds / run": [f"{row['n_empty_mean']:.1f}" for _, row in summary.iterrows()],
            "s / training image": [f"{row['s_per_image_mean']:.4f}" for _, row in summary.iterrows()],
            "Epochs": [mean_std(row, "epochs_run", 1) for _, row in summary.iterrows()],
            "Seeds": summary["seeds"].astype(str),
        }
    )  # fmt: skip
    title = (
        f"Protocol study ({data_label}): each variant is the study's base protocol with the changes shown, "
        "on its own copy of the dataset (same raw files). Dice (%) and HD95 (px) on the test split, mean ± "
        "std over seeds; Dice vs compared: the difference in Dice points from the variant named, with its "
        "seed noise (2 standard errors from the two spreads); smallest third: the Dice of the third of the test "
        "lesions with the shortest reference long diameter; empty preds: test lesions predicted empty, "
        "mean per run; s / training image: training seconds per image and epoch, validation included."
    )
    write_table(display, summary, outputs, title)
    return summary
