"""Pseudo-masks from RECIST marks: the RECIST ellipse and GrabCut refined from it.

How each is made is a per-dataset switch (``datasets.<name>.pseudolabels``): the ellipse is drawn
``exact`` (pixel centres inside the analytic ellipse) or as the released code rendered it with
``matplotlib`` (a 1-inch figure at one dot per patch pixel, an outline ``linewidth`` points wide,
optionally a JPEG round trip, then the red channel thresholded); GrabCut is ``seeded`` from the
RECIST marks (ours) or run ``released`` (the image times the ellipse mask, started from the mask's
box). docs/released_code.md cites the released lines.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd

from lesionmtl.io import atomic_path, save_npy, save_parquet
from lesionmtl.metrics import dice, iou
from lesionmtl.recist import Ellipse, draw_ellipse, recist_to_ellipse

RECIST_COLUMNS = ("r_x11", "r_y11", "r_x12", "r_y12", "r_x21", "r_y21", "r_x22", "r_y22")

ELLIPSE_DRAWINGS = ("exact", "matplotlib")
GRABCUT_METHODS = ("seeded", "released")
GRABCUT_INPUTS = ("patch", "div255")  # div255: the released DeepLesion input, np.uint8(patch / 255)
EXACT_ELLIPSE = {"draw": "exact"}
SEEDED_GRABCUT = {"method": "seeded"}
JPEG_QUALITY = 95  # matplotlib's savefig default for JPEG (rcParams savefig.jpeg_quality / Pillow)

# GrabCut results outside [MIN_AREA_RATIO, MAX_AREA_RATIO] x ellipse area are
# taken as failures (it grabbed nothing, or leaked into the surroundings).
MIN_AREA_RATIO = 0.1
MAX_AREA_RATIO = 3.0


def ellipse_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool (H, W) mask of the ellipse whose axes are the RECIST diameters."""
    return draw_ellipse(recist_to_ellipse(points), shape)


