"""Test predictions as files a person can open: per-lesion masks in source-image coordinates.

``<lesion_id>.png`` is the predicted mask (0/255) at the size of the 2-D image the lesion was read
from (a DeepLesion key slice, a LiTS axial slice shown the radiological way, a HAM10000 photo, a
recist_table image or NIfTI slice transposed to rows x columns); ``<lesion_id>_overlay.png`` is
the model's input patch with the predicted outline in red and the reference in green.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from lesionmtl.patches import paste, resize_mask


def to_source_frame(mask: np.ndarray, lesion) -> np.ndarray:
    """A patch mask pasted back into its source image (resized back first where the reader resized)."""
    h, w = mask.shape
    if (lesion.scale_x, lesion.scale_y) != (1.0, 1.0):
        mask = resize_mask(mask, (round(h / lesion.scale_y), round(w / lesion.scale_x)))
    return paste(mask, (int(lesion.offset_x), int(lesion.offset_y)), (int(lesion.source_h), int(lesion.source_w)))


def _overlay(image: np.ndarray, prediction: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    for mask, colour in ((reference, (0, 200, 0)), (prediction, (0, 0, 255))):
        if mask is not None and mask.any():
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(bgr, contours, -1, colour, 1)
    return bgr


def export_masks(
    predictions: np.ndarray,
    images: np.ndarray,
    truth: np.ndarray,
    lesions: pd.DataFrame,
    out_dir: Path,
    split: str = "test",
) -> None:
    """Write the masks and overlays of the ``split`` lesions into ``out_dir`` (built in a temporary
    folder and renamed, so an interrupted export leaves no half folder)."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for lesion in lesions[lesions["split"] == split].itertuples():
            row = lesion.patch_index
            reference = truth[row] if len(truth) and getattr(lesion, "has_gt", True) else None
            if pd.notna(lesion.source_h):
                mask = to_source_frame(predictions[row], lesion)
                cv2.imwrite(str(tmp / f"{lesion.lesion_id}.png"), mask.astype(np.uint8) * 255)
            cv2.imwrite(
                str(tmp / f"{lesion.lesion_id}_overlay.png"), _overlay(images[row], predictions[row], reference)
            )
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
