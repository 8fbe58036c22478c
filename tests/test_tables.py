"""Table 1 from per-lesion metrics: the statistics respect the data's groups (issue 11, point 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from lesionmtl.datasets.ingest import ingest
from lesionmtl.datasets.synthetic import write_synthetic
from lesionmtl.report.data_summary import data_summary
from lesionmtl.report.figures import cluster_gallery, clusters_by_size
from lesionmtl.report.tables import table1, table1_display, wilcoxon_p


def _metrics(n_groups: int, per_group: int, spacing: bool, dataset: str = "ct", seed: int = 0) -> pd.DataFrame:
    """Test-split metrics of A1 and A1+L, two seeds: ``per_group`` identical lesions per group
    (as adjacent slices of one tumour are nearly identical)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.6, 0.8, n_groups)
    gain = rng.normal(0.02, 0.04, n_groups)
    rows = []
    for arch, delta in (("a1", 0.0), ("a1l", 1.0)):
        for seed_ in (0, 1):
            for g in range(n_groups):
                for j in range(per_group):
                    dice = base[g] + delta * gain[g]
                    row = {
                        "dataset": dataset,
                        "arch": arch,
                        "supervision": "ellipse",
                        "k": 8 if arch == "a1l" else 0,
                        "alpha": 50.0,
                        "seed": seed_,
                        "split": "test",
                        "lesion_id": f"g{g}_{j}",
                        "group_id": f"g{g}",
                        "iou": dice / (2 - dice),
                        "dice": dice,
                        "vs": 0.9,
                        "center_error": 2.0,
                        "perimeter_error": 5.0,
                        "avd": 1.5,
                        "hausdorff": 6.0,
                        "hd95": 4.0,
                        "empty_pred": False,
                    }
                    if spacing:
                        row.update(avd_mm=0.75, hausdorff_mm=3.0, hd95_mm=2.0, center_error_mm=1.0)
                    rows.append(row)
    return pd.DataFrame(rows)


def test_wilcoxon_pairs_groups_not_lesions():
    once = _metrics(12, 1, spacing=True)
    repeated = _metrics(12, 10, spacing=True)  # the same evidence, each group 10 times over
    p_once, n_once = wilcoxon_p(once, "ct", "a1l", "a1")
    p_repeated, n_repeated = wilcoxon_p(repeated, "ct", "a1l", "a1")
    assert n_once == n_repeated == 12
    assert p_repeated == pytest.approx(p_once)
    means = repeated.groupby(["arch", "group_id"])["dice"].mean().unstack(0)
    assert p_repeated == pytest.approx(wilcoxon(means["a1l"], means["a1"]).pvalue)
    # Pairing the 120 lesions instead would claim far more certainty than the data holds.
    per_lesion = repeated.groupby(["arch", "lesion_id"])["dice"].mean().unstack(0)
    assert wilcoxon(per_lesion["a1l"], per_lesion["a1"]).pvalue < p_repeated / 10


def test_table1_reports_mm_where_spacing_is_known_and_hd95():
    metrics = pd.concat([_metrics(6, 2, spacing=True, dataset="ct"), _metrics(6, 2, spacing=False, dataset="skin")])
    summary = table1(metrics, ["ct", "skin"])
    assert summary.loc[summary["dataset"] == "ct", "avd_mm_mean"].eq(0.75).all()
    assert summary.loc[summary["dataset"] == "skin", "avd_mm_mean"].isna().all()
    display = table1_display(summary)
    assert {"HD95", "AVD (mm)", "HD95 (mm)"} <= set(display.columns)
    assert (display.loc[display["Dataset"] == "skin", "AVD (mm)"] == "-").all()
    assert display["Dice p (Wilcoxon, per group)"].str.contains("6 groups").any()
    without = table1_display(table1(_metrics(6, 2, spacing=False), ["ct"]))
    assert "AVD (mm)" not in without.columns


def test_table1_sets_each_difference_against_the_seed_noise():
    metrics = _metrics(6, 2, spacing=False)
    # A1+L's seed 1 scores 10 Dice points lower than its seed 0: a spread of ~7 points
    metrics.loc[(metrics["arch"] == "a1l") & (metrics["seed"] == 1), "dice"] -= 0.10
    summary = table1(metrics, ["ct"]).set_index("arch")
    runs = metrics.groupby(["arch", "seed"])["dice"].mean().unstack() * 100
    diff = runs.loc["a1l"].mean() - runs.loc["a1"].mean()
    noise = 2 * np.sqrt(runs.loc["a1l"].var(ddof=1) / 2 + runs.loc["a1"].var(ddof=1) / 2)
    assert summary.loc["a1l", "dice_diff_vs_a1"] == pytest.approx(diff)
    assert summary.loc["a1l", "dice_diff_noise"] == pytest.approx(noise)
    assert np.isnan(summary.loc["a1", "dice_diff_vs_a1"])
    cell = table1_display(table1(metrics, ["ct"])).set_index("Model").loc["A1+L", "Dice vs A1 ± seed noise"]
    assert cell == f"{diff:+.2f} ± {noise:.2f}: within seed noise" and abs(diff) < noise
    # without the spread the same kind of gain stands out; with one seed nothing can be said
    steady = table1_display(table1(_metrics(6, 2, spacing=False, seed=3), ["ct"])).set_index("Model")
    assert steady.loc["A1+L", "Dice vs A1 ± seed noise"].endswith("beyond seed noise")
    one_seed = table1_display(table1(metrics[metrics["seed"] == 0], ["ct"])).set_index("Model")
    assert one_seed.loc["A1+L", "Dice vs A1 ± seed noise"].endswith("(one seed: noise unknown)")


