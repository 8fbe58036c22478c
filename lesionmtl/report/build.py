"""One function per report artefact, called by the `report_*` rules with their inputs and outputs.

Each takes the rule's ``inputs``, ``outputs`` and ``params`` (Snakemake's named lists, or plain
dicts) so that every table and figure is also easy to rebuild by hand from the Parquet files.
The files in ``inputs`` are all an artefact reads: a run's parameters come from its files' paths,
and ``params`` holds only names and settings (``datasets``, ``data_label``, ...). Every title says
what the numbers were computed on (synthetic or real data).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lesionmtl.report import ablations, figures, measurements
from lesionmtl.report.artefacts import ARTEFACTS, output_key
from lesionmtl.report.data_summary import data_summary
from lesionmtl.report.protocol import write_protocol_table
from lesionmtl.report.runs import collect_runs, load_metrics, run_facts
from lesionmtl.report.tables import over_seeds, per_run_means, write_table1


def _outputs(outputs, artefact: str, dataset: str | None = None) -> dict[str, Path]:
    """{format: path} of one artefact's files among its rule's outputs (for one dataset)."""
    a = ARTEFACTS[artefact]
    return {fmt: Path(outputs[output_key(a, fmt, dataset)]) for fmt in a.formats}


def _figure_outputs(outputs, artefact: str, dataset: str | None = None) -> list[Path]:
    return list(_outputs(outputs, artefact, dataset).values())


def data(inputs, outputs, params) -> None:
    data_summary(
        params["datasets"],
        inputs["summaries"],
        inputs["rejected"],
        _outputs(outputs, "data"),
        params["data_label"],
        params["score_against"],
    )


def table1(inputs, outputs, params) -> None:
    write_table1(load_metrics(inputs["runs"]), params["datasets"], _outputs(outputs, "table1"), params["data_label"])


def table2(inputs, outputs, params) -> None:
    ablations.training_time(
        collect_runs(inputs["runs"]), params["datasets"], _outputs(outputs, "table2"), params["data_label"]
    )


def supervision(inputs, outputs, params) -> None:
    metrics = load_metrics(inputs["runs"])
    per_dataset = {ds: _outputs(outputs, "table3_5", ds) for ds in params["datasets"]}
    ablations.supervision_tables(metrics, params["datasets"], per_dataset, params["data_label"])
    ablations.supervision_dice(
        metrics, params["datasets"], _outputs(outputs, "table6"), params["data_label"], params["score_against"]
    )


def table7(inputs, outputs, params) -> None:
    ablations.backbone_dice(
        load_metrics(inputs["runs"]), params["datasets"], _outputs(outputs, "table7"), params["data_label"]
    )


def table8(inputs, outputs, params) -> None:
    ablations.classification_accuracy(
        load_metrics(inputs["runs"]), params["datasets"], _outputs(outputs, "table8"), params["data_label"]
    )


def protocol(inputs, outputs, params) -> None:
    write_protocol_table(
        load_metrics(inputs["runs"]),
        collect_runs(inputs["records"]),
        params["variants"],
        _outputs(outputs, "protocol"),
        params["data_label"],
    )


def parameters(inputs, outputs, params) -> None:
    ablations.parameter_counts(params["encoders"], params["cluster_counts"], _outputs(outputs, "parameters"))


def _sweep(inputs, outputs, params, artefact: str, parameter: str, label: str, title: str) -> None:
    summary = over_seeds(per_run_means(load_metrics(inputs["runs"])), ["dataset", parameter], ["dice"])
    figures.sweep(summary, parameter, label, _figure_outputs(outputs, artefact), f"{title} ({params['data_label']})")


def figure2(inputs, outputs, params) -> None:
    _sweep(inputs, outputs, params, "figure2", "k", "number of clusters K", "Figure 2: A1+L Dice vs K")


def figure5(inputs, outputs, params) -> None:
    _sweep(
        inputs,
        outputs,
        params,
        "figure5",
        "alpha",
        "segmentation loss weight alpha_seg",
        "Figure 5: A1+L Dice vs alpha_seg",
    )


def figure3(inputs, outputs, params) -> None:
    for i, dataset in enumerate(params["datasets"]):
        args = (
            np.load(inputs["images"][i], mmap_mode="r"),
            np.load(inputs["ellipse"][i], mmap_mode="r"),
            pd.read_parquet(inputs["clusters"][i]),
            pd.read_parquet(inputs["lesions"][i]),
        )
        figures.cluster_gallery(
            *args,
            _figure_outputs(outputs, "figure3", dataset),
            f"Figure 3: lesion clusters of {dataset} ({params['data_label']}): up to 10 clusters chosen "
            "evenly by size, smallest first (median axes of the training members), the most typical first",
        )


def figure4(inputs, outputs, params) -> None:
    """Qualitative comparison: the same test lesions for every model (first seed, ellipse supervision)."""
    runs = pd.DataFrame([{"predictions": p, **run_facts(p)} for p in inputs["predictions"]])
    rng = np.random.default_rng(0)
    panels = []
    for i, dataset in enumerate(params["datasets"]):
        lesions = pd.read_parquet(inputs["lesions"][i])
        test_rows = lesions.loc[lesions["split"] == "test", "patch_index"].to_numpy()
        chosen = rng.choice(test_rows, size=min(params["figure_lesions"], len(test_rows)), replace=False)
        first = runs[(runs["dataset"] == dataset) & (runs["supervision"] == "ellipse")].sort_values("seed")
        predictions = {
            r.arch: np.load(r.predictions, mmap_mode="r") for r in first.drop_duplicates("arch").itertuples()
        }
        panels.append(
            {
                "dataset": dataset,
                "images": np.load(inputs["images"][i], mmap_mode="r"),
                "truth": np.load(inputs["truth"][i], mmap_mode="r"),
                "ellipse": np.load(inputs["ellipse"][i], mmap_mode="r"),
                "predictions": predictions,
                "rows": list(chosen),
            }
        )
    title = f"Figure 4/6: test lesions ({params['data_label']}): reference green, ellipse yellow, prediction red"
    figures.qualitative(panels, _figure_outputs(outputs, "figure4"), title, params["figure_lesions"])


def training_curves(inputs, outputs, params) -> None:
    histories = pd.concat(
        pd.read_parquet(path).assign(
            **{key: run_facts(path)[key] for key in ("dataset", "arch", "supervision", "seed")}
        )
        for path in inputs["histories"]
    )
    figures.training_curves(
        histories, _figure_outputs(outputs, "training_curves"), f"Training curves ({params['data_label']})"
    )


def pseudolabel_quality(inputs, outputs, params) -> None:
    facts = {ds: pd.read_parquet(path) for ds, path in zip(params["datasets"], inputs["facts"])}
    figures.pseudolabel_quality(
        facts,
        _figure_outputs(outputs, "pseudolabel_quality"),
        f"Pseudo-mask quality vs ground truth ({params['data_label']})",
    )


def diameters(inputs, outputs, params) -> None:
    measurements.write_diameter_table(
        load_metrics(inputs["runs"]), params["datasets"], _outputs(outputs, "diameters"), params["data_label"]
    )


def bland_altman(inputs, outputs, params) -> None:
    title = f"Long diameter: prediction vs reference mask, test lesions ({params['data_label']})"
    measurements.bland_altman(
        load_metrics(inputs["runs"]), params["datasets"], _figure_outputs(outputs, "bland_altman"), title
    )


def builder(name: str):
    """The builder function of ``name`` (an artefact registry ``builder``): what rule report_<name> runs."""
    if not any(a.builder == name for a in ARTEFACTS.values()):
        raise ValueError(f"no report artefact is built by {name!r}")
    return globals()[name]
