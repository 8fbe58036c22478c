# Config validation, the experiment matrix and input functions shared by the rules.

import re
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from lesionmtl.config import SCHEMA_PATH, study_runs
from lesionmtl.architectures import needs_clusters
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
from lesionmtl.scheduling import runtime_per_attempt, visible_gpus

validate(config, str(SCHEMA_PATH))

DATASETS = list(config["datasets"])
RESULTS = "results"
REAL_DATASETS = {name: ds for name, ds in config["datasets"].items() if "synthetic" not in ds}
for _name, _ds in REAL_DATASETS.items():
    try:
        check_source(_name, _ds)
    except ValueError as exc:
        raise WorkflowError(str(exc)) from None
    _missing = files_to_put_by_hand(_ds)
    if _missing:  # a warning, not an error: dry runs must still plan
        logger.warning(
            f"datasets.{_name}: not there yet and without a direct download link: "
            f"{', '.join(str(m) for m in _missing)}; the run will stop when it needs them. "
            f"{dataset_release(_ds).help(_ds['raw_dir'])}"
        )
# Release files fetched per real dataset (none: raw_dir is read as it is).
FETCHED = {name: files_to_fetch(ds) for name, ds in REAL_DATASETS.items()}


wildcard_constraints:
    dataset="|".join(DATASETS),
    arch="[a-z0-9]+",
    supervision="ellipse|grabcut|full",
    k=r"\d+",
    alpha=r"[0-9.e+-]+",
    seed=r"\d+",
    shard=r"\d+",


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def raw_dir(wildcards):
    """Synthetic datasets are written by `synthesize`; real ones are read where they lie."""
    ds = dataset_config(wildcards)
    if "synthetic" in ds:
        return f"{RESULTS}/raw/{wildcards.dataset}"
    return ds["raw_dir"]


def ingest_inputs(wildcards):
    """What ingest waits for: the synthetic folder, the receipts of the fetched release files,
    or (real data read as it lies) the raw folder itself."""
    fetched = FETCHED.get(wildcards.dataset)
    if fetched:
        return [receipt_path(raw_dir(wildcards), f) for f in fetched]
    return [raw_dir(wildcards)]


def supervision_masks(wildcards):
    """The masks a run is trained on: ellipse or GrabCut pseudo-masks, or the reference masks
    ("full": the ground truth, or GrabCut where the data has none, as the paper did for DeepLesion)."""
    if wildcards.supervision == "full":
        return score_masks_path(wildcards.dataset)
    return f"{RESULTS}/{wildcards.dataset}/pseudo/{wildcards.supervision}.npy"


def training_settings(wildcards):
    """Training settings of a run: the shared ones, then the architecture's own (ACoseg: lr, batch).
    Not the job's resources (threads, mem_mb, runtime): changing those must rerun nothing."""
    shared = {k: v for k, v in config["training"].items() if k not in ("per_model", "threads", "mem_mb", "runtime")}
    return {**shared, **config["training"].get("per_model", {}).get(wildcards.arch, {})}


def score_masks_path(dataset):
    """Reference masks for scoring: ground truth, or GrabCut where there is none (DeepLesion)."""
    if config["datasets"][dataset].get("score_against", "ground_truth") == "grabcut":
        return f"{RESULTS}/{dataset}/pseudo/grabcut.npy"
    return f"{RESULTS}/{dataset}/patches/gt_masks.npy"


def training_inputs(wildcards):
    base = f"{RESULTS}/{wildcards.dataset}"
    inputs = {
        "lesions": f"{base}/lesions.parquet",
        "images": f"{base}/patches/images.npy",
        "masks": supervision_masks(wildcards),
    }
    if needs_clusters(wildcards.arch):
        inputs["clusters"] = f"{base}/clusters/k{wildcards.k}.parquet"
    return inputs


def evaluation_inputs(wildcards):
    base = f"{RESULTS}/{wildcards.dataset}"
    run = f"{base}/runs/{wildcards.arch}-{wildcards.supervision}-k{wildcards.k}-a{wildcards.alpha}-s{wildcards.seed}"
    inputs = {
        "model": f"{run}/model.pt",
        "lesions": f"{base}/lesions.parquet",
        "images": f"{base}/patches/images.npy",
        "truth": score_masks_path(wildcards.dataset),
    }
    if needs_clusters(wildcards.arch):
        inputs["clusters"] = f"{base}/clusters/k{wildcards.k}.parquet"
    return inputs


def study_dirs(study):
    """The run directories of one study, over all datasets (none when the study is not configured)."""
    if study not in config["experiment"]["studies"]:
        return []
    return [f"{RESULTS}/{ds}/runs/{run}" for ds in DATASETS for run in study_runs(config, ds, study)]
