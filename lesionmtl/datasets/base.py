"""The one interface every dataset reader returns: a stream of lesion samples and rejections."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Protocol

import cv2
import numpy as np
import pandas as pd

from ..errors import DataError
from ..metrics import iou
from ..patches import ellipse_to_patch, resize_image, resize_mask, to_patch
from ..recist import draw_ellipse, ellipse_to_recist, recist_from_mask, recist_to_ellipse

__all__ = [
    "DataError",
    "Sample",
    "Rejection",
    "EMPTY",
    "POOR_FIT",
    "TOO_SMALL",
    "FEW_HULL_VERTICES",
    "VANISHED",
    "DEGENERATE",
    "DUPLICATE",
    "Reader",
    "SPLITS",
    "recist_bbox",
    "patch_hw",
    "read_table",
    "is_debris",
    "find_files",
    "sample_from_mask",
    "read_mask",
]

SPLITS = ("train", "val", "test")


@dataclass
class Sample:
    """One lesion as a model input patch.

    Geometry: a patch pixel ``p`` sits at source position ``(p + 0.5) / scale - 0.5 + offset``
    (see :mod:`lesionmtl.patches`); ``spacing_xy`` is millimetres per *patch* pixel (nan when
    the modality has no physical spacing).  The RECIST marks may reach beyond the patch (a
    lesion longer than the patch, or cut by the image edge): they are kept as measured, and
    the masks drawn from them are clipped to the patch.  ``recist_src`` holds the same marks in
    source pixels, where they were measured (None: :func:`lesionmtl.patches.to_source` of
    ``recist``).
    """

    lesion_id: str
    group_id: str
    image: np.ndarray  # (h, w, 3) uint8
    recist: np.ndarray  # (4, 2) patch coordinates: long_p1, long_p2, short_p1, short_p2
    recist_source: str  # "annotation" | "ellipse_fit" | "measured"
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 in patch coordinates
    source: str  # file the lesion was read from, relative to the raw folder
    offset_xy: tuple[float, float]
    scale_xy: tuple[float, float]
    spacing_xy: tuple[float, float]
    gt: np.ndarray | None = None  # (h, w) bool
    split: str | None = None  # official split where the dataset has one
    source_hw: tuple[int, int] | None = None  # (H, W) of the 2-D source image the offset refers to
    recist_src: np.ndarray | None = None  # (4, 2) source-image coordinates
    notes: str = ""  # what the reader changed in the input on purpose (e.g. swapped RECIST axes)
    extra: dict = field(default_factory=dict)  # reader-specific columns of lesions.parquet (e.g. DICOM UIDs)


@dataclass(frozen=True)
class Rejection:
    """A lesion (or file) the reader skipped on purpose, and why (``kind``: one of the short
    labels below, for counting; ``reason``: the particulars).  ``group_id`` and ``split``, where
    known, let the rejections be counted per split."""

    item: str
    source: str
    kind: str
    reason: str
    group_id: str | None = None
    split: str | None = None


# Only what cannot be used is rejected; lesions reaching beyond the patch are kept (clipped).
EMPTY = "empty mask"  # the lesion's mask has no foreground pixel (a broken segmentation file)
TOO_SMALL = "below min_area"  # tumour component smaller than the reader's min_area
VANISHED = "empty after resizing"  # no mask pixel left at the patch size
POOR_FIT = "ellipse IoU below min_ellipse_iou"  # the reader's optional filter (released LiTS code: 0.4)
FEW_HULL_VERTICES = "hull below min_hull_vertices"  # optional: cv2.fitEllipse needs 5 (released LiTS/HAM code)
DEGENERATE = "degenerate RECIST"  # an axis of zero length: no ellipse to draw
DUPLICATE = "duplicate row"  # the same lesion listed twice


class Reader(Protocol):
    """``read_<format>(raw_dir, *, patch_size, **options)``: samples and rejections, in a stable order."""

    def __call__(
        self, raw_dir: Path, *, patch_size: int | tuple[int, int], **options
    ) -> Iterator[Sample | Rejection]: ...


def recist_bbox(points: np.ndarray, margin: float = 5.0) -> tuple[float, float, float, float]:
    """Lesion box as DeepLesion defines ``Bounding_boxes``: extremes of the RECIST points +- margin."""
    p = np.asarray(points, dtype=float)
    lo, hi = p.min(axis=0) - margin, p.max(axis=0) + margin
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def patch_hw(patch_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """Normalise a patch size (int or (h, w)) to (h, w)."""
    if isinstance(patch_size, (int, np.integer)):
        return int(patch_size), int(patch_size)
    h, w = patch_size
    return int(h), int(w)


def read_table(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """All-string table from a comma- or tab-separated file with a header line.

    Row ``i`` of the result is line ``i + 2`` of the file.  Raises :class:`DataError` when the
    file cannot be parsed or lacks a required column.
    """
    try:
        with open(path, encoding="utf-8-sig") as f:
            sep = "\t" if "\t" in f.readline() else ","
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(path, f"unreadable table ({exc})") from exc
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(path, f"missing required column(s) {', '.join(missing)}", row=1)
    return table


def is_debris(path: PurePath) -> bool:
    """macOS archive debris: anything under ``__MACOSX/`` and ``._*`` AppleDouble stubs."""
    return "__MACOSX" in path.parts or path.name.startswith("._")


def find_files(root: Path, pattern: str) -> list[Path]:
    """Files under ``root`` matching ``pattern``, sorted, without macOS archive debris."""
    return sorted(p for p in root.rglob(pattern) if p.is_file() and not is_debris(p.relative_to(root)))


def read_mask(path: Path, name: str) -> np.ndarray:
    """A lesion mask PNG as bool: grey (or colour with equal channels), values 0/255 or 0/1.

    Raises ValueError naming ``name`` for anything else, rather than thresholding it: a mask
    with other values (JPEG artefacts, several labels, a probability map) is not what we think.
    """
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise ValueError(f"{name} is missing or unreadable (truncated, or not an image?)")
    if mask.ndim == 3 and (mask[..., :3] == mask[..., :1]).all():
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"{name} is not a grey mask (its {mask.shape[2]} colour channels differ)")
    values = set(np.unique(mask).tolist())
    if not (values <= {0, 255} or values <= {0, 1}):
        raise ValueError(f"{name} has values {sorted(values)[:6]}; a mask must hold only 0/255 (or 0/1)")
    return mask > 0


def sample_from_mask(
    image: np.ndarray,
    mask: np.ndarray,
    size_hw: tuple[int, int],
    recist_method: str,
    *,
    lesion_id: str,
    group_id: str,
    source: str,
    offset_xy: tuple[int, int] = (0, 0),
    source_spacing_xy: tuple[float, float] = (float("nan"), float("nan")),
    min_ellipse_iou: float | None = None,
    min_hull_vertices: int | None = None,
    **fields,
) -> Sample | Rejection:
    """Measure RECIST on a source crop's lesion mask, then resize crop and mask to the patch size.

    For datasets with masks but no RECIST (LiTS, HAM10000).  The ellipse (or the measured
    RECIST) is taken from the mask at source resolution, in source pixels, and then mapped into
    the patch, so that resizing never biases it.  ``offset_xy`` is the crop's top-left pixel in
    the source image; ``fields`` are the remaining :class:`Sample` fields.  A :class:`Rejection`
    when the mask is empty, vanishes at the patch size, (with ``min_hull_vertices``, the released
    LiTS/HAM code: 5) the convex hull of its pixels has fewer vertices than that, or (with
    ``min_ellipse_iou``) its ellipse overlaps it less than that.
    """

    def reject(kind: str, reason: str) -> Rejection:
        return Rejection(lesion_id, source, kind, reason, group_id=group_id, split=fields.get("split"))

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return reject(EMPTY, "the lesion mask has no foreground pixel")
    gt = resize_mask(mask, size_hw)
    if not gt.any():
        return reject(VANISHED, f"mask empty after resizing {mask.shape[:2]} -> {tuple(size_hw)}")
    if min_hull_vertices is not None:
        points = np.column_stack(np.nonzero(mask.T)).astype(np.int32)  # (x, y), as the released code
        vertices = len(cv2.convexHull(points))
        if vertices < min_hull_vertices:
            return reject(
                FEW_HULL_VERTICES, f"convex hull of {vertices} vertices < min_hull_vertices {min_hull_vertices}"
            )
    crop_recist = recist_from_mask(mask, recist_method)
    ellipse = recist_to_ellipse(crop_recist)
    if min_ellipse_iou is not None:
        overlap = iou(draw_ellipse(ellipse, mask.shape), mask)
        if overlap < min_ellipse_iou:
            return reject(POOR_FIT, f"ellipse IoU {overlap:.3f} with the mask < min_ellipse_iou {min_ellipse_iou}")
    patch = resize_image(image, size_hw)
    if patch.ndim == 2:
        patch = np.repeat(patch[:, :, None], 3, axis=2)
    scale = (size_hw[1] / mask.shape[1], size_hw[0] / mask.shape[0])
    if recist_method == "ellipse_fit":
        recist = ellipse_to_recist(ellipse_to_patch(ellipse, (0, 0), scale))
    else:  # measured marks are points: map them one by one
        recist = to_patch(crop_recist, (0, 0), scale)
    return Sample(
        lesion_id=lesion_id,
        group_id=group_id,
        source=source,
        image=patch,
        gt=gt,
        recist=recist,
        recist_src=crop_recist + np.asarray(offset_xy, dtype=float),
        recist_source=recist_method,
        bbox=recist_bbox(recist),
        offset_xy=offset_xy,
        scale_xy=scale,
        spacing_xy=(source_spacing_xy[0] / scale[0], source_spacing_xy[1] / scale[1]),
        **fields,
    )
