"""HAM10000 reader: ``HAM10000_metadata`` + ``ISIC_*.jpg`` + ``ISIC_*_segmentation.png``.

Each image is one sample (the whole image resized to the patch size); ``lesion_id`` groups the
several images of one lesion so that splits never separate them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2

from .base import DataError, Rejection, Sample, find_files, patch_hw, read_table, sample_from_mask

REQUIRED = ("lesion_id", "image_id")


def _metadata(raw_dir: Path) -> Path:
    found = [p for p in find_files(raw_dir, "HAM10000_metadata*") if p.suffix in ("", ".csv", ".tab", ".tsv", ".txt")]
    if not found:
        raise DataError(raw_dir, "no HAM10000_metadata file")
    return found[0]


def read_ham(
    raw_dir: Path, *, patch_size: int | tuple[int, int], recist_method: str = "ellipse_fit"
) -> Iterator[Sample | Rejection]:
    """Yield one :class:`Sample` per metadata row (group = ``lesion_id``)."""
    raw_dir = Path(raw_dir)
    hw = patch_hw(patch_size)
    meta = _metadata(raw_dir)
    table = read_table(meta, REQUIRED)
    images = {p.stem: p for p in find_files(raw_dir, "ISIC_*.jpg")}
    masks = {p.stem.removesuffix("_segmentation"): p for p in find_files(raw_dir, "ISIC_*_segmentation.png")}
    for line, (lesion_id, image_id) in enumerate(zip(table["lesion_id"], table["image_id"]), start=2):
        if image_id not in images or image_id not in masks:
            what = "image" if image_id not in images else "segmentation"
            raise DataError(meta, f"no {what} file for {image_id}", row=line)
        bgr = cv2.imread(str(images[image_id]), cv2.IMREAD_COLOR)
        seg = cv2.imread(str(masks[image_id]), cv2.IMREAD_GRAYSCALE)
        for path, array in ((images[image_id], bgr), (masks[image_id], seg)):
            if array is None:
                raise DataError(meta, f"unreadable image {path.relative_to(raw_dir)}", row=line)
        if bgr.shape[:2] != seg.shape:
            raise DataError(
                meta, f"{image_id}: image {bgr.shape[:2]} and segmentation {seg.shape} differ in size", row=line
            )
        source = str(images[image_id].relative_to(raw_dir))
        yield sample_from_mask(
            cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
            seg > 127,
            hw,
            recist_method,
            lesion_id=image_id,
            group_id=lesion_id,
            source=source,
            offset_xy=(0, 0),
            source_hw=bgr.shape[:2],
        )