def test_data_table_counts_the_dropped_lesions_per_split_beside_the_papers(tmp_path):
    write_synthetic("lits", tmp_path / "raw", n_cases=4, image_size=128, seed=6)
    ingest("lits", tmp_path / "raw", tmp_path / "out", patch_size=32, seed=0, min_area=40)
    rejected = pd.read_parquet(tmp_path / "out" / "rejected.parquet")
    assert len(rejected) and rejected["split"].notna().all()
    outputs = {ext: tmp_path / f"data.{ext}" for ext in ("md", "tex", "csv")}
    table = data_summary(
        ["lits"], [tmp_path / "out" / "ingest.json"], [tmp_path / "out" / "rejected.parquet"], outputs, "synthetic data"
    )
    counts = ", ".join(
        f"{s} {n}"
        for s, n in rejected["split"].value_counts().reindex(["train", "val", "test"]).dropna().astype(int).items()
    )
    assert table.loc[0, "Dropped"] == f"{len(rejected)} ({counts})"
    assert "48 / 44 / 20 volumes" in table.loc[0, "Paper"] and "below min_area" in table.loc[0, "Why dropped"]


def test_figure3_shows_ten_clusters_chosen_by_size(tmp_path):
    rng = np.random.default_rng(0)
    n, k = 300, 30
    lesions = pd.DataFrame(
        {
            "lesion_id": [f"l{i}" for i in range(n)],
            "patch_index": np.arange(n),
            "major": rng.uniform(5, 80, n),
            "minor": rng.uniform(3, 5, n),
        }
    )
    order = np.argsort(lesions["major"].to_numpy())
    cluster = np.empty(n, int)
    cluster[order] = np.arange(n) * k // n  # cluster c holds the c-th 1/k of the sizes
    clusters = pd.DataFrame(
        {"lesion_id": lesions["lesion_id"], "split": "train", "cluster": cluster, "distance": rng.random(n)}
    )
    shown = clusters_by_size(clusters, lesions, rows=10)
    assert len(shown) == 10 and shown["major"].is_monotonic_increasing
    assert shown["cluster"].iloc[0] == 0 and shown["cluster"].iloc[-1] == k - 1
    images = np.zeros((n, 16, 16, 3), np.uint8)
    outs = [tmp_path / "figure3.png", tmp_path / "figure3.pdf"]
    cluster_gallery(images, np.zeros((n, 16, 16), bool), clusters, lesions, outs, "Figure 3")
    assert all(p.stat().st_size > 0 for p in outs)


def test_protocol_table_compares_each_variant_with_the_one_it_names():
    """Two variants, two seeds, three test lesions; the smallest third is the shortest lesion."""
    from lesionmtl.report.protocol import protocol_summary
    from lesionmtl.report.tables import RUN_KEYS

    rng = np.random.default_rng(0)
    rows, records = [], []
    for variant, offset in (("ref", 0.0), ("fix", 0.2)):
        for seed in (0, 1):
            dice = 0.4 + offset + rng.uniform(-0.05, 0.05, 3)
            run = {
                "dataset": f"ds@{variant}",
                "arch": "a1",
                "supervision": "ellipse",
                "k": 0,
                "alpha": 50.0,
                "seed": seed,
            }
            for i, long_px in enumerate((2.0, 10.0, 20.0)):
                rows.append({**run, "split": "test", "lesion_id": i, "dice": dice[i], "hd95": 1.0,
                             "empty_pred": False, "long_px_ref": long_px})  # fmt: skip
            records.append({**run, "train_seconds": 12.0, "epochs_run": 4, "n_train": 30})
    metrics, records = pd.DataFrame(rows), pd.DataFrame(records)
    variants = {
        "ds@ref": {"base": "ds", "variant": "ref", "changes": "none", "compare_with": None},
        "ds@fix": {"base": "ds", "variant": "fix", "changes": "x: 1", "compare_with": "ds@ref"},
    }
    summary = protocol_summary(metrics, records, variants).set_index("variant")
    per_run = metrics.groupby(RUN_KEYS)["dice"].mean() * 100
    ref, fix = (per_run.xs(f"ds@{v}", level="dataset") for v in ("ref", "fix"))
    assert summary.loc["fix", "dice_diff"] == pytest.approx(fix.mean() - ref.mean())
    assert summary.loc["fix", "dice_diff_noise"] == pytest.approx(2 * np.sqrt(fix.var() / 2 + ref.var() / 2))
    assert np.isnan(summary.loc["ref", "dice_diff"])
    small = metrics[metrics["long_px_ref"] == 2.0].groupby("dataset")["dice"].mean() * 100
    assert summary.loc["fix", "dice_small_mean"] == pytest.approx(small["ds@fix"])
    assert summary.loc["ref", "s_per_image_mean"] == pytest.approx(12.0 / (4 * 30))
