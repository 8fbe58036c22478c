"""The one lesion shape and appearance generator behind every synthetic dataset.

A lesion is a union of star-shaped blobs: a main blob whose radius varies with angle
(eccentric, lobulated by a few radial Fourier harmonics, optionally spiculated by narrow
spikes) and up to two satellite lobes that make the outline non-convex and off-centre.
Appearance is built from layers (lesion, neighbouring look-alike structures, smooth tissue
texture) and blurred, so the borders are soft and low-contrast; the format writers only
choose intensities (Hounsfield units or skin colours).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

_ANGLES = 1024  # angular resolution of the boundary-radius lookup table

__all__ = [
    "Blob",
    "Lesion",
    "sample_lesion",
    "rasterize",
    "neighbours",
    "smooth_noise",
    "texture",
    "textured",
    "blur",
]


@dataclass(frozen=True)
class Blob:
    """Star-shaped region: r(t) = radius * (1 + sum_k a_k cos(k t + p_k) + spikes) in a frame
    rotated by ``angle`` and squeezed by ``aspect`` along its minor axis."""

    cx: float
    cy: float
    radius: float
    aspect: float
    angle: float  # radians
    harmonics: np.ndarray  # (K, 3): order, amplitude, phase
    spikes: np.ndarray  # (S, 3): direction, amplitude (fraction of radius), angular width


@dataclass(frozen=True)
class Lesion:
    blobs: tuple[Blob, ...]

    @property
    def center(self) -> tuple[float, float]:
        return self.blobs[0].cx, self.blobs[0].cy

    def transformed(self, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0), rotation: float = 0.0) -> Lesion:
        """Scale and rotate about the main blob's centre, then shift (a new view, a neighbouring slice)."""
        cx, cy = self.center
        c, s = np.cos(rotation), np.sin(rotation)
        out = []
        for b in self.blobs:
            dx, dy = b.cx - cx, b.cy - cy
            out.append(
                replace(
                    b,
                    cx=cx + shift[0] + scale * (c * dx - s * dy),
                    cy=cy + shift[1] + scale * (s * dx + c * dy),
                    radius=b.radius * scale,
                    angle=b.angle + rotation,
                )
            )
        return Lesion(tuple(out))


def _sample_blob(rng: np.random.Generator, cx: float, cy: float, radius: float, irregularity: float) -> Blob:
    orders = np.arange(2, 8)
    amps = irregularity * rng.uniform(0.06, 0.22) * rng.normal(size=orders.size) / orders**0.9
    harmonics = np.stack([orders, amps, rng.uniform(0, 2 * np.pi, orders.size)], axis=1)
    n_spikes = rng.integers(3, 9) if rng.random() < 0.25 * min(irregularity, 2.0) else 0
    directions = rng.uniform(0, 2 * np.pi, n_spikes)
    lengths = irregularity * rng.uniform(0.15, 0.5, n_spikes)
    spikes = np.stack([directions, lengths, rng.uniform(0.04, 0.12, n_spikes)], axis=1)
    aspect = rng.uniform(max(0.3, 1.0 - 0.5 * irregularity), 1.0)
    return Blob(cx, cy, radius, aspect, rng.uniform(0, np.pi), harmonics, spikes)


def sample_lesion(
    rng: np.random.Generator, center_xy: tuple[float, float], diameter: float, irregularity: float = 1.0
) -> Lesion:
    """A random lesion of roughly ``diameter`` pixels; ``irregularity`` scales every departure
    from a circle (0 gives a disc)."""
    r = diameter / 2
    blobs = [_sample_blob(rng, center_xy[0], center_xy[1], r, irregularity)]
    n_lobes = rng.choice(3, p=[0.55, 0.3, 0.15]) if irregularity > 0 else 0
    for _ in range(n_lobes):
        t = rng.uniform(0, 2 * np.pi)
        d = r * rng.uniform(0.5, 0.9)
        x, y = center_xy[0] + d * np.cos(t), center_xy[1] + d * np.sin(t)
        blobs.append(_sample_blob(rng, x, y, r * rng.uniform(0.3, 0.6), irregularity))
    return Lesion(tuple(blobs))


