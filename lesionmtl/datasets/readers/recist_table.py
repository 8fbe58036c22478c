"""``recist_table`` reader: a user's own RECIST-annotated images, listed one lesion per row.

The table (``lesions.csv``, tab- or comma-separated, or ``lesions.parquet``) has the columns
``image`` (path relative to the table: 8- or 16-bit PNG, JPEG, NIfTI ``.nii``/``.nii.gz``, a DICOM
file of any name, or a folder holding one DICOM series: :mod:`.dicom`) and
``x11, y11, x12, y12, x21, y21, x22, y22`` (RECIST endpoints, 0-based source pixels, long axis
first; x is the column and y the row of a 2-D image; for NIfTI, x and y index the first and second
array axes of the slice as stored, ``dataobj[x, y, slice]``), and optionally ``slice``, ``mask``,
``split``, ``group``, ``lesion_id``, ``spacing_x``, ``spacing_y``, ``window_low``, ``window_high``,
``hu_offset``, and for DICOM ``instance`` (the marked slice of a series folder: SOPInstanceUID or
InstanceNumber) and ``frame`` (0-based, of a multi-frame file).  Where a DICOM header gives the
spacing, a row's spacing must agree with it; a row's window must overlap the image's values.

The patch is cut as for DeepLesion: centred on the RECIST box, at the source resolution, the key
slice's window in all three channels (a DICOM series: the slices at -2 / 0 / +2 mm).  The same functions cut the patches of ``lesionmtl segment``,
so a trained model sees new lesions exactly as it saw its training data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pandas as pd

from ...patches import crop, patch_origin, to_patch, window_to_uint8
from ...recist import check_inside, parse_recist
from ..base import SPLITS, DataError, Rejection, Sample, patch_hw, read_table, recist_bbox
from .dicom import DicomImage, DicomSeries, is_dicom, read_dicom

POINT_COLUMNS = ("x11", "y11", "x12", "y12", "x21", "y21", "x22", "y22")
REQUIRED = ("image", *POINT_COLUMNS)
TABLE_NAMES = ("lesions.csv", "lesions.tsv", "lesions.parquet")
DEFAULT_WINDOW = (-175.0, 275.0)  # soft tissue, DeepLesion's most common DICOM window
DEFAULT_HU_OFFSET = 32768.0  # DeepLesion's 16-bit PNG convention: stored value = HU + 32768
NIFTI_SUFFIXES = (".nii", ".nii.gz")
IMAGE_SUFFIXES = (*NIFTI_SUFFIXES, ".png", ".jpg", ".jpeg", ".dcm")
# A row's spacing agrees with the header's within this relative difference.
SPACING_TOLERANCE = 1e-3
# Measured on a mask, the short axis can come out a fraction of a pixel longer than the long one
# (round lesions, pixel bands); a swapped pair of axes is off by far more.
SHORT_AXIS_TOLERANCE_PX = 1.0


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


@dataclass(frozen=True)
class LesionRow:
    """One parsed table row (``line``: its row number as reported in errors)."""

    line: int
    image: str
    points: np.ndarray  # (4, 2) source pixels
    slice: int | None = None
    mask: str | None = None
    split: str | None = None
    group: str | None = None
    lesion_id: str | None = None
    spacing_xy: tuple[float, float] | None = None
    window: tuple[float, float] | None = None
    hu_offset: float | None = None
    instance: str | None = None
    frame: int | None = None


@dataclass(frozen=True)
class SourceImage:
    """The 2-D image a lesion was marked on, as (rows = y, columns = x).

    ``pixels`` is float32 intensities (``ct``: HU or another modality's values, windowed into
    the patch; (H, W, 3) for the -2 / 0 / +2 mm channels of a DICOM series) or uint8 (``grey``,
    ``rgb``: used as they are).  ``nifti`` is the volume's header facts for writing masks back;
    ``dicom`` the marked DICOM image (SEG and SR reference it); ``window`` the source's own
    window (a DICOM header's), ``invert`` for MONOCHROME1.
    """

    pixels: np.ndarray
    kind: str  # "ct" | "grey" | "rgb"
    spacing_xy: tuple[float, float]
    nifti_shape: tuple[int, ...] | None = None
    nifti_affine: np.ndarray | None = None
    dicom: DicomImage | None = None
    window: tuple[float, float] | None = None
    invert: bool = False
    notes: tuple[str, ...] = ()

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])

    @property
    def layout(self) -> str:
        """What a model sees of it: ``<modality> 2.5-D``, ``<modality> slice``, ``grey`` or ``colour``."""
        if self.kind == "ct":
            modality = (self.dicom.facts["dicom_modality"] if self.dicom else "") or "CT"
            return f"{modality} {'2.5-D' if self.pixels.ndim == 3 else 'slice'}"
        return "colour" if self.kind == "rgb" else "grey"


def find_table(raw_dir: Path) -> Path:
    """The lesion table of a ``recist_table`` folder (``raw_dir`` may also be the table itself)."""
    raw_dir = Path(raw_dir)
    if raw_dir.is_file():
        return raw_dir
    for name in TABLE_NAMES:
        if (raw_dir / name).is_file():
            return raw_dir / name
    raise DataError(raw_dir, f"no lesion table: expected one of {', '.join(TABLE_NAMES)}")


def table_rows(path: Path) -> list[tuple[int, dict]]:
    """(row number, all-string row) of a CSV/TSV (row number = line in the file) or Parquet
    (row number = 1-based data row) lesion table; a :class:`DataError` when a required column is missing."""
    path = Path(path)
    if path.suffix == ".parquet":
        try:
            table = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise DataError(path, f"unreadable Parquet table ({exc})") from exc
        table = table.astype(object).where(table.notna(), "").astype(str)
        missing = [c for c in REQUIRED if c not in table.columns]
        if missing:
            raise DataError(path, f"missing required column(s) {', '.join(missing)}")
        return list(enumerate(table.to_dict("records"), start=1))
    return list(enumerate(read_table(path, REQUIRED).to_dict("records"), start=2))


def _optional(row: dict, column: str) -> str | None:
    value = str(row.get(column, "")).strip()
    return value if value and value.lower() not in ("nan", "none") else None


def _number(row: dict, column: str) -> float | None:
    text = _optional(row, column)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"column {column} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"column {column} must be finite, got {text!r}")
    return value


def _pair(row: dict, first: str, second: str) -> tuple[float, float] | None:
    a, b = _number(row, first), _number(row, second)
    if (a is None) != (b is None):
        raise ValueError(f"columns {first} and {second} go together: give both or neither")
    return None if a is None else (a, b)


def parse_row(row: dict, line: int) -> LesionRow:
    """Check and convert one row; a ValueError says what is wrong with it."""
    image = _optional(row, "image")
    if image is None:
        raise ValueError("column image is empty")
    points = parse_recist([_number(row, c) if _optional(row, c) else math.nan for c in POINT_COLUMNS])
    long_len = float(np.hypot(*(points[1] - points[0])))
    short_len = float(np.hypot(*(points[3] - points[2])))
    if long_len <= 0:
        raise ValueError("the long axis (x11, y11)-(x12, y12) has length 0")
    if short_len > long_len + SHORT_AXIS_TOLERANCE_PX:
        raise ValueError(f"short axis ({short_len:.1f} px) longer than the long axis ({long_len:.1f} px)")
    slice_value = _number(row, "slice")
    if slice_value is not None and (slice_value != int(slice_value) or slice_value < 0):
        raise ValueError(f"column slice must be a whole number >= 0, got {slice_value:g}")
    if slice_value is not None and not is_nifti(image):
        raise ValueError(f"column slice is for NIfTI images only, {image} is not one")
    frame = _number(row, "frame")
    if frame is not None and (frame != int(frame) or frame < 0):
        raise ValueError(f"column frame must be a whole number >= 0, got {frame:g}")
    instance = _optional(row, "instance")
    if instance is not None and re.fullmatch(r"\d+\.0", instance):  # an InstanceNumber read as a float (Parquet)
        instance = instance[:-2]
    if (frame is not None or instance is not None) and is_nifti(image):
        raise ValueError(f"columns frame and instance are for DICOM images, {image} is NIfTI")
    split = _optional(row, "split")
    if split is not None and split not in SPLITS:
        raise ValueError(f"column split must be one of {', '.join(SPLITS)}, got {split!r}")
    spacing = _pair(row, "spacing_x", "spacing_y")
    if spacing is not None and min(spacing) <= 0:
        raise ValueError(f"spacing_x and spacing_y must be > 0, got {spacing}")
    window = _pair(row, "window_low", "window_high")
    if window is not None and not window[1] > window[0]:
        raise ValueError(f"window_high must exceed window_low, got {window}")
    return LesionRow(
        line=line,
        image=image,
        points=points,
        slice=None if slice_value is None else int(slice_value),
        mask=_optional(row, "mask"),
        split=split,
        group=_optional(row, "group"),
        lesion_id=_optional(row, "lesion_id"),
        spacing_xy=spacing,
        window=window,
        hu_offset=_number(row, "hu_offset"),
        instance=instance,
        frame=None if frame is None else int(frame),
    )


def _nifti(path: Path) -> nib.Nifti1Image:
    try:
        return nib.load(path)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise ValueError(f"unreadable NIfTI {path.name} ({exc})") from exc


def _nifti_slice(image: nib.Nifti1Image, index: int | None, name: str) -> np.ndarray:
    """The 2-D slice ``dataobj[:, :, index]`` transposed to (y, x) = (rows, columns)."""
    shape = image.shape
    if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1 and index in (None, 0)):
        plane = np.asarray(image.dataobj).reshape(shape[:2])
    elif len(shape) == 3:
        if index is None:
            raise ValueError(f"{name} is a volume of {shape[2]} slices: column slice is needed")
        if index >= shape[2]:
            raise ValueError(f"slice {index} outside {name} ({shape[2]} slices, 0-based)")
        plane = np.asarray(image.dataobj[:, :, index])
    else:
        raise ValueError(f"{name} has shape {shape}: need a 2-D image or a 3-D volume")
    return np.ascontiguousarray(plane.T)


class ImageLoader:
    """Reads the images and masks of a table (relative to ``base``), each image file once."""

    def __init__(self, base: Path, cache_size: int = 8):
        self.base = Path(base)
        self._read = lru_cache(maxsize=cache_size)(self._read_file)
        self._series = lru_cache(maxsize=cache_size)(lambda name: DicomSeries(self.base / name, name))
        self._dicom = lru_cache(maxsize=cache_size)(lambda name, frame: read_dicom(self.base / name, name, frame))

    def _path(self, name: str) -> Path:
        path = self.base / name
        if not path.is_file():
            raise ValueError(f"file not found: {name}")
        return path

    def _read_file(self, name: str) -> np.ndarray | nib.Nifti1Image:
        path = self._path(name)
        if is_nifti(name):
            return _nifti(path)
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise ValueError(f"unreadable image {name}: not a PNG, JPEG, NIfTI or DICOM file")
        return pixels

    def _read_dicom(self, row: LesionRow) -> DicomImage | None:
        """The row's DICOM image (a file, or the ``instance`` of a series folder), None for other files."""
        path = self.base / row.image
        if path.is_dir():
            if row.frame is not None:
                raise ValueError(f"{row.image} is a series folder: column frame is for a multi-frame file")
            return self._series(row.image).slice_at(row.instance)
        if not is_dicom(path):
            if row.instance is not None or row.frame is not None:
                raise ValueError(f"columns frame and instance are for DICOM images, {row.image} is not one")
            return None
        if row.instance is not None:
            raise ValueError(f"column instance names a slice of a series folder, {row.image} is one file")
        return self._dicom(row.image, row.frame)

    def image(self, row: LesionRow, hu_offset: float = DEFAULT_HU_OFFSET) -> SourceImage:
        """The row's image: DICOM through its header (:func:`dicom_source`), 16-bit PNG as HU
        (value - ``hu_offset``, or the row's own), NIfTI as stored (HU), 8-bit grey or colour as it is."""
        dicom = self._read_dicom(row)
        if dicom is not None:
            return dicom_source(dicom, row)
        data = self._read(row.image)
        if isinstance(data, nib.Nifti1Image):
            zooms = tuple(float(z) for z in data.header.get_zooms()[:2])
            spacing = row.spacing_xy or (zooms if len(zooms) == 2 and min(zooms) > 0 else (math.nan, math.nan))
            pixels = _nifti_slice(data, row.slice, row.image).astype(np.float32)
            return SourceImage(pixels, "ct", spacing, tuple(data.shape), data.affine)
        spacing = row.spacing_xy or (math.nan, math.nan)
        if data.dtype == np.uint16 and data.ndim == 2:
            offset = row.hu_offset if row.hu_offset is not None else hu_offset
            return SourceImage(data.astype(np.float32) - offset, "ct", spacing)
        if data.dtype != np.uint8:
            raise ValueError(
                f"{row.image}: unsupported {data.dtype} image of shape {data.shape} (need 8-bit grey or colour, or 16-bit grey)"
            )
        if data.ndim == 2:
            return SourceImage(data, "grey", spacing)
        code = cv2.COLOR_BGRA2RGB if data.shape[2] == 4 else cv2.COLOR_BGR2RGB
        return SourceImage(cv2.cvtColor(data, code), "rgb", spacing)

    def mask(self, row: LesionRow, source: SourceImage) -> np.ndarray | None:
        """The row's reference mask (nonzero = lesion) in the image's (rows, columns), or None."""
        if row.mask is None:
            return None
        data = self._read(row.mask)
        if isinstance(data, nib.Nifti1Image):
            if source.nifti_shape is None:
                raise ValueError(f"mask {row.mask} is NIfTI but image {row.image} is not")
            if tuple(data.shape) != source.nifti_shape or not np.allclose(data.affine, source.nifti_affine, atol=1e-3):
                raise ValueError(f"mask {row.mask} shape {tuple(data.shape)} or affine differs from {row.image}")
            plane = _nifti_slice(data, row.slice, row.mask)
        else:
            plane = data if data.ndim == 2 else data[..., 0]
            if plane.shape != source.hw:
                raise ValueError(
                    f"mask {row.mask} is {plane.shape[0]}x{plane.shape[1]}, image {source.hw[0]}x{source.hw[1]}"
                )
        return np.asarray(plane) != 0


def dicom_source(dicom: DicomImage, row: LesionRow) -> SourceImage:
    """A DICOM image as the table reader's :class:`SourceImage`, the row checked against its header:
    a row's spacing must match the header's, a row's window must overlap the image's values."""
    notes = list(dicom.notes)
    if row.hu_offset is not None:
        raise ValueError(f"column hu_offset is for 16-bit PNG; {row.image} is DICOM, rescaled by its own header")
    spacing = dicom.spacing_xy
    if row.spacing_xy is not None:
        if not math.isnan(spacing[0]) and not np.allclose(row.spacing_xy, spacing, rtol=SPACING_TOLERANCE, atol=0):
            raise ValueError(
                f"spacing_x, spacing_y {row.spacing_xy} contradict {row.image}'s header "
                f"({spacing[0]:g}, {spacing[1]:g} mm per pixel in x, y)"
            )
        if math.isnan(spacing[0]):
            notes.append("spacing from the table (the header has none)")
        spacing = row.spacing_xy
    if dicom.colour:
        if row.window is not None:
            raise ValueError(f"columns window_low/window_high are for grey images; {row.image} is colour")
        return SourceImage(dicom.pixels, "rgb", spacing, dicom=dicom, notes=tuple(notes))
    low, high = float(dicom.pixels.min()), float(dicom.pixels.max())
    if row.window is not None and (row.window[1] <= low or row.window[0] >= high):
        raise ValueError(
            f"window {row.window[0]:g}..{row.window[1]:g} lies outside {row.image}'s values {low:g}..{high:g} "
            "(after the header's modality LUT)"
        )
    window = dicom.window
    if window is None and dicom.facts["dicom_modality"] != "CT" and high > low:
        window = (low, high)
        if row.window is None:
            notes.append(f"no window in the table or header: the image's range {low:g}..{high:g}")
    return SourceImage(dicom.pixels, "ct", spacing, dicom=dicom, window=window, invert=dicom.invert, notes=tuple(notes))


def cut_patch(
    source: SourceImage, points: np.ndarray, size_hw: tuple[int, int], window: tuple[float, float]
) -> tuple[np.ndarray, tuple[int, int]]:
    """The (h, w, 3) uint8 patch centred on the RECIST box (DeepLesion's ``Bounding_boxes``) and its
    top-left source pixel: CT windowed to ``window`` (outside the image: the window's low end),
    8-bit grey repeated in three channels, colour as it is (outside: black)."""
    x0, y0, x1, y1 = recist_bbox(points)
    offset = patch_origin(((x0 + x1) / 2, (y0 + y1) / 2), size_hw)
    if source.kind == "ct":
        patch = window_to_uint8(crop(source.pixels, *offset, size_hw, fill=window[0]), *window)
        if source.invert:  # MONOCHROME1: low values bright
            patch = 255 - patch
    else:
        patch = crop(source.pixels, *offset, size_hw, fill=0)
    if patch.ndim == 2:
        patch = np.repeat(patch[:, :, None], 3, axis=2)
    return patch, offset


def default_lesion_id(row: LesionRow, seen: dict[str, int]) -> str:
    """``<image path without suffix>[_z<slice>|_f<frame>|_i<instance>]_<j>``, j counting the lesions
    of that image (and slice, frame or instance)."""
    stem = row.image.rstrip("/\\")
    for suffix in IMAGE_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.replace("/", "_").replace("\\", "_")
    if row.slice is not None:
        stem += f"_z{row.slice:03d}"
    if row.frame is not None:
        stem += f"_f{row.frame:03d}"
    if row.instance is not None:
        stem += f"_i{row.instance}"
    j = seen[stem] = seen.get(stem, -1) + 1
    return f"{stem}_{j}"


def read_rows(table: Path) -> tuple[list[LesionRow], list[str]]:
    """Every row of the table parsed, and the problems of the bad ones (``row N: reason``)."""
    rows, problems = [], []
    for line, raw in table_rows(table):
        try:
            rows.append(parse_row(raw, line))
        except ValueError as exc:
            problems.append(f"row {line}: {exc}")
    return rows, problems


def raise_problems(table: Path, problems: list[str]) -> None:
    """One :class:`DataError` naming the table and every bad row (row N when there is one)."""
    if len(problems) == 1:
        line, _, reason = problems[0].partition(": ")
        raise DataError(table, reason, row=int(line.removeprefix("row ")))
    if problems:
        raise DataError(table, f"{len(problems)} bad rows: " + "; ".join(problems))


@dataclass(frozen=True)
class CutLesion:
    """One table row's lesion, its patch cut, with the facts of its image needed to paste a mask back."""

    row: LesionRow
    lesion_id: str
    patch: np.ndarray  # (h, w, 3) uint8
    offset: tuple[int, int]  # source pixel of the patch's top-left pixel
    source_hw: tuple[int, int]
    spacing_xy: tuple[float, float]
    nifti_shape: tuple[int, ...] | None
    nifti_affine: np.ndarray | None
    mask: np.ndarray | None  # (H, W) bool reference mask in source pixels, when asked for and given
    dicom: DicomImage | None = None  # the marked DICOM image, its pixels dropped
    window: tuple[float, float] | None = None  # the window the patch was cut with (grey images)
    layout: str = ""  # SourceImage.layout
    notes: tuple[str, ...] = ()

    def facts_row(self) -> dict:
        """What lesions.parquet keeps of its image: the window, the layout and the DICOM header
        facts (UIDs, modality, frame; no patient identifiers)."""
        low, high = self.window or (math.nan, math.nan)
        facts = self.dicom.facts if self.dicom is not None else {}
        return {"image_layout": self.layout, "window_low": low, "window_high": high, **facts}


def cut_lesions(
    rows: list[LesionRow],
    base: Path,
    size_hw: tuple[int, int],
    window: tuple[float, float] = DEFAULT_WINDOW,
    hu_offset: float = DEFAULT_HU_OFFSET,
    *,
    with_masks: bool = False,
) -> Iterator[CutLesion | str]:
    """For each row (images relative to ``base``): its :class:`CutLesion`, or the problem that
    prevents it (``row N: reason``).  The one place patches of a table are cut: ingest and
    ``lesionmtl segment`` both come through here."""
    loader = ImageLoader(base)
    seen: dict[str, int] = {}
    ids: dict[str, int] = {}
    for row in rows:
        try:
            source = loader.image(row, hu_offset)
            check_inside(row.points, source.hw)
            mask = loader.mask(row, source) if with_masks else None
            lesion_id = row.lesion_id or default_lesion_id(row, seen)
            if lesion_id in ids:
                raise ValueError(f"lesion_id {lesion_id!r} also on row {ids[lesion_id]}")
            ids[lesion_id] = row.line
        except ValueError as exc:
            yield f"row {row.line}: {exc}"
            continue
        used = None if source.kind != "ct" else row.window or source.window or window
        patch, offset = cut_patch(source, row.points, size_hw, used or window)
        yield CutLesion(
            row,
            lesion_id,
            patch,
            offset,
            source.hw,
            source.spacing_xy,
            source.nifti_shape,
            source.nifti_affine,
            mask,
            dicom=None if source.dicom is None else replace(source.dicom, pixels=np.empty(0)),
            window=used,
            layout=source.layout,
            notes=source.notes,
        )


def by_row(problems: list[str]) -> list[str]:
    """Problems (``row N: reason``) in row order."""
    return sorted(problems, key=lambda p: int(p.split(":")[0].removeprefix("row ")))


def read_recist_table(
    raw_dir: Path,
    *,
    patch_size: int | tuple[int, int],
    window: tuple[float, float] = DEFAULT_WINDOW,
    hu_offset: float = DEFAULT_HU_OFFSET,
) -> Iterator[Sample | Rejection]:
    """Yield one :class:`Sample` per table row.  ``window`` (HU) and ``hu_offset`` are the defaults
    for rows without their own.  A lesion longer than the patch is kept, as in the other readers:
    its marks reach beyond the patch and the masks drawn from them are clipped to it.

    Every row is checked; bad rows (missing file, points outside the image, short axis longer than
    long, a mask of another size, ...) end the stream with one :class:`DataError` that lists each
    with its row number, after the good ones were yielded (ingest writes nothing then).
    """
    table = find_table(Path(raw_dir))
    hw = patch_hw(patch_size)
    rows, problems = read_rows(table)
    for item in cut_lesions(rows, table.parent, hw, window, hu_offset, with_masks=True):
        if isinstance(item, str):
            problems.append(item)
        else:
            yield _sample(item, hw)
    raise_problems(table, by_row(problems))


def _sample(lesion: CutLesion, hw: tuple[int, int]) -> Sample:
    row = lesion.row
    recist = to_patch(row.points, lesion.offset)
    return Sample(
        lesion_id=lesion.lesion_id,
        group_id=row.group or row.image,
        image=lesion.patch,
        recist=recist,
        recist_src=row.points,
        recist_source="annotation",
        bbox=recist_bbox(recist),
        source=row.image,
        offset_xy=lesion.offset,
        source_hw=lesion.source_hw,
        scale_xy=(1.0, 1.0),
        spacing_xy=lesion.spacing_xy,
        gt=None if lesion.mask is None else crop(lesion.mask, *lesion.offset, hw, False),
        split=row.split,
        notes="; ".join(lesion.notes),
        extra=lesion.facts_row(),
    )
