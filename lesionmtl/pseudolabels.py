"""Pseudo-masks from RECIST marks: the RECIST ellipse and GrabCut refined from it."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd

from lesionmtl.io import atomic_path, save_npy, save_parquet
from lesionmtl.metrics import dice, iou
from lesionmtl.recist import Ellipse, draw_ellipse, recist_to_ellipse

RECIST_COLUMNS = ("r_x11", "r_y11", "r_x12", "r_y12", "r_x21", "r_y21", "r_x22", "r_y22")

# GrabCut results outside [MIN_AREA_RATIO, MAX_AREA_RATIO] x ellipse area are
# taken as failures (it grabbed nothing, or leaked into the surroundings).
MIN_AREA_RATIO = 0.1
MAX_AREA_RATIO = 3.0


def ellipse_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool (H, W) mask of the ellipse whose axes are the RECIST diameters."""
    return draw_ellipse(recist_to_ellipse(points), shape)


def _bounding_box(e: Ellipse, shape: tuple[int, int], margin: int) -> tuple[slice, slice]:
    """Row and column slices of the ellipse's axis-aligned bounding box plus `margin`, clipped."""
    t = math.radians(e.angle)
    a, b = e.major / 2.0, e.minor / 2.0
    half_w = math.hypot(a * math.cos(t), b * math.sin(t))
    half_h = math.hypot(a * math.sin(t), b * math.cos(t))
    h, w = shape
    x0, x1 = max(0, math.floor(e.cx - half_w) - margin), min(w, math.ceil(e.cx + half_w) + margin + 1)
    y0, y1 = max(0, math.floor(e.cy - half_h) - margin), min(h, math.ceil(e.cy + half_h) + margin + 1)
    return slice(y0, y1), slice(x0, x1)


def grabcut_seeds(recist: np.ndarray, shape: tuple[int, int], margin: int = 5, core: float = 0.8) -> np.ndarray:
    """GrabCut's initial labels from the RECIST marks.

    Outside the ellipse's bounding box (+ margin): background; inside the box: probable
    background; inside the ellipse: probable foreground; the central ``core`` fraction of both
    diameters: foreground (the reader drew them across the lesion).
    """
    ellipse = recist_to_ellipse(recist)
    seeds = np.full(shape, cv2.GC_BGD, np.uint8)
    seeds[_bounding_box(ellipse, shape, margin)] = cv2.GC_PR_BGD
    seeds[draw_ellipse(ellipse, shape)] = cv2.GC_PR_FGD
    for p, q in (recist[:2], recist[2:]):
        mid, half = (p + q) / 2.0, (q - p) * core / 2.0
        a, b = np.rint(mid - half).astype(int), np.rint(mid + half).astype(int)
        cv2.line(seeds, tuple(int(v) for v in a), tuple(int(v) for v in b), int(cv2.GC_FGD), 1)
    return seeds