def _blob_mask(b: Blob, hw: tuple[int, int]) -> tuple[np.ndarray, tuple[slice, slice]]:
    reach = b.radius * (1 + np.abs(b.harmonics[:, 1]).sum() + b.spikes[:, 1].sum(initial=0)) + 1
    y0, y1 = max(int(b.cy - reach), 0), min(int(b.cy + reach) + 2, hw[0])
    x0, x1 = max(int(b.cx - reach), 0), min(int(b.cx + reach) + 2, hw[1])
    y1, x1 = max(y1, y0), max(x1, x0)  # a blob entirely off the canvas gives an empty window
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = xx - b.cx, yy - b.cy
    c, s = np.cos(b.angle), np.sin(b.angle)
    u, v = c * dx + s * dy, (-s * dx + c * dy) / b.aspect
    bins = np.rint(np.arctan2(v, u) * (_ANGLES / (2 * np.pi))).astype(np.int64) % _ANGLES
    inside = np.hypot(u, v) <= _radius_table(b)[bins]
    return inside, (slice(y0, y1), slice(x0, x1))


def _radius_table(b: Blob) -> np.ndarray:
    """Boundary radius at ``_ANGLES`` evenly spaced directions of the blob frame."""
    t = np.arange(_ANGLES) * (2 * np.pi / _ANGLES)
    k, a, p = (b.harmonics[:, i, None] for i in range(3))
    rel = 1 + (a * np.cos(k * t + p)).sum(axis=0)
    for direction, amp, width in b.spikes:
        gap = np.angle(np.exp(1j * (t - direction)))
        rel = rel + amp * np.exp(-((gap / width) ** 2))
    return b.radius * np.maximum(rel, 0.25)


def rasterize(lesion: Lesion, hw: tuple[int, int], min_speck: int = 4) -> np.ndarray:
    """Boolean mask of the lesion on an (h, w) canvas, without the specks of fewer than
    ``min_speck`` pixels that thin spike tips leave (no annotator draws those)."""
    mask = np.zeros(hw, dtype=bool)
    for b in lesion.blobs:
        inside, window = _blob_mask(b, hw)
        mask[window] |= inside
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_speck)
    if n > 2 and small.size:
        mask &= ~np.isin(labels, small[small > 0])
    return mask


def neighbours(
    rng: np.random.Generator, lesion: Lesion, hw: tuple[int, int], count: int, irregularity: float = 1.0
) -> np.ndarray:
    """Look-alike structures next to (often touching) the lesion, never overlapping it."""
    b = lesion.blobs[0]
    out = np.zeros(hw, dtype=bool)
    for _ in range(count):
        r = b.radius * rng.uniform(0.3, 0.9)
        t = rng.uniform(0, 2 * np.pi)
        d = b.radius * rng.uniform(1.0, 1.6) + r * rng.uniform(0.3, 1.0)
        out |= rasterize(sample_lesion(rng, (b.cx + d * np.cos(t), b.cy + d * np.sin(t)), 2 * r, irregularity), hw)
    return out & ~rasterize(lesion, hw)


def smooth_noise(rng: np.random.Generator, hw: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise, rescaled to zero mean and unit standard deviation."""
    field = blur(rng.standard_normal(hw, dtype=np.float32), sigma)
    return (field - field.mean()) / (field.std() + 1e-6)


def texture(rng: np.random.Generator, hw: tuple[int, int], sigma: float, amount: float) -> np.ndarray:
    """Multiplicative texture: 1 +- ``amount`` varying over ``sigma`` pixels."""
    return 1 + amount * smooth_noise(rng, hw, sigma)


def textured(rng: np.random.Generator, mask: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    """Float layer: 1 inside the mask modulated by :func:`texture`, 0 outside."""
    return mask * texture(rng, mask.shape, sigma, amount)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a float image (any channels), a no-op for sigma <= 0."""
    if sigma <= 0:
        return image.astype(np.float32)
    return cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)
