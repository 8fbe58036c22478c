"""Synthetic HAM10000: dermatoscopic RGB images, 0/255 segmentations and the metadata table.

Several images show the same lesion (same ``lesion_id``) from a slightly different view.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from .lesion_model import Lesion, blur, neighbours, rasterize, sample_lesion, smooth_noise, textured

DEFAULTS = {
    "images_per_lesion_p": [0.55, 0.25, 0.12, 0.08],
    "diameter_frac": [0.2, 0.6],
    "irregularity": 1.5,
    "border_blur_frac": [0.02, 0.1],
    "contrast": [0.35, 1.0],
    "hair_prob": 0.4,
    "vignette_prob": 0.3,
    "neighbour_prob": 0.4,
    "jpeg_quality": 92,
    "metadata": "csv",
}
# light brown, dark brown, black, vascular pink, blue-grey
PIGMENTS = np.array([[150.0, 100, 70], [105, 65, 45], [70, 45, 35], [190, 105, 110], [125, 95, 105]])
PIGMENT_P = [0.35, 0.3, 0.15, 0.1, 0.1]
FIRST_IMAGE = 24306  # the first HAM10000 image is ISIC_0024306
COLUMNS = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization", "dataset"]
DX = ["nv", "mel", "bkl", "bcc", "akiec", "vasc", "df"]
DX_P = [0.67, 0.11, 0.11, 0.05, 0.03, 0.015, 0.015]
SITES = ["back", "lower extremity", "trunk", "upper extremity", "abdomen", "face", "chest", "scalp", "neck"]
SOURCES = ["vidir_modern", "rosendahl", "vidir_molemax", "vienna_dias"]


def write(out_dir: Path, rng: np.random.Generator, n_cases: int, hw: tuple[int, int], p: dict) -> None:
    rows: list[list[str]] = []
    lesion_number = 0
    while len(rows) < n_cases:
        lesion_number += 1
        lesion_id = f"HAM_{lesion_number:07d}"
        views = int(rng.choice(len(p["images_per_lesion_p"]), p=p["images_per_lesion_p"])) + 1
        d = min(hw) * rng.uniform(*p["diameter_frac"])
        centre = (hw[1] / 2 + rng.normal(0, 0.06) * hw[1], hw[0] / 2 + rng.normal(0, 0.06) * hw[0])
        lesion = sample_lesion(rng, centre, d, p["irregularity"])
        skin = rng.uniform(195, 240) * np.array([1.0, rng.uniform(0.72, 0.85), rng.uniform(0.6, 0.75)])
        pigment = PIGMENTS[rng.choice(len(PIGMENTS), p=PIGMENT_P)] * rng.uniform(0.8, 1.15) + rng.normal(0, 8, 3)
        facts = _facts(rng)
        for _ in range(min(views, n_cases - len(rows))):
            view = lesion.transformed(
                rng.uniform(0.9, 1.1), tuple(rng.normal(0, 0.03, 2) * hw[::-1]), rng.normal(0, 0.25)
            )
            image_id = f"ISIC_{FIRST_IMAGE + len(rows):07d}"
            rgb, mask = _render(rng, view, hw, skin * rng.uniform(0.95, 1.05), pigment, p)
            quality = [cv2.IMWRITE_JPEG_QUALITY, int(p["jpeg_quality"])]
            cv2.imwrite(str(out_dir / f"{image_id}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), quality)
            cv2.imwrite(str(out_dir / f"{image_id}_segmentation.png"), mask.astype(np.uint8) * 255)
            rows.append([lesion_id, image_id, *facts])
    tab = p["metadata"] == "tab"
    with open(out_dir / ("HAM10000_metadata.tab" if tab else "HAM10000_metadata.csv"), "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t" if tab else ",", lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def _facts(rng: np.random.Generator) -> list[str]:
    """dx, dx_type, age (sometimes missing), sex, localization, dataset of one lesion."""
    return [
        str(rng.choice(DX, p=DX_P)),
        str(rng.choice(["histo", "follow_up", "consensus", "confocal"])),
        "" if rng.random() < 0.05 else f"{5 * rng.integers(1, 18):.1f}",
        str(rng.choice(["male", "female", "unknown"], p=[0.53, 0.45, 0.02])),
        str(rng.choice(SITES)),
        str(rng.choice(SOURCES)),
    ]


def _render(
    rng: np.random.Generator, lesion: Lesion, hw: tuple[int, int], skin: np.ndarray, pigment: np.ndarray, p: dict
) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 image and true mask: pigment over skin with soft borders, freckles, hairs, vignetting."""
    mask = rasterize(lesion, hw)
    radius = lesion.blobs[0].radius
    opacity = textured(rng, mask, sigma=max(1.0, radius / 4), amount=rng.uniform(0.15, 0.45))
    core = rasterize(lesion.transformed(rng.uniform(0.3, 0.6)), hw)
    opacity += 0.4 * textured(rng, core, sigma=max(1.0, radius / 8), amount=0.5)
    if rng.random() < p["neighbour_prob"]:
        freckles = neighbours(rng, lesion, hw, int(rng.integers(1, 4)), irregularity=0.6)
        opacity += rng.uniform(0.5, 0.9) * textured(rng, freckles, sigma=2.0, amount=0.3)
    opacity = np.clip(
        blur(opacity, rng.uniform(*p["border_blur_frac"]) * 2 * radius) * rng.uniform(*p["contrast"]), 0, 1
    )
    shading = 1 + 0.05 * smooth_noise(rng, hw, min(hw) / 8) + 0.02 * smooth_noise(rng, hw, 1.0)
    rgb = (skin * (1 - opacity[..., None]) + pigment * opacity[..., None]) * shading[..., None]
    if rng.random() < p["hair_prob"]:
        rgb = _hairs(rng, rgb, hw, int(rng.integers(1, 8)))
    if rng.random() < p["vignette_prob"]:
        yy, xx = np.mgrid[: hw[0], : hw[1]]
        r = np.hypot((xx - hw[1] / 2) / (hw[1] / 2), (yy - hw[0] / 2) / (hw[0] / 2))
        rgb *= np.clip(1.0 - (r - rng.uniform(0.95, 1.2)) * 3, 0.05, 1)[..., None]
    rgb += rng.normal(0, 2.5, rgb.shape)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), mask


def _hairs(rng: np.random.Generator, rgb: np.ndarray, hw: tuple[int, int], count: int) -> np.ndarray:
    """Dark curved hairs drawn as anti-aliased polylines."""
    layer = np.zeros(hw, np.float32)
    for _ in range(count):
        start = rng.uniform(0, 1, 2) * hw[::-1]
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.15, 20))
        steps = max(hw) / 20 * np.stack([np.cos(heading), np.sin(heading)], axis=1)
        points = np.rint((start + np.cumsum(steps, axis=0)) * 16).astype(np.int32)
        cv2.polylines(layer, [points], False, 1.0, thickness=1, lineType=cv2.LINE_AA, shift=4)
    darkness = np.clip(layer, 0, 1)[..., None] * rng.uniform(0.5, 0.8)
    return rgb * (1 - darkness) + np.array([40.0, 30.0, 25.0]) * darkness