def matplotlib_ellipse(
    e: Ellipse, shape: tuple[int, int], *, linewidth: float = 0.0, jpeg: bool = False, threshold: float = 0.5
) -> np.ndarray:
    """Bool (H, W) mask of ``e`` rendered as the released code did: a white matplotlib ``Ellipse``
    (outline ``linewidth`` points wide) on black, on a 1-inch figure at ``max(H, W)`` dpi so that one
    dot is one pixel (its 120 px DeepLesion patches: 120 dpi, a 3 pt outline is 5 px), optionally
    through a JPEG at matplotlib's quality, then the red channel above ``threshold`` (DeepLesion
    0.9, LiTS/HAM 0.5). Rendered with Agg in memory; the JPEG round trip is cv2's encoder."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Ellipse as EllipsePatch

    h, w = (int(v) for v in shape)
    dpi = max(h, w)
    figure = Figure(figsize=(w / dpi, h / dpi), dpi=dpi, facecolor="black")
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    axes.set_xlim(-0.5, w - 0.5)  # pixel centres at integer coordinates, as imshow places them
    axes.set_ylim(h - 0.5, -0.5)
    patch = EllipsePatch((e.cx, e.cy), width=e.major, height=e.minor, angle=e.angle)
    patch.set(edgecolor="white", facecolor="white", linewidth=linewidth)
    axes.add_patch(patch)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[:, :, :3]
    if rgb.shape[:2] != (h, w):  # Agg rounds the figure size to whole pixels
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_NEAREST)
    red = rgb[:, :, 0]
    if jpeg:
        ok, encoded = cv2.imencode(
            ".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        )
        if not ok:
            raise ValueError("could not JPEG-encode the rendered ellipse")
        red = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, 2]
    return red > threshold * 255


def pseudo_ellipse(e: Ellipse, shape: tuple[int, int], drawing: dict | None = None) -> np.ndarray:
    """The ellipse pseudo-mask of ``e`` as ``drawing`` says (``{"draw": "exact"}`` or
    ``{"draw": "matplotlib", "linewidth": .., "jpeg": .., "threshold": ..}``)."""
    options = dict(drawing or EXACT_ELLIPSE)
    kind = options.pop("draw")
    if kind == "exact":
        return draw_ellipse(e, shape)
    if kind == "matplotlib":
        return matplotlib_ellipse(e, shape, **options)
    raise ValueError(f"unknown ellipse drawing {kind!r}; expected one of {', '.join(ELLIPSE_DRAWINGS)}")


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
    image: np.ndarray,
    recist: np.ndarray,
    iterations: int = 5,
    margin: int = 5,
    fallback: np.ndarray | None = None,
) -> tuple[np.ndarray, bool]:
    """GrabCut seeded by the RECIST marks (see :func:`grabcut_seeds`); returns (mask, fell_back).

    Falls back to the ellipse mask (``fallback``: the dataset's ellipse pseudo-mask, however it is
    drawn; default the exact RECIST ellipse) when GrabCut has nothing to work with (a flat box, or no
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
    fallback = draw_ellipse(ellipse, shape) if fallback is None else fallback
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


def released_grabcut(
    image: np.ndarray,
    ellipse: np.ndarray,
    *,
    iterations: int = 5,
    box_shrink: int = 2,
    min_pixels: int = 1,
    input: str = "patch",
) -> tuple[np.ndarray, bool]:
    """GrabCut as the released code ran it; returns (mask, fell_back).

    The image (``div255``: ``np.uint8(image / 255)``, the released DeepLesion input, black but for
    the pixels at the top of the window) times the ``ellipse`` mask, started with
    ``GC_INIT_WITH_RECT`` from the mask's box ``(x0 + s, y0 + s, w - s, h - s)`` with
    ``s = box_shrink`` (DeepLesion, LiTS 2; HAM 0). The ellipse comes back when fewer than
    ``min_pixels`` are foreground (LiTS 10, else 1) or cv2 refuses the input.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if input == "div255":
        img = np.uint8(img.astype(float) / 255)
    elif input != "patch":
        raise ValueError(f"unknown GrabCut input {input!r}; expected one of {', '.join(GRABCUT_INPUTS)}")
    mask = np.asarray(ellipse, dtype=np.uint8)
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return ellipse.astype(bool), True
    x0, y0 = int(xs.min()), int(ys.min())
    rect = (x0 + box_shrink, y0 + box_shrink, int(xs.max()) - x0 - box_shrink, int(ys.max()) - y0 - box_shrink)
    labels = mask.copy()
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(
            np.ascontiguousarray(img * mask[:, :, None]),
            labels,
            rect,
            np.zeros((1, 65), np.float64),
            np.zeros((1, 65), np.float64),
            iterations,
            cv2.GC_INIT_WITH_RECT,
        )
    except cv2.error:  # an empty box, or a colour model without samples
        return ellipse.astype(bool), True
    out = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if out.sum() < min_pixels:
        return ellipse.astype(bool), True
    return out, False


def make_pseudolabels(
    images: np.ndarray,
    lesions: pd.DataFrame,
    gt_masks: np.ndarray | None = None,
    rows: slice | np.ndarray | None = None,
    iterations: int = 5,
    ellipse_drawing: dict | None = None,
    grabcut: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Ellipse and GrabCut pseudo-masks for the lesions in `rows` (positions; default all).

    ``ellipse_drawing``: how the ellipse is drawn (:func:`pseudo_ellipse`; default exact); ``grabcut``:
    ``{"method": "seeded"}`` (default, :func:`grabcut_mask`) or ``{"method": "released", ...}``
    with the keywords of :func:`released_grabcut`, which starts from the drawn ellipse.

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

    grabcut_options = dict(grabcut or SEEDED_GRABCUT)
    method = grabcut_options.pop("method")
    if method not in GRABCUT_METHODS:
        raise ValueError(f"unknown GrabCut method {method!r}; expected one of {', '.join(GRABCUT_METHODS)}")
    ellipses = np.zeros((len(positions), *shape), bool)
    grabcuts = np.zeros((len(positions), *shape), bool)
    facts = []
    for out, i in enumerate(positions):
        try:  # marks may reach beyond the patch (a lesion longer than it): the masks are clipped
            ellipse = recist_to_ellipse(recist[i])
        except ValueError as exc:
            raise ValueError(f"lesion {lesion_ids[i]!r}: {exc}") from exc
        ellipses[out] = pseudo_ellipse(ellipse, shape, ellipse_drawing)
        if method == "released":
            grabcuts[out], fell_back = released_grabcut(
                images[i], ellipses[out], iterations=iterations, **grabcut_options
            )
        else:
            grabcuts[out], fell_back = grabcut_mask(images[i], recist[i], iterations=iterations, fallback=ellipses[out])
        row = {
            "lesion_id": lesion_ids[i],
            "ellipse_area": int(ellipses[out].sum()),
            "grabcut_area": int(grabcuts[out].sum()),
            "grabcut_fell_back": fell_back,
            "iou_grabcut_ellipse": iou(grabcuts[out], ellipses[out]),
        }
        if gt_masks is not None and gt_masks[i].any():  # an empty reference: that lesion has none
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
    ellipse_drawing: dict | None = None,
    grabcut: dict | None = None,
) -> None:
    """Pseudo-labels of one contiguous shard of the patches (GrabCut is the slow part);
    ``ellipse_drawing`` and ``grabcut`` as in :func:`make_pseudolabels`."""
    lesions = pd.read_parquet(lesions_path).sort_values("patch_index", ignore_index=True)
    images = np.load(images_path, mmap_mode="r")
    gt = np.load(gt_path, mmap_mode="r")
    rows = np.array_split(np.arange(len(lesions)), n_shards)[shard]
    ellipses, grabcuts, facts = make_pseudolabels(
        images,
        lesions,
        gt if len(gt) else None,
        rows=rows,
        iterations=iterations,
        ellipse_drawing=ellipse_drawing,
        grabcut=grabcut,
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
