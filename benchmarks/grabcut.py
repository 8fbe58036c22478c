"""3. GrabCut pseudo-labels: patches/s, and scaling over shards (1 vs 2 processes).

Patches are the ingested synthetic DeepLesion patches (120x120), repeated to the wanted count.
The in-process figure times ``lesionmtl.pseudolabels.make_pseudolabels`` on all patches. The
scaling figures run ``lesionmtl.pseudolabels.pseudolabel_shard`` (what each ``pseudolabel_shard``
job runs: read the arrays, split the rows with ``np.array_split`` as the workflow does, GrabCut,
write the shard) in a pool of already-started worker processes: 1 shard in 1 process vs 2 shards
in 2 processes, so process start-up (a Snakemake job's fixed cost) is not in the figures.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.data import deeplesion_ingested
from benchmarks.timing import Timer
from lesionmtl.paths import dataset_file

ITERATIONS = 5  # the paper's GrabCut iterations (config pseudolabels.grabcut_iterations)


def _warm(seconds: float) -> None:
    import lesionmtl.pseudolabels  # noqa: F401  (import cost stays out of the timed part)

    time.sleep(seconds)


def _replicated(ingested: Path, n: int, out: Path) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    lesions = pd.read_parquet(dataset_file(ingested, "lesions")).sort_values("patch_index", ignore_index=True)
    images = np.load(dataset_file(ingested, "images"))
    gt = np.load(dataset_file(ingested, "gt_masks"))
    take = np.resize(np.arange(len(lesions)), n)
    lesions = lesions.iloc[take].reset_index(drop=True)
    lesions["lesion_id"] = [f"{lid}#{i}" for i, lid in enumerate(lesions["lesion_id"])]
    lesions["patch_index"] = np.arange(n)
    images, gt = images[take], (gt[take] if len(gt) else gt)
    for key in ("lesions", "images", "gt_masks"):
        dataset_file(out, key).parent.mkdir(parents=True, exist_ok=True)
    lesions.to_parquet(dataset_file(out, "lesions"))
    np.save(dataset_file(out, "images"), images)
    np.save(dataset_file(out, "gt_masks"), gt)
    return images, lesions, gt


def _sharded_seconds(pool: ProcessPoolExecutor, data: Path, n_shards: int) -> float:
    from lesionmtl.pseudolabels import pseudolabel_shard

    with Timer() as t:
        futures = [
            pool.submit(
                pseudolabel_shard,
                str(dataset_file(data, "lesions")),
                str(dataset_file(data, "images")),
                str(dataset_file(data, "gt_masks")),
                str(data / f"shard{n_shards}_{i}.npz"),
                str(data / f"shard{n_shards}_{i}.parquet"),
                shard=i,
                n_shards=n_shards,
                iterations=ITERATIONS,
            )
            for i in range(n_shards)
        ]
        wait(futures)
    for f in futures:
        f.result()  # re-raise a worker's error
    return t.seconds


def run(quick: bool, workdir: Path) -> dict:
    from lesionmtl.pseudolabels import make_pseudolabels

    n = 16 if quick else 160
    data = Path(workdir) / "grabcut"
    images, lesions, gt = _replicated(deeplesion_ingested(workdir, quick), n, data)
    with Timer() as t_in:
        make_pseudolabels(images, lesions, gt if len(gt) else None, iterations=ITERATIONS)
    seconds = {}
    for workers in (1, 2):
        # spawn: no fork of a process whose torch/OpenMP threads are already running
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            wait([pool.submit(_warm, 0.5) for _ in range(workers)])
            seconds[workers] = _sharded_seconds(pool, data, n_shards=workers)
    return {
        "figures": {
            "patches_per_s": n / t_in.seconds,
            "shards1_procs1_patches_per_s": n / seconds[1],
            "shards2_procs2_patches_per_s": n / seconds[2],
            "speedup_2_vs_1_procs": seconds[1] / seconds[2],
        },
        "settings": {"patches": n, "patch_hw": list(images.shape[1:3]), "iterations": ITERATIONS},
        "notes": [
            f"{n} synthetic DeepLesion patches {images.shape[1]}x{images.shape[2]}, {ITERATIONS} GrabCut iterations, "
            "with Dice/IoU against the synthetic truth as the workflow computes",
            "shard runs: pseudolabel_shard (reads inputs, writes its shard) in pre-started spawn workers",
        ],
    }
