"""DeepLesion reader: ``DL_info.csv`` + ``Images_png/<series>/<slice>.png`` (+ optional ``true_masks/``).

Each CSV row is one lesion, parsed once into a :class:`DLInfoRow` (which the fetch step's slice
selection, :mod:`lesionmtl.fetching.deeplesion`, reads too).  The patch is centred on the lesion's bounding box; its three
channels are the slices 2 mm below, at and above the key slice, interpolated linearly between
stored slices at the series' slice interval and windowed by the row's ``DICOM_windows``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ...patches import crop, patch_origin, to_patch, window_to_uint8
from ...recist import check_inside, parse_recist
from ..base import DEGENERATE, DUPLICATE, DataError, Rejection, Sample, patch_hw, read_mask, read_table

REQUIRED = (
    "File_name",
    "Patient_index",
    "Key_slice_index",
    "Measurement_coordinates",
    "Bounding_boxes",
    "Slice_range",
    "Spacing_mm_px_",
    "DICOM_windows",
    "Train_Val_Test",
)
HU_OFFSET = 32768
OFFSETS_MM = (-2.0, 0.0, 2.0)
SPLITS = {"1": "train", "2": "val", "3": "test"}


def channel_slices(key: int, first: int, last: int, interval_mm: float) -> list[list[tuple[int, float]]]:
    """For each channel (-2, 0, +2 mm from the key slice): the stored slices and their weights.

    Linear interpolation between the two stored slices around the position, clamped to the
    series' ``Slice_range``; a position on a stored slice uses that slice alone.
    """
    terms = []
    for offset_mm in OFFSETS_MM:
        position = min(max(key + offset_mm / interval_mm, first), last)
        below = math.floor(position)
        weight = position - below
        terms.append([(below, 1 - weight), (below + 1, weight)] if weight > 1e-6 else [(below, 1.0)])
    return terms


def slice_path(folder: Path, index: int) -> Path:
    """A stored slice: ``103.png`` (3 digits, or more past 999) or zero-padded ``0103.png``."""
    path = folder / f"{index:03d}.png"
    if not path.is_file() and (padded := folder / f"{index:04d}.png").is_file():
        return padded
    return path


def _numbers(row: dict, column: str, count: int) -> np.ndarray:
    try:
        values = np.array([float(v) for v in row[column].split(",")])
    except ValueError:
        values = np.array([])
    if values.size != count or not np.isfinite(values).all():
        raise ValueError(f"column {column} must hold {count} numbers, got {row[column]!r}")
    return values


def _integer(row: dict, column: str) -> int:
    try:
        return int(row[column])
    except ValueError:
        raise ValueError(f"column {column} must hold a whole number, got {row[column]!r}") from None


@dataclass(frozen=True, eq=False)
class DLInfoRow:
    """One ``DL_info.csv`` row, parsed and checked once, for the reader and for the fetch step's
    slice selection. Coordinates are 0-based pixels (the file's are 1-based)."""

    line: int  # line of the file (the header is line 1)
    file_name: str  # <series>_<key slice>.png
    series: str  # folder under Images_png/
    key: int  # Key_slice_index
    patient: int  # Patient_index
    points: np.ndarray  # (4, 2) RECIST endpoints: long axis, then short axis
    box: np.ndarray  # (4,) Bounding_boxes x0, y0, x1, y1
    slice_range: tuple[int, int]  # first and last stored slice of the series
    spacing: tuple[float, float, float]  # mm per pixel in x and y, slice interval in mm
    window: tuple[float, float]  # DICOM_windows: HU min, max
    split: str  # train, val or test
    fields: dict[str, str]  # the row as read, every column

    @classmethod
    def parse(cls, row: dict[str, str], line: int) -> DLInfoRow:
        """Raises ValueError naming the column and the value when the row cannot be read."""
        series, key = series_and_key(row)
        first, last = (int(v) for v in _numbers(row, "Slice_range", 2))
        spacing = _numbers(row, "Spacing_mm_px_", 3)
        window = _numbers(row, "DICOM_windows", 2)
        split = SPLITS.get(row["Train_Val_Test"].strip())
        if split is None:
            raise ValueError(f"Train_Val_Test must be 1, 2 or 3, got {row['Train_Val_Test']!r}")
        if not first <= key <= last:
            raise ValueError(f"Key_slice_index {key} outside Slice_range {first}-{last}")
        if spacing[2] <= 0:
            raise ValueError(f"slice interval (third Spacing_mm_px_ value) must be > 0, got {spacing[2]:g}")
        if window[0] >= window[1]:
            raise ValueError(f"DICOM_windows must be min, max with min < max, got {row['DICOM_windows']!r}")
        return cls(
            line=line,
            file_name=row["File_name"].strip(),
            series=series,
            key=key,
            patient=_integer(row, "Patient_index"),
            points=parse_recist(_numbers(row, "Measurement_coordinates", 8)) - 1.0,
            box=_numbers(row, "Bounding_boxes", 4) - 1.0,
            slice_range=(first, last),
            spacing=(float(spacing[0]), float(spacing[1]), float(spacing[2])),
            window=(float(window[0]), float(window[1])),
            split=split,
            fields=dict(row),
        )

    def channel_slices(self) -> list[list[tuple[int, float]]]:
        """The stored slices (and weights) of the patch's -2 / 0 / +2 mm channels."""
        return channel_slices(self.key, *self.slice_range, self.spacing[2])

    def slices_read(self) -> set[int]:
        """Every stored slice of the series the reader opens for this lesion."""
        return {self.key} | {index for terms in self.channel_slices() for index, _ in terms}


def read_dl_info(csv_path: Path) -> list[DLInfoRow]:
    """Every row of a ``DL_info.csv``, parsed; a :class:`DataError` names the first bad row."""
    rows = []
    for line, row in enumerate(read_table(csv_path, REQUIRED).to_dict("records"), start=2):
        try:
            rows.append(DLInfoRow.parse(row, line))
        except ValueError as exc:
            raise DataError(csv_path, str(exc), row=line) from exc
    return rows


def read_deeplesion(
    raw_dir: Path, *, patch_size: int | tuple[int, int] = 120, masks_dir: str = "true_masks"
) -> Iterator[Sample | Rejection]:
    """Yield one :class:`Sample` per ``DL_info.csv`` row, with the official split.

    A lesion longer than the patch is kept: its RECIST marks reach beyond the patch edge and the
    masks drawn from them are clipped to the patch (the paper keeps every lesion).

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
        name = path.relative_to(raw_dir).as_posix()
        if not path.is_file():
            raise ValueError(f"missing slice {name}")
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"{name} is not a 16-bit grey PNG (truncated?)")
        if image.dtype != np.uint16 or image.ndim != 2:
            channels = 1 if image.ndim == 2 else image.shape[2]
            raise ValueError(f"{name} is not a 16-bit grey PNG ({image.dtype}, {channels} channel(s))")
        return image

    seen: dict[str, int] = {}
    first_line: dict[tuple, int] = {}
    for row in read_dl_info(csv_path):
        lesion = (row.file_name, tuple(row.points.ravel()))
        try:
            if lesion in first_line:  # read again, it would renumber the slice's real next lesion
                yield Rejection(
                    f"{row.file_name.removesuffix('.png')} row {row.line}",
                    csv_path.name,
                    DUPLICATE,
                    f"row {row.line} repeats the lesion of row {first_line[lesion]}",
                    group_id=str(row.patient),
                    split=row.split,
                )
                continue
            first_line[lesion] = row.line
            yield _sample(raw_dir, row, hw, load, seen, masks_dir if has_masks else None)
        except ValueError as exc:
            raise DataError(csv_path, str(exc), row=row.line) from exc


def series_and_key(row: dict) -> tuple[str, int]:
    """The series folder and key slice of a DL_info row (``File_name`` = ``<series>_<slice>.png``)."""
    name = row["File_name"].strip()
    series, _, tail = name.rpartition("_")
    key = _integer(row, "Key_slice_index")
    if not series or not tail.endswith(".png") or not tail[:-4].isdigit() or int(tail[:-4]) != key:
        raise ValueError(f"File_name {name!r} does not match Key_slice_index {key}")
    return series, key


def _sample(
    raw_dir: Path,
    row: DLInfoRow,
    hw: tuple[int, int],
    load: Callable[[Path], np.ndarray],
    seen: dict[str, int],
    masks_dir: str | None,
) -> Sample:
    """One DL_info row; raises ValueError (turned into a DataError naming the row) on bad data."""
    name, series, key, points, box, window = row.file_name, row.series, row.key, row.points, row.box, row.window
    j = seen[name] = seen.get(name, -1) + 1
    lesion_id = f"{name.removesuffix('.png')}_{j}"
    key_source = slice_path(raw_dir / "Images_png" / series, key).relative_to(raw_dir).as_posix()
    points, notes, degenerate = _checked_axes(points, row.fields)
    if degenerate:
        return Rejection(lesion_id, key_source, DEGENERATE, degenerate, group_id=str(row.patient), split=row.split)

    folder = raw_dir / "Images_png" / series
    key_image = load(slice_path(folder, key))
    check_inside(points, key_image.shape)
    offset = patch_origin(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), hw)
    recist = to_patch(points, offset)
    fill = window[0] + HU_OFFSET

    def patch_at(index: int) -> np.ndarray:
        return crop(load(slice_path(folder, index)), *offset, hw, fill).astype(np.float32)

    channels = [sum(w * patch_at(i) for i, w in terms) for terms in row.channel_slices()]
    image = window_to_uint8(np.stack(channels, axis=-1) - HU_OFFSET, *window)

    gt = None
    if masks_dir is not None:
        mask = read_mask(raw_dir / masks_dir / f"{lesion_id}.png", f"{masks_dir}/{lesion_id}.png")
        if mask.shape != key_image.shape:
            raise ValueError(f"mask {masks_dir}/{lesion_id}.png is {mask.shape}, its slice {key_image.shape}")
        gt = crop(mask, *offset, hw, False)
    return Sample(
        lesion_id=lesion_id,
        group_id=str(row.patient),
        image=image,
        recist=recist,
        recist_src=points,
        recist_source="annotation",
        bbox=tuple(float(v) for v in to_patch(box.reshape(2, 2), offset).ravel()),
        source=key_source,
        offset_xy=offset,
        source_hw=key_image.shape,
        scale_xy=(1.0, 1.0),
        spacing_xy=row.spacing[:2],
        gt=gt,
        split=row.split,
        notes=notes,
    )


def _checked_axes(points: np.ndarray, row: dict) -> tuple[np.ndarray, str, str]:
    """(points, note, why degenerate) of a row's RECIST: an axis of zero length (or a listed
    ``Lesion_diameters_Pixel_`` <= 0) makes the lesion degenerate; a short axis longer than the
    long one is swapped, and the swap noted."""
    long, short = (float(np.hypot(*(b - a))) for a, b in (points[:2], points[2:]))
    diameters = row.get("Lesion_diameters_Pixel_", "").strip()
    listed = _numbers(row, "Lesion_diameters_Pixel_", 2) if diameters else np.ones(2)
    if min(long, short) < 1e-6 or (listed <= 0).any():
        return points, "", f"RECIST axes of {long:g} and {short:g} px (listed diameters {diameters or '-'})"
    if short > long:
        note = f"short axis ({short:g} px) longer than long axis ({long:g} px): axes swapped"
        return points[[2, 3, 0, 1]], note, ""
    return points, "", ""