def grabcut_mask(
    image: np.ndarray, recist: np.ndarray, iterations: int = 5, margin: int = 5
) -> tuple[np.ndarray, bool]:
    """GrabCut seeded by the RECIST marks (see :func:`grabcut_seeds`); returns (mask, fell_back).

    Falls back to the ellipse mask when GrabCut has nothing to work with (a flat box, or no
    background left) or its result is implausible (area outside [0.1, 3] x the ellipse area).
    cv2's RNG is reseeded before every call so the result depends on the inputs only (also when
    the work is split across processes).
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"GrabCut needs a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {img.shape}")
    shape = img.shape[:2]
    ellipse = recist_to_ellipse(recist)
    fallback = draw_ellipse(ellipse, shape)
    seeds = grabcut_seeds(recist, shape, margin)
    background = (seeds == cv2.GC_BGD) | (seeds == cv2.GC_PR_BGD)
    if not background.any() or img[_bounding_box(ellipse, shape, margin)].std() < 1.0:
        return fallback, True
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(np.ascontiguousarray(img), seeds, None, bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # e.g. too few pixels of one kind to initialise its colour model
        return fallback, True
    mask = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    area, ellipse_area = int(mask.sum()), int(fallback.sum())
    if area == 0 or not MIN_AREA_RATIO * ellipse_area <= area <= MAX_AREA_RATIO * ellipse_area:
        return fallback, True
    return mask, False


def make_pseudolabels(
    images: np.ndarray,
    lesions: pd.DataFrame,
    gt_masks: np.ndarray | None = None,
    rows: slice | np.ndarray | None = None,
    iterations: int = 5,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Ellipse and GrabCut pseudo-masks for the lesions in `rows` (positions; default all).

    images: (N, H, W, 3) uint8, row i of `lesions` belongs to images[i];
    lesions: RECIST_COLUMNS in patch coordinates and lesion_id. Returns
    (ellipse masks, GrabCut masks), each (n, H, W) bool, and one row of facts
    per lesion; with `gt_masks` (N, H, W) also Dice/IoU of both against them.
    Splitting `rows` into shards and concatenating gives the unsharded result.
    """
    images = np.asarray(images)
    missing = [c for c in (*RECIST_COLUMNS, "lesion_id") if c not in lesions.columns]
    if missing:
        raise ValueError(f"lesions lacks columns {missing}")
    if images.ndim not in (3, 4) or len(images) != len(lesions):
        raise ValueError(f"images {images.shape} must be (N, H, W[, 3]) with N = {len(lesions)} lesions")
    shape = images.shape[1:3]
    if gt_masks is not None:
        gt_masks = np.asarray(gt_masks).astype(bool, copy=False)
        if gt_masks.shape != (len(lesions), *shape):
            raise ValueError(f"gt_masks {gt_masks.shape} must be {(len(lesions), *shape)}")
    positions = np.arange(len(lesions))[rows] if rows is not None else np.arange(len(lesions))
    recist = lesions.loc[:, list(RECIST_COLUMNS)].to_numpy(dtype=float).reshape(-1, 4, 2)
    lesion_ids = lesions["lesion_id"].to_numpy()

    ellipses = np.zeros((len(positions), *shape), bool)
    grabcuts = np.zeros((len(positions), *shape), bool)
    facts = []
    for out, i in enumerate(positions):
        try:  # marks may reach beyond the patch (a lesion longer than it): the masks are clipped
            ellipse = recist_to_ellipse(recist[i])
        except ValueError as exc:
            raise ValueError(f"lesion {lesion_ids[i]!r}: {exc}") from exc
        ellipses[out] = draw_ellipse(ellipse, shape)
        grabcuts[out], fell_back = grabcut_mask(images[i], recist[i], iterations=iterations)
        row = {
            "lesion_id": lesion_ids[i],
            "ellipse_area": int(ellipses[out].sum()),
            "grabcut_area": int(grabcuts[out].sum()),
            "grabcut_fell_back": fell_back,
            "iou_grabcut_ellipse": iou(grabcuts[out], ellipses[out]),
        }
        if gt_masks is not None:
            row["dice_ellipse_gt"] = dice(ellipses[out], gt_masks[i])
            row["dice_grabcut_gt"] = dice(grabcuts[out], gt_masks[i])
            row["iou_ellipse_gt"] = iou(ellipses[out], gt_masks[i])
            row["iou_grabcut_gt"] = iou(grabcuts[out], gt_masks[i])
        facts.append(row)
    columns = ["lesion_id", "ellipse_area", "grabcut_area", "grabcut_fell_back", "iou_grabcut_ellipse"]
    if gt_masks is not None:
        columns += ["dice_ellipse_gt", "dice_grabcut_gt", "iou_ellipse_gt", "iou_grabcut_gt"]
    return ellipses, grabcuts, pd.DataFrame(facts, columns=columns)


def pseudolabel_shard(
    lesions_path: str,
    images_path: str,
    gt_path: str,
    out_masks: str,
    out_facts: str,
    *,
    shard: int,
    n_shards: int,
    iterations: int = 5,
) -> None:
    """Pseudo-labels of one contiguous shard of the patches (GrabCut is the slow part)."""
    lesions = pd.read_parquet(lesions_path).sort_values("patch_index", ignore_index=True)
    images = np.load(images_path, mmap_mode="r")
    gt = np.load(gt_path, mmap_mode="r")
    rows = np.array_split(np.arange(len(lesions)), n_shards)[shard]
    ellipses, grabcuts, facts = make_pseudolabels(
        images, lesions, gt if len(gt) else None, rows=rows, iterations=iterations
    )
    with atomic_path(out_masks) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, ellipse=ellipses, grabcut=grabcuts)
    save_parquet(out_facts, facts)


def merge_shards(
    mask_paths: list[str], fact_paths: list[str], out_ellipse: str, out_grabcut: str, out_facts: str
) -> None:
    """Concatenate the shards, in order, into one array per pseudo-label kind and one table."""
    shards = [np.load(path) for path in mask_paths]
    save_npy(out_ellipse, np.concatenate([s["ellipse"] for s in shards]))
    save_npy(out_grabcut, np.concatenate([s["grabcut"] for s in shards]))
    save_parquet(out_facts, pd.concat([pd.read_parquet(p) for p in fact_paths], ignore_index=True))
