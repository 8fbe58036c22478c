# Config validation, the experiment matrix, and the input functions and helpers of the rules.
# Every path comes from lesionmtl.paths, every config value from the typed config below.

import functools
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from lesionmtl import paths
from lesionmtl.architectures import needs_clusters
from lesionmtl.config import ConfigError, load_config
from lesionmtl.fetching.releases import (
    RECEIPTS,
    check_source,
    dataset_release,
    files_to_fetch,
    files_to_put_by_hand,
    keep_margin,
    receipt_path,
)
from lesionmtl.provenance import code_hash
from lesionmtl.runspec import NAME_TEMPLATE, WILDCARD_PATTERNS, RunSpec
from lesionmtl.scheduling import runtime_per_attempt, visible_gpus

try:
    CONFIG = load_config(config)  # validates and fills in the schema's defaults
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

DATASETS = list(CONFIG.datasets)
# Datasets whose runs are evaluated (all but `score_against: none`): the scored artefacts use only these.
SCORED = [name for name in DATASETS if CONFIG.datasets[name].scored]
# A study variant's dataset (name dataset@variant) reads its base's raw files: checked and fetched once.
REAL_DATASETS = {name: ds for name, ds in CONFIG.datasets.items() if not ds.is_synthetic and ds.variant is None}
for _name, _ds in REAL_DATASETS.items():
    try:
        check_source(_name, _ds.raw)
    except ValueError as exc:
        raise WorkflowError(str(exc)) from None
    _missing = files_to_put_by_hand(_ds.raw)
    if _missing:  # a warning, not an error: dry runs must still plan
        logger.warning(
            f"datasets.{_name}: not there yet and without a direct download link: "
            f"{', '.join(str(m) for m in _missing)}; the run will stop when it needs them. "
            f"{dataset_release(_ds.raw).help(_ds.raw_dir)}"
        )
# Release files fetched per real dataset (none: raw_dir is read as it is), by raw folder.
FETCHED = {name: files_to_fetch(ds.raw) for name, ds in REAL_DATASETS.items()}
FETCH_DIRS = {Path(ds.raw_dir).as_posix(): name for name, ds in REAL_DATASETS.items() if FETCHED[name]}


wildcard_constraints:
    **WILDCARD_PATTERNS,
    dataset="|".join(map(re.escape, DATASETS)),
    shard=r"\d+",


@functools.cache  # one import-graph walk per script: the report rules alone ask 16 times
def script_code(script):
    """Hash of the package code a workflow script runs: as a param, an edit to that code reruns the rule."""
    return code_hash(Path(workflow.basedir) / "workflow_scripts" / script)


def dataset_config(wildcards):
    return CONFIG.datasets[wildcards.dataset]


def raw_dir(wildcards):
    """Synthetic datasets are written by `synthesize`; real ones are read where they lie."""
    ds = dataset_config(wildcards)
    return paths.synthetic_raw_dir(ds.base) if ds.is_synthetic else ds.raw_dir


def ingest_inputs(wildcards):
    """What ingest waits for: the synthetic folder, the receipts of the fetched release files,
    or (real data read as it lies) the raw folder itself."""
    fetched = FETCHED.get(dataset_config(wildcards).base)
    if fetched:
        return [receipt_path(raw_dir(wildcards), f) for f in fetched]
    return [raw_dir(wildcards)]


def fetch_prerequisites(wildcards):
    name = FETCH_DIRS[wildcards.raw]
    before = dataset_release(REAL_DATASETS[name].raw).prerequisites(wildcards.file)
    return [receipt_path(wildcards.raw, f) for f in before if f in FETCHED[name]]


def fetch_keep_margin(wildcards):
    """DeepLesion image archives are unpacked around the lesions only: the margin shapes their output."""
    ds = REAL_DATASETS[FETCH_DIRS[wildcards.raw]].raw
    return keep_margin(ds) if dataset_release(ds).selects_slices(wildcards.file) else None


def score_masks_path(dataset):
    """Reference masks for scoring: ground truth, or GrabCut where there is none (DeepLesion)."""
    if CONFIG.datasets[dataset].score_against == "grabcut":
        return paths.pseudo_masks(dataset, "grabcut")
    return paths.gt_masks(dataset)


def supervision_masks(wildcards):
    """The masks a run is trained on: ellipse or GrabCut pseudo-masks, or the reference masks
    ("full": the ground truth, or GrabCut where the data has none, as the paper did for DeepLesion)."""
    if wildcards.supervision == "full":
        return score_masks_path(wildcards.dataset)
    return paths.pseudo_masks(wildcards.dataset, wildcards.supervision)


def cluster_inputs(wildcards):
    """The clusters of the run's K, where its architecture trains on or predicts them."""
    return {"clusters": paths.clusters(wildcards.dataset, wildcards.k)} if needs_clusters(wildcards.arch) else {}


def training_inputs(wildcards):
    """A run's patches, its masks, the clusters where the architecture uses them, and ingest.json:
    how patches were cut, which the checkpoint carries."""
    return {
        "lesions": paths.lesions(wildcards.dataset),
        "images": paths.images(wildcards.dataset),
        "masks": supervision_masks(wildcards),
        "ingest": paths.ingest_summary(wildcards.dataset),
        **cluster_inputs(wildcards),
    }


def evaluation_inputs(wildcards):
    """What scoring a run reads: its predictions (written by its training job), the lesions, the
    reference masks, the clusters where the model predicts them, and the patches only to export masks."""
    run = RunSpec.from_wildcards(wildcards)
    inputs = {
        "lesions": paths.lesions(wildcards.dataset),
        "truth": score_masks_path(wildcards.dataset),
        **{key: paths.run_file(wildcards.dataset, run, key) for key in ("predictions", "class_logits")},
        **cluster_inputs(wildcards),
    }
    if CONFIG.evaluation.export_masks:
        inputs["images"] = paths.images(wildcards.dataset)
    return inputs


def run_path(key):
    """File ``key`` of the run directory a job's wildcards name, as a rule's pattern."""
    return paths.run_file("{dataset}", NAME_TEMPLATE, key)


# -- report ---------------------------------------------------------------------------------
STUDIES = CONFIG.experiment.studies
# Run files the report reads for scored datasets only (metrics: written by evaluation, which an
# unscored dataset never has; predictions: shown beside the reference masks).
EVALUATED = ("metrics", "predictions")


def run_files(study, key):
    """File ``key`` of every run of one study, over all datasets, or the scored ones for an evaluation
    file (none when the study is not configured)."""
    datasets = SCORED if key in EVALUATED else DATASETS
    return [paths.run_file(ds, run, key) for ds in datasets for run in CONFIG.study_runs(ds, study)]
