"""Patch geometry shared by every dataset reader.

Coordinates are pixel coordinates (x, y) = (column, row), 0-based, with integer values at
pixel centres.  A patch is described by the source position of its top-left pixel
(``offset_xy``) and by how many patch pixels one source pixel spans (``scale_xy``).  Resizing
scales about pixel *centres*, as ``cv2.resize`` does, so that a point maps as
``patch = (source - offset + 0.5) * scale - 0.5`` and back again without drift.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .recist import Ellipse

__all__ = [
    "extract_patch",
    "patch_origin",
    "crop",
    "ellipse_to_patch",
    "padded_square",
    "resize_image",
    "resize_mask",
    "to_patch",
    "to_source",
    "window_to_uint8",
]


def crop(image: np.ndarray, x0: int, y0: int, size_hw: tuple[int, int], fill: float = 0) -> np.ndarray:
    """The ``size_hw`` window of ``image`` whose top-left pixel is (x0, y0), padded with ``fill``."""
    h, w = size_hw
    out = np.full((h, w) + image.shape[2:], fill, dtype=image.dtype)
    sy0, sy1 = max(y0, 0), min(y0 + h, image.shape[0])
    sx0, sx1 = max(x0, 0), min(x0 + w, image.shape[1])
    if sy0 < sy1 and sx0 < sx1:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def patch_origin(center_xy: tuple[float, float], size_hw: tuple[int, int]) -> tuple[int, int]:
    """Top-left pixel (x0, y0) of the ``size_hw`` patch whose centre ``origin + (size - 1) / 2``
    is the pixel position nearest to ``center_xy``."""
    h, w = size_hw
    return int(np.floor(center_xy[0] - (w - 1) / 2 + 0.5)), int(np.floor(center_xy[1] - (h - 1) / 2 + 0.5))


def extract_patch(
    image: np.ndarray, center_xy: tuple[float, float], size_hw: tuple[int, int], fill: float = 0
) -> tuple[np.ndarray, tuple[int, int]]:
    """Crop a ``size_hw`` patch (of an (H, W) or (H, W, C) image) centred on ``center_xy``.

    Returns the patch and the source position of its top-left pixel (:func:`patch_origin`);
    the part of the patch outside the image is ``fill``.
    """
    x0, y0 = patch_origin(center_xy, size_hw)
    return crop(image, x0, y0, size_hw, fill), (x0, y0)


def padded_square(bbox_xyxy: tuple[float, float, float, float], pad: int) -> tuple[int, int, int]:
    """(x0, y0, side) of the square that holds the inclusive pixel box plus ``pad`` on each side."""
    x0, y0, x1, y1 = bbox_xyxy
    side = int(max(x1 - x0, y1 - y0)) + 1 + 2 * pad
    return (*patch_origin(((x0 + x1) / 2, (y0 + y1) / 2), (side, side)), side)


def _interpolation(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> int:
    shrinking = dst_hw[0] < src_hw[0] or dst_hw[1] < src_hw[1]
    return cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR


def resize_image(image: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize to ``size_hw`` (area averaging when shrinking, bilinear when enlarging)."""
    if image.shape[:2] == tuple(size_hw):
        return image.copy()
    return cv2.resize(image, (size_hw[1], size_hw[0]), interpolation=_interpolation(image.shape[:2], size_hw))


def resize_mask(mask: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize a boolean mask with the same geometry as :func:`resize_image` (coverage >= 1/2)."""
    return resize_image(mask.astype(np.float32), size_hw) >= 0.5


def to_patch(
    points: np.ndarray, offset_xy: tuple[float, float], scale_xy: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """Map source-image points (..., 2) into patch coordinates."""
    p = np.asarray(points, dtype=float)
    return (p - np.asarray(offset_xy, float) + 0.5) * np.asarray(scale_xy, float) - 0.5


def to_source(
    points: np.ndarray, offset_xy: tuple[float, float], scale_xy: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """Inverse of :func:`to_patch`."""
    p = np.asarray(points, dtype=float)
    return (p + 0.5) / np.asarray(scale_xy, float) - 0.5 + np.asarray(offset_xy, float)


def ellipse_to_patch(e: Ellipse, offset_xy: tuple[float, float], scale_xy: tuple[float, float]) -> Ellipse:
    """The image of a source-frame ellipse in the patch (:func:`to_patch`).

    With different x and y scales the axes turn and change length (the RECIST endpoints mapped
    one by one would be conjugate diameters, no longer perpendicular), so the ellipse's shape
    matrix ``S R diag(a, b)`` is decomposed again.
    """
    centre = to_patch(np.array([e.cx, e.cy]), offset_xy, scale_xy)
    t = math.radians(e.angle)
    axes = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]) * np.array([e.major, e.minor]) / 2
    shape = np.diag(np.asarray(scale_xy, float)) @ axes
    evals, evecs = np.linalg.eigh(shape @ shape.T)
    major, minor = 2 * math.sqrt(max(evals[1], 0.0)), 2 * math.sqrt(max(evals[0], 0.0))
    angle = math.degrees(math.atan2(evecs[1, 1], evecs[0, 1])) % 180.0
    return Ellipse(float(centre[0]), float(centre[1]), major, minor, 0.0 if angle >= 180.0 else angle)


def window_to_uint8(hu: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Linearly map the intensity window [lo, hi] to 0..255, clipping outside it."""
    if not hi > lo:
        raise ValueError(f"window must have hi > lo, got [{lo}, {hi}]")
    scaled = (np.asarray(hu, dtype=np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
