"""DICOM images for the ``recist_table`` reader: a file, a frame of a multi-frame file, or a slice of a series.

A table row's ``image`` names a DICOM file (found by its ``DICM`` preamble, whatever its name) or
a folder holding one series (``instance``: the marked slice's SOPInstanceUID or InstanceNumber);
a multi-frame file takes ``frame`` (0-based).  The header is the truth:

- grey values go through the modality LUT (RescaleSlope / RescaleIntercept, or a Modality LUT
  Sequence: :func:`pydicom.pixels.apply_modality_lut`; an enhanced multi-frame's per-frame or
  shared Pixel Value Transformation), so CT values are HU;
- the window is the first WindowCenter / WindowWidth of the header (the row's own window wins);
- the pixel spacing is PixelSpacing (row spacing first, i.e. y then x), else ImagerPixelSpacing
  (said in ``notes``), else unknown;
- MONOCHROME1 is shown inverted, colour (RGB, YBR, palette) is read as RGB.

From a series folder the three channels are the slices at -2 / 0 / +2 mm from the marked one
along the series, placed by ImagePositionPatient projected on the slice normal and interpolated
linearly between the stored slices, as DeepLesion's were.  A folder that mixes series or
orientations, or holds two slices at one position, is refused; gaps are noted.

Every problem is a ``ValueError`` naming the file; the table reader adds the row.  No patient
identifier leaves this module: :attr:`DicomImage.facts` holds only UIDs and acquisition facts.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, pixel_array
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import MediaStorageDirectoryStorage

from ...patches import window_to_uint8
from .deeplesion import OFFSETS_MM

PREAMBLE = 128  # bytes before the "DICM" magic of a DICOM file (PS3.10 7.1)
# Two slices closer than this along the normal are at one position (mm).
SAME_POSITION_MM = 1e-3
# A step between neighbouring slices this many times the series' median step is a gap.
GAP_FACTOR = 1.5
ORIENTATION_TOLERANCE = 1e-4


def is_dicom(path: str | Path) -> bool:
    """True for a file with the DICOM preamble and ``DICM`` magic (PS3.10), whatever its name."""
    try:
        with open(path, "rb") as f:
            head = f.read(PREAMBLE + 4)
    except OSError:
        return False
    return head[PREAMBLE:] == b"DICM"


@dataclass(frozen=True)
class DicomImage:
    """The marked 2-D image of a DICOM source, as (rows = y, columns = x).

    ``pixels``: float32 modality values (HU for CT), (H, W) for one slice or (H, W, 3) for the
    -2 / 0 / +2 mm channels of a series; or (H, W, 3) uint8 RGB when ``colour``.
    ``window``: the header's (low, high), None when it has none.  ``file``/``frame``: the image
    a derived object (SEG, SR) references.
    """

    pixels: np.ndarray
    colour: bool
    spacing_xy: tuple[float, float]
    window: tuple[float, float] | None
    invert: bool
    notes: tuple[str, ...]
    facts: dict
    file: Path
    frame: int | None


def read_header(path: Path, name: str, *, pixels: bool = True) -> Dataset:
    """The dataset of ``path`` (``name``: how errors call it); without the pixel data when not ``pixels``."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except InvalidDicomError as exc:
        raise ValueError(f"{name} is not a DICOM file ({exc})") from exc
    except Exception as exc:  # pydicom raises many types for a damaged file (EOFError, struct.error, ...)
        raise ValueError(f"unreadable DICOM {name}: truncated or damaged ({type(exc).__name__}: {exc})") from exc


