"""HAM10000 reader: ``HAM10000_metadata`` + ``ISIC_*.jpg`` + ``ISIC_*_segmentation.png``.

Each image is one sample (the whole image resized to the patch size); ``lesion_id`` groups the
several images of one lesion so that splits never separate them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..base import DataError, Rejection, Sample, find_files, patch_hw, read_mask, read_table, sample_from_mask

REQUIRED = ("lesion_id", "image_id")
JPEG_END = b"\xff\xd9"  # EOI marker; in the entropy-coded data 0xFF is always followed by 0x00 or RSTn


def _metadata(raw_dir: Path) -> Path:
    found = [p for p in find_files(raw_dir, "HAM10000_metadata*") if p.suffix in ("", ".csv", ".tab", ".tsv", ".txt")]
    if not found:
        raise DataError(raw_dir, "no HAM10000_metadata file")
    return found[0]


def read_jpeg(path: Path, name: str) -> np.ndarray:
    """A colour JPEG as (h, w, 3) RGB; ValueError naming ``name`` when the file is not a complete
    colour JPEG (a truncated one would decode partially, with only a libjpeg warning)."""
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as header:
            kind, mode = header.format, header.mode
    except OSError:
        kind = mode = None
    if kind != "JPEG":
        raise ValueError(f"{name} is not a JPEG file ({kind or 'unknown format'})")
    if mode != "RGB":
        raise ValueError(f"{name} is not a colour (RGB) JPEG but {mode}")
    if JPEG_END not in data[-1024:]:
        raise ValueError(f"{name} is truncated (no JPEG end marker)")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{name} is an unreadable JPEG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_ham(
    raw_dir: Path,
    *,
    patch_size: int | tuple[int, int],
    recist_method: str = "ellipse_fit",
    min_hull_vertices: int | None = None,
) -> Iterator[Sample | Rejection]:
    """Yield one :class:`Sample` per metadata row (group = ``lesion_id``); with
    ``min_hull_vertices`` (the released code: 5) a :class:`Rejection` for masks whose convex hull
    has fewer vertices."""
    raw_dir = Path(raw_dir)
    hw = patch_hw(patch_size)
    meta = _metadata(raw_dir)
    table = read_table(meta, REQUIRED)
    images = {p.stem: p for p in find_files(raw_dir, "ISIC_*.jpg")}
    masks = {p.stem.removesuffix("_segmentation"): p for p in find_files(raw_dir, "ISIC_*_segmentation.png")}
    first_row: dict[str, int] = {}
    for line, (lesion_id, image_id) in enumerate(zip(table["lesion_id"], table["image_id"]), start=2):
        lesion_id, image_id = lesion_id.strip(), image_id.strip()
        if not lesion_id or not image_id:
            raise DataError(meta, "empty lesion_id or image_id", row=line)
        if image_id in first_row:
            raise DataError(meta, f"image_id {image_id} already listed on row {first_row[image_id]}", row=line)
        first_row[image_id] = line
        if image_id not in images or image_id not in masks:
            what = "image" if image_id not in images else "segmentation"
            raise DataError(meta, f"no {what} file for {image_id}", row=line)
        try:
            rgb = read_jpeg(images[image_id], images[image_id].relative_to(raw_dir).as_posix())
            seg = read_mask(masks[image_id], masks[image_id].relative_to(raw_dir).as_posix())
        except ValueError as exc:
            raise DataError(meta, str(exc), row=line) from exc
        if rgb.shape[:2] != seg.shape:
            raise DataError(
                meta, f"{image_id}: image {rgb.shape[:2]} and segmentation {seg.shape} differ in size", row=line
            )
        source = str(images[image_id].relative_to(raw_dir))
        yield sample_from_mask(
            rgb,
            seg,
            hw,
            recist_method,
            lesion_id=image_id,
            group_id=lesion_id,
            source=source,
            offset_xy=(0, 0),
            source_hw=rgb.shape[:2],
            min_hull_vertices=min_hull_vertices,
        )
