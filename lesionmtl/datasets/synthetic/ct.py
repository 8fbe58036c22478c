"""CT intensities (Hounsfield units) for the synthetic DeepLesion and LiTS writers."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .lesion_model import blur, rasterize, sample_lesion, smooth_noise


@dataclass
class Anatomy:
    """A static axial slice: ``base`` HU plus two texture fields mixed along z."""

    base: np.ndarray
    texture_a: np.ndarray
    texture_b: np.ndarray
    organs: np.ndarray  # soft-tissue organs (where most lesions sit)
    fat: np.ndarray  # visceral fat between organs (lymph nodes)
    lung: np.ndarray

    def at(self, z_mm: float) -> np.ndarray:
        t = z_mm / 20.0
        return self.base + 12.0 * (np.cos(t) * self.texture_a + np.sin(t) * self.texture_b) * ~self.lung


def eroded(mask: np.ndarray, px: int) -> np.ndarray:
    """``mask`` shrunk by ``px`` pixels (square structuring element)."""
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def body(
    rng: np.random.Generator, hw: tuple[int, int], lungs: bool, organ_hu: tuple[float, float] = (30.0, 70.0)
) -> Anatomy:
    """Air; subcutaneous fat; a muscle wall; organs (``organ_hu``) in visceral fat; bright
    vessels; optional lungs."""
    h, w = hw
    s = min(hw)
    outline = rasterize(sample_lesion(rng, (w / 2, h / 2), 0.92 * s, irregularity=0.15), hw)
    wall = eroded(outline, max(2, int(0.03 * s)))
    inside = eroded(wall, max(2, int(0.03 * s)))
    hu = np.where(outline, -100.0, -1000.0) + np.where(wall & ~inside, 150.0, 0.0) + np.where(inside, 10.0, 0.0)
    organs = np.zeros(hw, dtype=bool)
    for _ in range(rng.integers(4, 8)):
        organ = _blob_in(rng, inside, s * rng.uniform(0.18, 0.4), irregularity=0.5) & inside & ~organs
        hu[organ] = rng.uniform(*organ_hu)
        organs |= organ
    lung = np.zeros(hw, dtype=bool)
    if lungs:
        for side in (0.3, 0.7):
            lesion = sample_lesion(rng, (side * w, 0.45 * h), s * rng.uniform(0.3, 0.38), irregularity=0.3)
            lung |= rasterize(lesion, hw) & inside
        hu[lung] = -850.0
    for _ in range(rng.integers(3, 9)):
        vessel = _blob_in(rng, inside & ~lung, rng.uniform(2, 0.03 * s + 3), irregularity=0.0)
        hu[vessel] = rng.uniform(120, 200)
    fat = inside & ~organs & ~lung
    textures = smooth_noise(rng, hw, 3.0), smooth_noise(rng, hw, 3.0)
    return Anatomy(hu.astype(np.float32), *textures, organs & ~lung, fat, lung)


def _blob_in(rng: np.random.Generator, region: np.ndarray, diameter: float, irregularity: float) -> np.ndarray:
    return rasterize(sample_lesion(rng, random_point(rng, region, 0), diameter, irregularity), region.shape)


def random_point(rng: np.random.Generator, region: np.ndarray, margin: int) -> tuple[float, float]:
    """A pixel of ``region`` at least ``margin`` pixels from the image border."""
    h, w = region.shape
    ys, xs = np.nonzero(region[margin : h - margin, margin : w - margin])
    if len(ys) == 0:
        return w / 2, h / 2
    i = rng.integers(len(ys))
    return float(xs[i] + margin), float(ys[i] + margin)


def lesion_contrast(
    rng: np.random.Generator, background_hu: float, contrast_hu: tuple[float, float], hypo_fraction: float
) -> float:
    """HU added to the lesion: solid (30-60 HU) in lung or fat, else hypo- or hyper-dense to its organ."""
    if background_hu < -50:
        return rng.uniform(30, 60) - background_hu
    sign = -1.0 if rng.random() < hypo_fraction else 1.0
    return sign * rng.uniform(*contrast_hu)


def finish(hu: np.ndarray, rng: np.random.Generator, blur_px: float, noise_hu: float) -> np.ndarray:
    """Soften every edge (partial volume), then add slightly correlated scanner noise."""
    return blur(hu, blur_px) + noise_hu * smooth_noise(rng, hu.shape, 0.6)
