"""Pseudo-masks from RECIST marks: the RECIST ellipse and GrabCut refined from it."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd

from lesionmtl.io import atomic_path, save_npy, save_parquet
from lesionmtl.metrics import dice, iou
from lesionmtl.recist import Ellipse, check_inside, draw_ellipse, recist_to_ellipse

RECIST_COLUMNS = ("r_x11", "r_y11", "r_x12", "r_y12", "r_x21", "r_y21", "r_x22", "r_y22")

# GrabCut results outside [MIN_AREA_RATIO, MAX_AREA_RATIO] x ellipse area are
# taken as failures (it grabbed nothing, or leaked into the surroundings).
MIN_AREA_RATIO = 0.1
MAX_AREA_RATIO = 3.0


def ellipse_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool (H, W) mask of the ellipse whose axes are the RECIST diameters."""
    return draw_ellipse(recist_to_ellipse(points), shape)


def _grabcut_rect(e: Ellipse, shape: tuple[int, int], margin: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the ellipse's axis-aligned bounding box plus `margin`, clipped to the image."""
    t = math.radians(e.angle)
    a, b = e.major / 2.0, e.minor / 2.0
    half_w = math.hypot(a * math.cos(t), b * math.sin(t))
    half_h = math.hypot(a * math.sin(t), b * math.cos(t))
    h, w = shape
    x0 = max(0, math.floor(e.cx - half_w) - margin)
    y0 = max(0, math.floor(e.cy - half_h) - margin)
    x1 = min(w - 1, math.ceil(e.cx + half_w) + margin)
    y1 = min(h - 1, math.ceil(e.cy + half_h) + margin)
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1


def grabcut_mask(image: np.ndarray, ellipse: Ellipse, iterations: int = 5, margin: int = 2) -> tuple[np.ndarray, bool]:
    """GrabCut initialised with the ellipse's bounding rectangle; returns (mask, fell_back).

    Falls back to the ellipse mask when GrabCut cannot run (the rectangle
    leaves no background, or is under 2 px wide or high) or its result is
    implausible (area outside [0.1, 3] x the ellipse area, e.g. empty on a
    flat image). cv2's RNG is reseeded before every call so the result depends
    on the inputs only (also when the work is split across processes).
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"GrabCut needs a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {img.shape}")
    shape = img.shape[:2]
    fallback = draw_ellipse(ellipse, shape)
    x, y, w, h = _grabcut_rect(ellipse, shape, margin)
    if w < 2 or h < 2 or (w, h) == (shape[1], shape[0]):
        return fallback, True
    labels = np.zeros(shape, np.uint8)
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(np.ascontiguousarray(img), labels, (x, y, w, h), bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error:  # e.g. too few background pixels to initialise its colour model
        return fallback, True
    mask = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
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
        try:
            check_inside(recist[i], shape)
            ellipse = recist_to_ellipse(recist[i])
        except ValueError as exc:
            raise ValueError(f"lesion {lesion_ids[i]!r}: {exc}") from exc
        ellipses[out] = draw_ellipse(ellipse, shape)
        grabcuts[out], fell_back = grabcut_mask(images[i], ellipse, iterations=iterations)
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
    lesions_path: str, images_path: str, gt_path: str, out_masks: str, out_facts: str,
    *, shard: int, n_shards: int, iterations: int = 5,
) -> None:
    """Pseudo-labels of one contiguous shard of the patches (GrabCut is the slow part)."""
    lesions = pd.read_parquet(lesions_path).sort_values("patch_index", ignore_index=True)
    images = np.load(images_path, mmap_mode="r")
    gt = np.load(gt_path, mmap_mode="r")
    rows = np.array_split(np.arange(len(lesions)), n_shards)[shard]
    ellipses, grabcuts, facts = make_pseudolabels(
        images, lesions, gt if len(gt) else None, rows=rows, iterations=iterations
    )
    with atomic_path(out_masks) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, ellipse=ellipses, grabcut=grabcuts)
    save_parquet(out_facts, facts)


def merge_shards(mask_paths: list[str], fact_paths: list[str], out_ellipse: str, out_grabcut: str, out_facts: str) -> None:
    """Concatenate the shards, in order, into one array per pseudo-label kind and one table."""
    shards = [np.load(path) for path in mask_paths]
    save_npy(out_ellipse, np.concatenate([s["ellipse"] for s in shards]))
    save_npy(out_grabcut, np.concatenate([s["grabcut"] for s in shards]))
    save_parquet(out_facts, pd.concat([pd.read_parquet(p) for p in fact_paths], ignore_index=True))
