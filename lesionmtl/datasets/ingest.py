"""Official on-disk format -> canonical lesion table + patch arrays (the workflow's ingest step)."""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..formats import dataset_format
from ..io import save_json, save_npy, save_parquet
from ..patches import to_source
from ..paths import dataset_file
from ..recist import recist_to_ellipse
from .base import SPLITS, DataError, Reader, Rejection, Sample, patch_hw
from .splits import SPLIT_BY, assign_splits, released_image_split

RECIST_COLUMNS = ("r_x11", "r_y11", "r_x12", "r_y12", "r_x21", "r_y21", "r_x22", "r_y22")
# The same marks in source pixels (where they were drawn or measured), and their ellipse.
SOURCE_COLUMNS = tuple(f"src_{c}" for c in RECIST_COLUMNS)
REJECTED_COLUMNS = ["item", "source", "kind", "reason", "group_id", "split"]


def reader_options_in_effect(fmt: str, options: dict) -> dict:
    """The reader's keyword options with its defaults filled in (``patch_size`` aside): what
    ``ingest.json`` records, so that a checkpoint can cut patches the same way later."""
    params = inspect.signature(dataset_format(fmt).load_reader()).parameters.values()
    defaults = {
        p.name: p.default
        for p in params
        if p.kind is p.KEYWORD_ONLY and p.default is not p.empty and p.name != "patch_size"
    }
    return {**defaults, **options}


def _row(s: Sample, fmt: str, index: int) -> dict:
    e = recist_to_ellipse(s.recist)
    src = s.recist_src if s.recist_src is not None else to_source(s.recist, s.offset_xy, s.scale_xy)
    e_src = recist_to_ellipse(src)
    return {
        "lesion_id": s.lesion_id,
        "dataset_format": fmt,
        "split": s.split,
        "group_id": s.group_id,
        "source": s.source,
        "patch_index": index,
        **dict(zip(RECIST_COLUMNS, np.asarray(s.recist, dtype=float).ravel())),
        "cx": e.cx,
        "cy": e.cy,
        "major": e.major,
        "minor": e.minor,
        "angle": e.angle,
        **dict(zip(SOURCE_COLUMNS, np.asarray(src, dtype=float).ravel())),
        "src_cx": e_src.cx,
        "src_cy": e_src.cy,
        "src_major": e_src.major,
        "src_minor": e_src.minor,
        "src_angle": e_src.angle,
        **dict(zip(("bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"), s.bbox)),
        "spacing_x": s.spacing_xy[0],
        "spacing_y": s.spacing_xy[1],
        "offset_x": s.offset_xy[0],
        "offset_y": s.offset_xy[1],
        "scale_x": s.scale_xy[0],
        "scale_y": s.scale_xy[1],
        "source_h": s.source_hw[0] if s.source_hw else None,
        "source_w": s.source_hw[1] if s.source_hw else None,
        "recist_source": s.recist_source,
        "notes": s.notes,
        "image_layout": dataset_format(fmt).image_layout,
        **s.extra,
    }


