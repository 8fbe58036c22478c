"""DeepLesion reader: ``DL_info.csv`` + ``Images_png/<series>/<slice>.png`` (+ optional ``true_masks/``).

Each CSV row is one lesion.  The patch is centred on the lesion's bounding box; its three
channels are the slices 2 mm below, at and above the key slice, interpolated linearly between
stored slices at the series' slice interval and windowed by the row's ``DICOM_windows``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..patches import crop, patch_origin, to_patch, window_to_uint8
from ..recist import check_inside, parse_recist
from .base import DataError, Rejection, Sample, outside_patch, patch_hw, read_table

REQUIRED = (
    "File_name", "Patient_index", "Key_slice_index", "Measurement_coordinates", "Bounding_boxes",
    "Slice_range", "Spacing_mm_px_", "DICOM_windows", "Train_Val_Test",
)
HU_OFFSET = 32768
OFFSETS_MM = (-2.0, 0.0, 2.0)
SPLITS = {"1": "train", "2": "val", "3": "test"}


def _numbers(row: dict, column: str, count: int) -> np.ndarray:
    try:
        values = np.array([float(v) for v in row[column].split(",")])
    except ValueError:
        values = np.array([])
    if values.size != count or not np.isfinite(values).all():
        raise ValueError(f"column {column} must hold {count} numbers, got {row[column]!r}")
    return values


def read_deeplesion(
    raw_dir: Path, *, patch_size: int | tuple[int, int] = 120, masks_dir: str = "true_masks"
) -> Iterator[Sample | Rejection]:
    """Yield one :class:`Sample` per ``DL_info.csv`` row, with the official split, or a
    :class:`Rejection` when the lesion's RECIST does not fit in the patch.

    Ground-truth masks are read from ``<raw_dir>/<masks_dir>/<File_name stem>_<j>.png`` (j = the
    row's position among the rows of that key slice) when that folder exists.
    """
    raw_dir = Path(raw_dir)
    csv_path = raw_dir / "DL_info.csv"
    if not csv_path.is_file():
        raise DataError(csv_path, "file not found")
    hw = patch_hw(patch_size)
    has_masks = (raw_dir / masks_dir).is_dir()

    @lru_cache(maxsize=16)
    def load(path: Path) -> np.ndarray:
        if not path.is_file():
            raise ValueError(f"missing slice {path.relative_to(raw_dir)}")
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None or image.dtype != np.uint16 or image.ndim != 2:
            raise ValueError(f"unreadable or not a 16-bit grey PNG: {path.relative_to(raw_dir)}")
        return image

    seen: dict[str, int] = {}
    for line, row in enumerate(read_table(csv_path, REQUIRED).to_dict("records"), start=2):
        try:
            yield _sample(raw_dir, row, hw, load, seen, masks_dir if has_masks else None)
        except ValueError as exc:
            raise DataError(csv_path, str(exc), row=line) from exc


def _sample(
    raw_dir: Path, row: dict, hw: tuple[int, int], load: Callable[[Path], np.ndarray], seen: dict[str, int],
    masks_dir: str | None,
) -> Sample | Rejection:
    """One DL_info row; raises ValueError (turned into a DataError naming the row) on bad data."""
    name = row["File_name"].strip()
    series, _, tail = name.rpartition("_")
    key = int(row["Key_slice_index"])
    if not series or tail != f"{key:03d}.png":
        raise ValueError(f"File_name {name!r} does not match Key_slice_index {key}")
    j = seen[name] = seen.get(name, -1) + 1
    points = parse_recist(_numbers(row, "Measurement_coordinates", 8)) - 1.0
    box = _numbers(row, "Bounding_boxes", 4) - 1.0
    spacing = _numbers(row, "Spacing_mm_px_", 3)
    window = _numbers(row, "DICOM_windows", 2)
    first, last = _numbers(row, "Slice_range", 2).astype(int)
    split = SPLITS.get(row["Train_Val_Test"].strip())
    if split is None or not first <= key <= last or spacing[2] <= 0:
        raise ValueError("Train_Val_Test must be 1, 2 or 3, Key_slice_index within Slice_range, slice interval > 0")

    folder = raw_dir / "Images_png" / series
    key_image = load(folder / f"{key:03d}.png")
    check_inside(points, key_image.shape)
    offset = patch_origin(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), hw)
    stem, source = name.removesuffix(".png"), f"Images_png/{series}/{key:03d}.png"
    recist = to_patch(points, offset)
    outside = outside_patch(recist, hw)
    if outside:
        return Rejection(f"{stem}_{j}", source, outside)
    fill = window[0] + HU_OFFSET

    def patch_at(index: int) -> np.ndarray:
        return crop(load(folder / f"{index:03d}.png"), *offset, hw, fill).astype(np.float32)

    channels = []
    for offset_mm in OFFSETS_MM:
        position = min(max(key + offset_mm / spacing[2], first), last)
        below = math.floor(position)
        weight = position - below
        channel = patch_at(below)
        if weight > 1e-6:
            channel = (1 - weight) * channel + weight * patch_at(below + 1)
        channels.append(channel)
    image = window_to_uint8(np.stack(channels, axis=-1) - HU_OFFSET, *window)

    gt = None
    if masks_dir is not None:
        mask = cv2.imread(str(raw_dir / masks_dir / f"{stem}_{j}.png"), cv2.IMREAD_GRAYSCALE)
        if mask is None or mask.shape != key_image.shape:
            raise ValueError(f"missing or mis-sized mask {masks_dir}/{stem}_{j}.png")
        gt = crop(mask > 127, *offset, hw, False)
    return Sample(
        lesion_id=f"{stem}_{j}",
        group_id=str(int(row["Patient_index"])),
        image=image,
        recist=recist,
        recist_source="annotation",
        bbox=tuple(float(v) for v in to_patch(box.reshape(2, 2), offset).ravel()),
        source=source,
        offset_xy=offset,
        scale_xy=(1.0, 1.0),
        spacing_xy=(float(spacing[0]), float(spacing[1])),
        gt=gt,
        split=split,
    )
