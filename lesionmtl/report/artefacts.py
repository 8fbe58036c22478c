"""The registry of report artefacts: every table and figure, and every fact about it, in one place.

The report rules (one ``report_<builder>`` rule per builder of :mod:`lesionmtl.report.build`), the
default target, where ``snakemake --report`` lists each artefact and which caption it shows
(``rules/captions/<name>.rst``), the artefact table of docs/outputs.md and the tests'
expectations all derive from :data:`ARTEFACTS`. Adding a table or figure is one entry here, its
builder in ``build.py`` and its caption. No torch, no pandas here: the Snakefile reads this module
at parse time.

An artefact's inputs are declared, not computed: :class:`Runs` (one file of every run of the
artefact's study) and :class:`PerDataset` (one file per dataset it covers); the workflow turns
them into paths (rules/report.smk).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lesionmtl.architectures import WITH_CLUSTER_HEAD

if TYPE_CHECKING:
    from lesionmtl.config import WorkflowConfig

TABLE_FORMATS = ("md", "tex", "csv")  # the csv is the report's entry
FIGURE_FORMATS = ("png", "pdf")  # the png is the report's entry
DATA_AND_MODELS = "data and models"  # the report's category of what does not depend on training


@dataclass(frozen=True)
class Runs:
    """File ``key`` (of :data:`lesionmtl.paths.RUN_FILES`) of every run of the artefact's study."""

    key: str


@dataclass(frozen=True)
class PerDataset:
    """One file per dataset the artefact covers: the :mod:`lesionmtl.paths` function ``path`` with
    ``args``, or one the workflow resolves: ``reference_masks`` (what a dataset's runs are scored
    against) and ``clusters_at_k`` (its clusters at its configured K)."""

    path: str
    args: tuple = ()


@dataclass(frozen=True)
class Artefact:
    name: str  # its caption is rules/captions/<name>.rst
    title: str  # the report's heading of it
    kind: str  # "table" or "figure"
    study: str | None  # the study of experiment.studies whose runs it reads; None: data and models
    builder: str  # function of lesionmtl.report.build; one rule, report_<builder>, per builder
    description: str  # what it shows, for docs/outputs.md
    inputs: Mapping[str, Runs | PerDataset] = field(default_factory=dict)
    scored: bool = False  # reads evaluations: covers the scored datasets, and only they make it
    per_dataset: bool = False  # one file per dataset, <stem>_<dataset>
    stem: str | None = None  # file name without extension (default: name)
    params: tuple[str, ...] = ()  # settings the builder takes from the configuration, by name
    needs_cluster_head: bool = False  # built only where the study has a model with a cluster head

    @property
    def formats(self) -> tuple[str, ...]:
        return TABLE_FORMATS if self.kind == "table" else FIGURE_FORMATS

    @property
    def entry_format(self) -> str:
        """The format of its file that the report lists."""
        return "csv" if self.kind == "table" else "png"

    @property
    def category(self) -> str:
        """Where the HTML report lists it: under its study, or under data and models."""
        return f"study {self.study}" if self.study else DATA_AND_MODELS

    def file_stems(self, datasets: list[str]) -> list[str]:
        """Its file names without extension, for the datasets it covers."""
        stem = self.stem or self.name
        return [f"{stem}_{ds}" for ds in datasets] if self.per_dataset else [stem]

    def entry_files(self, datasets: list[str]) -> list[str]:
        """Its files the report lists (csv for a table, png for a figure)."""
        return [f"{stem}.{self.entry_format}" for stem in self.file_stems(datasets)]


def output_key(artefact: Artefact, fmt: str, dataset: str | None = None) -> str:
    """The name of one of ``artefact``'s files among its rule's outputs: the format, after the
    dataset for a per-dataset artefact, after the artefact's name where its builder makes several."""
    shared = sum(a.builder == artefact.builder for a in ARTEFACTS.values()) > 1
    return "_".join(part for part in (artefact.name if shared else None, dataset, fmt) if part)


_RUNS = {"runs": Runs("metrics")}  # the test-split scores of every run of the study