def ingest(
    fmt: str,
    raw_dir: Path,
    out_dir: Path,
    *,
    patch_size: int | Sequence[int],
    seed: int,
    split_fractions: Sequence[float] = (0.7, 0.2, 0.1),
    split_by: str = "group",
    **reader_options,
) -> pd.DataFrame:
    """Read ``raw_dir`` in the official ``fmt`` layout and write the lesion table and patches.

    Writes (names: :data:`lesionmtl.paths.DATASET_FILES`) ``lesions.parquet``, ``patches/images.npy`` (N, h, w, 3) uint8,
    ``patches/gt_masks.npy`` (N, h, w) bool, or (0, h, w) when the data has no ground truth,
    ``rejected.parquet`` (one row per lesion dropped: kind, reason, group and the group's split)
    and ``ingest.json`` into ``out_dir``.  A lesion the reader changed on purpose (e.g. swapped
    RECIST axes) says how in its ``notes`` column.  Splits come from the dataset
    where it has an official one, else are drawn by group with ``seed`` (``split_by="image_released"``:
    by image, as the released HAM10000 code did, :func:`~.splits.released_image_split`).  Every file is written
    under a temporary name and renamed; ``lesions.parquet`` is removed first and written last,
    so it exists only when the whole step succeeded.  Returns the lesion table.
    """
    spec = dataset_format(fmt)
    read: Reader = spec.load_reader()
    started = time.perf_counter()
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    dataset_file(out_dir, "lesions").unlink(missing_ok=True)
    samples: list[Sample] = []
    rejected: list[Rejection] = []
    for item in read(raw_dir, patch_size=patch_size, **reader_options):
        (rejected if isinstance(item, Rejection) else samples).append(item)
    if not samples:
        raise DataError(raw_dir, f"no lesions found ({len(rejected)} rejected)")
    ids = pd.Series([s.lesion_id for s in samples])
    if ids.duplicated().any():
        raise DataError(raw_dir, f"duplicate lesion ids {ids[ids.duplicated()].unique()[:5].tolist()}")
    # Groups are split whether or not a reader option dropped all their lesions, so that the
    # split of the dataset (e.g. LiTS volumes) does not depend on the filters.
    if split_by == "image_released":
        by_image = released_image_split([s.lesion_id for s in samples], split_fractions, seed)
        for s in samples:
            s.split = s.split or by_image[s.lesion_id]
    elif split_by != "group":
        raise ConfigError(f"unknown split_by {split_by!r}; expected one of {', '.join(SPLIT_BY)}")
    unsplit = [item.group_id for item in [*samples, *rejected] if item.split is None and item.group_id is not None]
    by_group = assign_splits(unsplit, split_fractions, np.random.default_rng(seed)) if unsplit else {}
    for s in samples:
        s.split = s.split or by_group[s.group_id]
    rejected = [
        r if r.split or r.group_id is None else dataclasses.replace(r, split=by_group[r.group_id]) for r in rejected
    ]

    table = pd.DataFrame([_row(s, fmt, i) for i, s in enumerate(samples)])
    crossing = table.groupby("group_id")["split"].nunique()
    if (crossing > 1).any() and split_by == "group":
        raise DataError(raw_dir, f"groups in several splits: {crossing[crossing > 1].index[:5].tolist()}")
    with_gt = [s.gt is not None for s in samples]
    partial = any(with_gt) and not all(with_gt)
    if partial and not spec.partial_ground_truth:
        raise DataError(raw_dir, f"ground truth for only {sum(with_gt)} of {len(samples)} lesions")
    if partial:  # scored where there is a mask (``has_gt``); the others are empty in gt_masks
        table["has_gt"] = with_gt

    images = np.stack([s.image for s in samples])
    save_npy(dataset_file(out_dir, "images"), images)
    # Always written, so that the workflow's outputs do not depend on the data: a zero-length
    # stack says "no ground truth" (real DeepLesion), and scoring then needs GrabCut masks.
    empty = np.zeros(images.shape[1:3], dtype=bool)
    gt_masks = np.stack([empty if s.gt is None else s.gt for s in samples]) if any(with_gt) else empty[None][:0]
    save_npy(dataset_file(out_dir, "gt_masks"), gt_masks.astype(bool))
    save_parquet(
        dataset_file(out_dir, "rejected"),
        pd.DataFrame([vars(r) for r in rejected], columns=REJECTED_COLUMNS),
    )
    save_json(
        dataset_file(out_dir, "ingest_summary"),
        {
            "format": fmt,
            "raw_dir": str(raw_dir),
            "patch_size": list(patch_hw(patch_size)),
            "n_lesions": len(samples),
            "n_groups": int(table["group_id"].nunique()),
            "n_rejected": len(rejected),
            "n_recorded": int((table["notes"] != "").sum()),
            "rejected_per_split": {k: sum(r.split == k for r in rejected) for k in SPLITS},
            "per_split": {k: int((table["split"] == k).sum()) for k in SPLITS},
            "image_layouts": table["image_layout"].value_counts().to_dict(),
            "has_ground_truth": all(with_gt),
            "n_with_ground_truth": sum(with_gt),
            "split_seed": seed,
            "split_fractions": list(split_fractions),
            "split_by": split_by,
            "reader_options": reader_options_in_effect(fmt, reader_options),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    save_parquet(dataset_file(out_dir, "lesions"), table)
    return table
