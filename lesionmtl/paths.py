"""Where every artefact of the workflow lies, relative to the working directory.

The rules, the config expansion and the report take every path from here, so moving or renaming
an artefact is one edit. The helpers take plain strings, so the rules call them with wildcard
placeholders (``lesions("{dataset}")``) and the report with real names. A run is a
:class:`~lesionmtl.runspec.RunSpec` or its name (in rules, the wildcard template
``runspec.NAME_TEMPLATE``); :func:`lesionmtl.runspec.parse_run_path` reads a run's path back.
This module imports no other of the package: every stage uses it, and an edit to the run names
(runspec.py) must not rerun the stages before training (lesionmtl.provenance).
"""

from __future__ import annotations

from pathlib import Path

RESULTS = "results"
# The files inside a run directory.
RUN_FILES = {
    "model": "model.pt",
    "history": "history.parquet",
    "record": "run.json",
    "state": "state",
    "train_log": "train.log",
    "predictions": "predictions.npy",  # (N, h, w) bool, by patch row: the best checkpoint's masks
    "class_logits": "class_logits.npy",  # (N, K) float32 cluster logits; (N, 0) without a cluster head
    "metrics": "metrics.parquet",
    "evaluate_log": "evaluate.log",
    "masks": "masks",  # per-lesion PNG masks and overlays (evaluation.export_masks)
}


# The files ingest writes inside a dataset's folder (results/{dataset}, or any folder given to ingest).
DATASET_FILES = {
    "lesions": "lesions.parquet",
    "rejected": "rejected.parquet",
    "ingest_summary": "ingest.json",
    "images": "patches/images.npy",
    "gt_masks": "patches/gt_masks.npy",
}


def synthetic_raw_dir(dataset: str) -> str:
    """Where ``synthesize`` writes a synthetic dataset in its official on-disk format."""
    return f"{RESULTS}/raw/{dataset}"


def dataset_dir(dataset: str) -> str:
    return f"{RESULTS}/{dataset}"


def dataset_file(folder: str | Path, key: str) -> Path:
    """File ``key`` of :data:`DATASET_FILES` in an ingested dataset's ``folder``."""
    return Path(folder) / DATASET_FILES[key]


def _ingested(dataset: str, key: str) -> str:
    return f"{dataset_dir(dataset)}/{DATASET_FILES[key]}"


def lesions(dataset: str) -> str:
    return _ingested(dataset, "lesions")


def rejected(dataset: str) -> str:
    return _ingested(dataset, "rejected")


def ingest_summary(dataset: str) -> str:
    return _ingested(dataset, "ingest_summary")


def images(dataset: str) -> str:
    return _ingested(dataset, "images")


def gt_masks(dataset: str) -> str:
    return _ingested(dataset, "gt_masks")


def pseudo_masks(dataset: str, kind: str) -> str:
    """Pseudo-masks of ``kind`` (ellipse or grabcut)."""
    return f"{dataset_dir(dataset)}/pseudo/{kind}.npy"


def pseudo_shard(dataset: str, shard: int | str, suffix: str) -> str:
    """One GrabCut shard's masks (``npz``) or facts (``parquet``)."""
    return f"{dataset_dir(dataset)}/pseudo/shards/{shard}.{suffix}"


def pseudolabel_facts(dataset: str) -> str:
    return f"{dataset_dir(dataset)}/pseudolabels.parquet"


def clusters(dataset: str, k: int | str) -> str:
    return f"{dataset_dir(dataset)}/clusters/k{k}.parquet"


def cluster_centres(dataset: str, k: int | str) -> str:
    return f"{dataset_dir(dataset)}/clusters/k{k}_centres.parquet"


def run_dir(dataset: str, run) -> str:
    """The directory of ``run``, a :class:`~lesionmtl.runspec.RunSpec` or a run's name."""
    return f"{dataset_dir(dataset)}/runs/{getattr(run, 'name', run)}"


def run_file(dataset: str, run, key: str) -> str:
    """File ``key`` of :data:`RUN_FILES` in a run's directory."""
    return f"{run_dir(dataset, run)}/{RUN_FILES[key]}"


def log(stage: str, name: str) -> str:
    return f"{RESULTS}/logs/{stage}/{name}.log"


def benchmark(stage: str, name: str) -> str:
    return f"{RESULTS}/benchmarks/{stage}/{name}.tsv"


def table(stem: str, ext: str) -> str:
    return f"{RESULTS}/tables/{stem}.{ext}"


def figure(stem: str, ext: str) -> str:
    return f"{RESULTS}/figures/{stem}.{ext}"