def sop_class(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID")
    return uid.name if uid is not None else "no SOP class"


def check_image(ds: Dataset, name: str, *, pixels: bool = True) -> None:
    """An image object we can decode: an image SOP class, pixel data (when ``pixels``), a decoder for its transfer syntax."""
    uid = ds.get("SOPClassUID")
    if uid is not None and "Image Storage" not in uid.name:
        raise ValueError(f"{name} is a {uid.name} object ({ds.get('Modality', 'no modality')}), not an image")
    if pixels and not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise ValueError(f"{name} has no pixel data ({sop_class(ds)})")
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is None:
        raise ValueError(f"{name} has no transfer syntax in its file meta information")
    if syntax.is_compressed:
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError:
            raise ValueError(f"{name}: transfer syntax {syntax.name} ({syntax}) is not supported") from None
        if not decoder.is_available:
            raise ValueError(
                f"{name}: transfer syntax {syntax.name} ({syntax}) needs a decoder that is not installed "
                f"({'; '.join(f'{k}: {v}' for k, v in decoder.missing_dependencies.items()) or 'none known'})"
            )


def n_frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        raise ValueError(f"NumberOfFrames {ds.get('NumberOfFrames')!r} is not a number") from None


def functional(ds: Dataset, sequence: str, keyword: str, frame: int | None = None) -> Any:
    """``keyword`` of the dataset, else of an enhanced multi-frame's functional groups' ``sequence``:
    the frame's own (per-frame groups) first, then the shared ones; None where none has it."""
    if keyword in ds:
        return ds.get(keyword)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    groups = [per_frame[frame]] if per_frame and frame is not None and frame < len(per_frame) else []
    groups += list(ds.get("SharedFunctionalGroupsSequence") or [])[:1]
    for group in groups:
        if group.get(sequence):
            value = group.get(sequence)[0].get(keyword)
            if value is not None:
                return value
    return None


def modality_values(stored: np.ndarray, ds: Dataset, frame: int | None) -> np.ndarray:
    """Stored values through the modality LUT: the image's own, or (enhanced multi-frame) its
    frame's Pixel Value Transformation, which pydicom's :func:`apply_modality_lut` does not read."""
    if "RescaleSlope" in ds or "ModalityLUTSequence" in ds:
        return np.asarray(apply_modality_lut(stored, ds), dtype=np.float32)
    slope = functional(ds, "PixelValueTransformationSequence", "RescaleSlope", frame)
    intercept = functional(ds, "PixelValueTransformationSequence", "RescaleIntercept", frame)
    values = stored.astype(np.float32)
    if slope is not None:
        values = values * np.float32(slope) + np.float32(intercept or 0.0)
    return values


def spacing_of(ds: Dataset, frame: int | None = None) -> tuple[tuple[float, float], str | None]:
    """(x, y) mm per pixel from PixelSpacing (stored as row spacing, column spacing) or
    ImagerPixelSpacing, and the note that says so when it came from the latter; nan when neither."""
    for keyword, note in (
        ("PixelSpacing", None),
        ("ImagerPixelSpacing", "spacing from ImagerPixelSpacing (at the detector, not corrected for magnification)"),
    ):
        value = functional(ds, "PixelMeasuresSequence", keyword, frame)
        if value is not None and len(value) == 2 and min(float(v) for v in value) > 0:
            row_spacing, column_spacing = float(value[0]), float(value[1])
            return (column_spacing, row_spacing), note
    return (math.nan, math.nan), None


def window_of(ds: Dataset, frame: int | None = None) -> tuple[float, float] | None:
    """(low, high) of the header's first WindowCenter / WindowWidth, or None."""
    centre = functional(ds, "FrameVOILUTSequence", "WindowCenter", frame)
    width = functional(ds, "FrameVOILUTSequence", "WindowWidth", frame)
    if centre is None or width is None:
        return None
    first = [float(v[0] if isinstance(v, pydicom.multival.MultiValue) else v) for v in (centre, width)]
    if not first[1] > 0:
        return None
    return first[0] - first[1] / 2, first[0] + first[1] / 2


def facts_of(ds: Dataset, frame: int | None) -> dict:
    """What lesions.parquet keeps of a header: identifiers of the image and its frame of reference, never the patient's."""
    return {
        "dicom_modality": str(ds.get("Modality", "")),
        "dicom_sop_class": sop_class(ds),
        "dicom_study_uid": str(ds.get("StudyInstanceUID", "")),
        "dicom_series_uid": str(ds.get("SeriesInstanceUID", "")),
        "dicom_sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
        "dicom_frame_of_reference_uid": str(ds.get("FrameOfReferenceUID", "")),
        "dicom_frame": -1 if frame is None else int(frame),
    }


def _decode(ds: Dataset, name: str, frame: int | None) -> np.ndarray:
    try:
        return pixel_array(ds, index=frame)
    except Exception as exc:  # truncated data, a corrupt code stream: every decoder raises its own types
        syntax = ds.file_meta.TransferSyntaxUID
        message = " ".join(str(exc).split())[:300]
        if "less than expected" in message:
            raise ValueError(f"{name}: truncated pixel data ({message})") from exc
        raise ValueError(f"{name}: pixel data not decodable as {syntax.name} ({message})") from exc


def _to_uint8(rgb: np.ndarray, bits: int) -> np.ndarray:
    return rgb if rgb.dtype == np.uint8 else window_to_uint8(rgb, 0, 2**bits - 1)


def _frame_index(ds: Dataset, name: str, frame: int | None) -> int | None:
    """The decoder's frame index: None for a single frame, ``frame`` (checked) for a multi-frame image."""
    count = n_frames(ds)
    if count == 1:
        if frame not in (None, 0):
            raise ValueError(f"frame {frame} outside {name} (one frame; frames are 0-based)")
        return None
    if frame is None:
        raise ValueError(f"{name} is a multi-frame image of {count} frames: column frame is needed")
    if frame >= count:
        raise ValueError(f"frame {frame} outside {name} ({count} frames, 0-based)")
    return frame


def read_dicom(path: Path, name: str, frame: int | None = None) -> DicomImage:
    """One DICOM file (``frame`` of a multi-frame one), as :class:`DicomImage`."""
    ds = read_header(path, name)
    check_image(ds, name)
    index = _frame_index(ds, name, frame)
    stored = _decode(ds, name, index)
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    notes = []
    spacing, note = spacing_of(ds, index)
    if note:
        notes.append(note)
    if photometric == "PALETTE COLOR":
        stored = apply_color_lut(stored, ds)
        bits = int(ds.get("RedPaletteColorLookupTableDescriptor", [0, 0, 16])[2])
        pixels, colour = _to_uint8(stored, bits), True
    elif stored.ndim == 3:  # RGB and YBR (pydicom returns YBR converted to RGB)
        pixels, colour = _to_uint8(stored, int(ds.get("BitsStored", 8))), True
    elif photometric in ("MONOCHROME1", "MONOCHROME2"):
        pixels, colour = modality_values(stored, ds, index), False
    else:
        raise ValueError(f"{name}: photometric interpretation {photometric or 'missing'} is not supported")
    return DicomImage(
        pixels=np.ascontiguousarray(pixels),
        colour=colour,
        spacing_xy=spacing,
        window=None if colour else window_of(ds, index),
        invert=photometric == "MONOCHROME1",
        notes=tuple(notes),
        facts=facts_of(ds, frame if index is not None else None),
        file=Path(path),
        frame=index,
    )


def channel_weights(
    positions: np.ndarray, key: int, offsets_mm: tuple[float, ...] = OFFSETS_MM
) -> list[list[tuple[int, float]]]:
    """For each offset from slice ``key``: the slices (indices into sorted ``positions``, mm along
    the normal) and weights of the linear interpolation there, clamped to the series' ends."""
    terms = []
    for offset in offsets_mm:
        z = min(max(positions[key] + offset, positions[0]), positions[-1])
        above = int(np.searchsorted(positions, z - SAME_POSITION_MM))
        if above == len(positions) or abs(positions[above] - z) <= SAME_POSITION_MM:
            terms.append([(min(above, len(positions) - 1), 1.0)])
            continue
        below = above - 1
        weight = float((z - positions[below]) / (positions[above] - positions[below]))
        terms.append([(below, 1 - weight), (above, weight)])
    return terms


class DicomSeries:
    """A folder of one series' slices (``name``: the folder as the table names it), read lazily."""

    def __init__(self, folder: Path, name: str):
        self.folder, self.name = Path(folder), name
        files = sorted(p for p in self.folder.iterdir() if p.is_file() and is_dicom(p))
        headers = {p: read_header(p, self._name(p), pixels=False) for p in files}
        # A DICOMDIR (the media's index) beside the slices is no slice of the series.
        self.headers = {
            p: ds
            for p, ds in headers.items()
            if ds.file_meta.get("MediaStorageSOPClassUID") != MediaStorageDirectoryStorage
        }
        if not self.headers:
            raise ValueError(f"{name} holds no DICOM image file")
        self._check()
        self._hu = lru_cache(maxsize=16)(self._read_hu)

    def _name(self, path: Path) -> str:
        return f"{self.name}/{path.name}"

    def _check(self) -> None:
        series = Counter(str(ds.get("SeriesInstanceUID", "none")) for ds in self.headers.values())
        if len(series) > 1:
            listed = ", ".join(f"{uid} ({n} files)" for uid, n in series.most_common())
            raise ValueError(f"{self.name} mixes {len(series)} series: {listed}; give each its own folder")
        for path, ds in self.headers.items():
            check_image(ds, self._name(path), pixels=False)
            if n_frames(ds) > 1:
                raise ValueError(
                    f"{self._name(path)} is a multi-frame file in a series folder: name the file and its frame"
                )
            if ds.get("ImagePositionPatient") is None or ds.get("ImageOrientationPatient") is None:
                raise ValueError(
                    f"{self._name(path)} has no ImagePositionPatient/ImageOrientationPatient: cannot place it in the series"
                )
        orientations = {p: np.asarray(ds.ImageOrientationPatient, float) for p, ds in self.headers.items()}
        first = next(iter(orientations.values()))
        other = [p for p, o in orientations.items() if not np.allclose(o, first, atol=ORIENTATION_TOLERANCE)]
        if other:
            raise ValueError(
                f"{self.name} mixes slice orientations: {self._name(other[0])} {orientations[other[0]].round(4).tolist()} "
                f"vs {first.round(4).tolist()}"
            )

    @cached_property
    def ordered(self) -> tuple[list[Path], np.ndarray, list[str]]:
        """Files sorted along the slice normal, their positions (mm) and notes on gaps; duplicates refused."""
        orientation = np.asarray(next(iter(self.headers.values())).ImageOrientationPatient, float)
        normal = np.cross(orientation[:3], orientation[3:])
        position = {
            p: float(np.dot(np.asarray(ds.ImagePositionPatient, float), normal)) for p, ds in self.headers.items()
        }
        files = sorted(position, key=position.get)
        z = np.array([position[p] for p in files])
        steps = np.diff(z)
        for i in np.flatnonzero(steps <= SAME_POSITION_MM):
            raise ValueError(
                f"{self.name}: {files[i].name} and {files[i + 1].name} lie at the same position ({z[i]:.3f} mm along the normal)"
            )
        notes = []
        if len(steps):
            usual = float(np.median(steps))
            notes = [
                f"gap of {steps[i]:.2f} mm between {files[i].name} and {files[i + 1].name} (slices every {usual:.2f} mm)"
                for i in np.flatnonzero(steps > GAP_FACTOR * usual)
            ]
        return files, z, notes

    def key_index(self, instance: str | None) -> int:
        if instance is None:
            raise ValueError(
                f"{self.name} is a series folder: column instance (SOPInstanceUID or InstanceNumber) is needed"
            )
        files = self.ordered[0]
        matches = [
            i
            for i, p in enumerate(files)
            if instance
            in (str(self.headers[p].get("SOPInstanceUID", "")), str(self.headers[p].get("InstanceNumber", "")))
        ]
        if not matches:
            raise ValueError(f"{self.name} has no slice with instance {instance} (SOPInstanceUID or InstanceNumber)")
        if len(matches) > 1:
            names = ", ".join(files[i].name for i in matches)
            raise ValueError(
                f"{self.name}: instance {instance} names {len(matches)} slices ({names}); use the SOPInstanceUID"
            )
        return matches[0]

    def _read_hu(self, index: int) -> DicomImage:
        path = self.ordered[0][index]
        image = read_dicom(path, self._name(path))
        if image.colour:
            raise ValueError(f"{self._name(path)} is a colour image: a series folder takes grey slices")
        return image

    def slice_at(self, instance: str | None) -> DicomImage:
        """The marked slice, its pixels the -2 / 0 / +2 mm channels (H, W, 3)."""
        key_index = self.key_index(instance)
        files, z, gaps = self.ordered
        key = self._hu(key_index)
        channels = []
        for terms in channel_weights(z, key_index):
            planes = []
            for i, weight in terms:
                image = self._hu(i)
                if image.pixels.shape != key.pixels.shape or not np.allclose(
                    image.spacing_xy, key.spacing_xy, equal_nan=True
                ):
                    raise ValueError(
                        f"{self._name(files[i])} is {image.pixels.shape} at {image.spacing_xy} mm, "
                        f"the marked slice {key.pixels.shape} at {key.spacing_xy} mm"
                    )
                planes.append(weight * image.pixels)
            channels.append(sum(planes))
        return DicomImage(
            pixels=np.stack(channels, axis=-1).astype(np.float32),
            colour=False,
            spacing_xy=key.spacing_xy,
            window=key.window,
            invert=key.invert,
            notes=key.notes + tuple(gaps),
            facts=key.facts,
            file=key.file,
            frame=None,
        )