# In the order of the report and of docs/outputs.md.
ARTEFACTS: dict[str, Artefact] = {
    a.name: a
    for a in (
        Artefact(
            "data", "Data: lesions per split", "table", None, "data",
            "Data: lesions per split, dropped lesions and why, ground truth or not, scored against what",
            inputs={"summaries": PerDataset("ingest_summary"), "rejected": PerDataset("rejected")},
            params=("score_against",),
        ),
        Artefact(
            "parameters", "Parameter counts", "table", None, "parameters",
            "Section 7.6: parameter counts of every model, for ResNet101 and the configured encoder",
            params=("encoders", "cluster_counts"),
        ),
        Artefact(
            "pseudolabel_quality", "Pseudo-label quality", "figure", None, "pseudolabel_quality",
            "Pseudo-mask quality: Dice of the ellipse and GrabCut pseudo-masks against the ground truth",
            inputs={"facts": PerDataset("pseudolabel_facts")},
        ),
        Artefact(
            "figure3", "Figure 3: lesion clusters", "figure", None, "figure3",
            "Figure 3: lesion clusters at the dataset's K, 10 rows chosen and labelled by size",
            inputs={
                "images": PerDataset("images"),
                "ellipse": PerDataset("pseudo_masks", ("ellipse",)),
                "lesions": PerDataset("lesions"),
                "clusters": PerDataset("clusters_at_k"),
            },
            per_dataset=True,
        ),
        Artefact(
            "table1", "Table 1: segmentation", "table", "main", "table1",
            "Table 1: A1, ACoseg, A1+L; IoU, Dice, VS, centre/perimeter error, AVD, Hausdorff, HD95 (and mm "
            "where the spacing is known); mean ± std over seeds; % vs A1; Wilcoxon p over per-group means",
            inputs=_RUNS, scored=True,
        ),
        Artefact(
            "table2", "Table 2: training time", "table", "main", "table2",
            "Table 2: training time (GPU hours on a GPU, CPU hours otherwise) and epochs run",
            inputs={"runs": Runs("record")},
        ),
        Artefact(
            "table8", "Table 8: cluster accuracy", "table", "main", "table8",
            "Table 8: cluster classification accuracy, train and test",
            inputs=_RUNS, scored=True, needs_cluster_head=True,
        ),
        Artefact(
            "figure4", "Figure 4: predictions", "figure", "main", "figure4",
            "Figures 4/6: image, truth, A1, ACoseg, A1+L on the same test lesions",
            inputs={
                "predictions": Runs("predictions"),
                "images": PerDataset("images"),
                "ellipse": PerDataset("pseudo_masks", ("ellipse",)),
                "lesions": PerDataset("lesions"),
                "truth": PerDataset("reference_masks"),
            },
            scored=True, params=("figure_lesions",),
        ),
        Artefact(
            "training_curves", "Training curves", "figure", "main", "training_curves",
            "Training curves: validation loss and Dice per epoch of every run",
            inputs={"histories": Runs("history")},
        ),
        Artefact(
            "diameters", "Diameters: predicted vs reference", "table", "main", "diameters",
            "RECIST diameters (not in the paper): median absolute error of the long and short axis measured "
            "on the prediction vs on the reference mask, px and mm",
            inputs=_RUNS, scored=True,
        ),
        Artefact(
            "bland_altman", "Bland-Altman: long diameter", "figure", "main", "bland_altman",
            "Bland-Altman plot of the long diameter, prediction vs reference (not in the paper)",
            inputs=_RUNS, scored=True,
        ),
        Artefact(
            "table3_5", "Tables 3-5: GrabCut vs ellipse", "table", "supervision", "supervision",
            "Tables 3-5: GrabCut vs ellipse supervision, one per dataset",
            inputs=_RUNS, scored=True, per_dataset=True, stem="table3-5", params=("score_against",),
        ),
        Artefact(
            "table6", "Table 6: supervision", "table", "supervision", "supervision",
            "Table 6: Dice of GrabCut-, ellipse- and fully-supervised A1 and A1+L",
            inputs=_RUNS, scored=True, params=("score_against",),
        ),
        Artefact(
            "table7", "Table 7: U-Net vs DeepLabV3+", "table", "backbone", "table7",
            "Table 7: U-Net vs DeepLabV3+ with the same encoder",
            inputs=_RUNS, scored=True,
        ),
        Artefact(
            "figure2", "Figure 2: Dice vs K", "figure", "clusters", "figure2",
            "Figure 2: A1+L Dice vs the number of clusters K",
            inputs=_RUNS, scored=True,
        ),
        Artefact(
            "figure5", "Figure 5: Dice vs alpha_seg", "figure", "alpha", "figure5",
            "Figure 5: A1+L Dice vs the segmentation loss weight alpha_seg",
            inputs=_RUNS, scored=True,
        ),
        Artefact(
            "protocol", "Protocol study: released code vs our fixes", "table", "protocol", "protocol",
            "The protocol study (configs/protocol.yaml): A1 and A1+L under the released code's protocol and "
            "with our fixes switched on one at a time; Dice, HD95, empty predictions, seconds per training "
            "image, and each difference beside its seed noise",
            inputs={"runs": Runs("metrics"), "records": Runs("record")}, scored=True, params=("variants",),
        ),
    )
}  # fmt: skip


def builders() -> dict[str, list[Artefact]]:
    """The artefacts each builder (and so each report rule) makes, in registry order."""
    by_builder: dict[str, list[Artefact]] = {}
    for a in ARTEFACTS.values():
        by_builder.setdefault(a.builder, []).append(a)
    return by_builder


def covered_datasets(artefact: Artefact, config: WorkflowConfig) -> list[str]:
    """The datasets ``artefact`` covers under ``config``, in its order: those of its study (none when
    the study is not configured; for data and models, the config's own, not a study variant's
    copies), only the scored ones where it reads evaluations."""
    studies = config.experiment.studies
    if artefact.study is None:
        covered = config.base_datasets
    else:
        covered = studies[artefact.study].datasets if artefact.study in studies else ()
    return [name for name, ds in config.datasets.items() if name in covered and (ds.scored or not artefact.scored)]


def is_built(artefact: Artefact, config: WorkflowConfig) -> bool:
    """Whether the default target asks for ``artefact``: its study has runs on the datasets it
    covers (and, for the cluster accuracy, a model with a cluster head)."""
    datasets = covered_datasets(artefact, config)
    if not datasets or artefact.study is None:
        return bool(datasets)
    if not any(config.study_runs(ds, artefact.study) for ds in datasets):
        return False
    return not artefact.needs_cluster_head or bool(
        WITH_CLUSTER_HEAD & set(config.experiment.studies[artefact.study].models)
    )


def markdown_table() -> str:
    """The artefact table of docs/outputs.md (a test keeps the page equal to it)."""
    rows = ["| artefact | files | study (`experiment.studies`) | needs scores |", "|---|---|---|---|"]
    for a in ARTEFACTS.values():
        folder = "tables" if a.kind == "table" else "figures"
        stem = a.file_stems(["{dataset}"])[0]
        study = f"`{a.study}`" if a.study else f"({DATA_AND_MODELS})"
        rows.append(f"| {a.description} | `{folder}/{stem}.*` | {study} | {'yes' if a.scored else 'no'} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
