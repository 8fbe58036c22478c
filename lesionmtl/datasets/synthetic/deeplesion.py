"""Synthetic DeepLesion: ``Images_png/`` 16-bit slices, ``DL_info.csv``, ``true_masks/`` for scoring.

RECIST marks are measured on the true key-slice mask (longest diameter, longest perpendicular
chord), as a radiologist draws them, and written 1-based like the official file.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np

from ...recist import measure_recist
from ..splits import assign_splits
from .ct import Anatomy, body, finish, lesion_contrast, random_point
from .lesion_model import neighbours, rasterize, sample_lesion, texture

HEADER = [
    "File_name",
    "Patient_index",
    "Study_index",
    "Series_ID",
    "Key_slice_index",
    "Measurement_coordinates",
    "Bounding_boxes",
    "Lesion_diameters_Pixel_",
    "Normalized_lesion_location",
    "Coarse_lesion_type",
    "Possibly_noisy",
    "Slice_range",
    "Spacing_mm_px_",
    "Image_size",
    "DICOM_windows",
    "Patient_gender",
    "Patient_age",
    "Train_Val_Test",
]

DEFAULTS = {
    "slice_intervals": [1.0, 2.5, 5.0],
    "diameter_frac": [0.02, 0.16],
    "min_diameter_px": 5.0,
    "irregularity": 1.0,
    "contrast_hu": [15.0, 90.0],
    "hypo_fraction": 0.7,
    "noise_hu": [4.0, 12.0],
    "blur_px": [0.4, 1.2],
    "neighbour_prob": 0.6,
    "lung_prob": 0.3,
    "site_p": [0.65, 0.2, 0.15],  # organ, visceral fat (lymph node), lung (when the slice has lungs)
    "lesions_per_slice_p": [0.75, 0.18, 0.07],
    "four_digit_fraction": 0.25,
    "empty_age_fraction": 0.1,
    "split_fractions": [0.7, 0.15, 0.15],
}
SOFT_WINDOWS = [(-175, 275), (-160, 240), (-135, 215)]
LUNG_WINDOW = (-1350, 150)
SPLIT_CODES = {"train": 1, "val": 2, "test": 3}


def _fmt(values) -> str:
    return ", ".join(f"{float(v):.6g}" for v in values)


def _plan(rng: np.random.Generator, n_cases: int) -> list[tuple[int, int, int]]:
    """(patient, study, series) of each key slice: patients have 1-2 studies of 1-2 series."""
    plan: list[tuple[int, int, int]] = []
    patient = 0
    while len(plan) < n_cases:
        patient += 1
        for study in range(1, 2 + (rng.random() < 0.35) + 1):
            for series in range(1, 1 + (rng.random() < 0.15) + 1):
                plan.append((patient, study, series))
    return plan[:n_cases]


def write(out_dir: Path, rng: np.random.Generator, n_cases: int, hw: tuple[int, int], p: dict) -> None:
    plan = _plan(rng, n_cases)
    splits = assign_splits([str(k[0]) for k in plan], p["split_fractions"], rng)
    people = {
        k[0]: (
            "M" if rng.random() < 0.5 else "F",
            "" if rng.random() < p["empty_age_fraction"] else int(rng.integers(18, 90)),
        )
        for k in plan
    }
    (out_dir / "true_masks").mkdir(parents=True, exist_ok=True)
    rows = []
    for patient, study, series in plan:
        rows += _series(
            out_dir, rng, hw, p, (patient, study, series), SPLIT_CODES[splits[str(patient)]], people[patient]
        )
    with open(out_dir / "DL_info.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


def place_lesions(
    rng: np.random.Generator, hw: tuple[int, int], p: dict, anatomy: Anatomy, spacing: float
) -> list[dict]:
    """1-3 non-touching lesions on the key slice (in an organ, in fat or in lung), with their
    contrast, texture, look-alike neighbours and 3-D extent."""
    lesions, taken = [], np.zeros(hw, dtype=bool)
    for _ in range(rng.choice(len(p["lesions_per_slice_p"]), p=p["lesions_per_slice_p"]) + 1):
        lo, hi = max(p["min_diameter_px"], p["diameter_frac"][0] * min(hw)), p["diameter_frac"][1] * min(hw)
        d = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        for _attempt in range(20):
            site = [anatomy.organs, anatomy.fat, anatomy.lung][rng.choice(3, p=p["site_p"])]
            site = site if site.any() else anatomy.organs
            lesion = sample_lesion(rng, random_point(rng, site, int(d / 2) + 2), d, p["irregularity"])
            mask = rasterize(lesion, hw)
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            if mask.sum() >= 6 and not (grown & taken).any():
                break
        else:
            continue
        taken |= mask
        cx, cy = (int(v) for v in lesion.center)
        delta = lesion_contrast(rng, float(anatomy.base[cy, cx]), p["contrast_hu"], p["hypo_fraction"])
        near = neighbours(rng, lesion, hw, int(rng.integers(1, 3))) if rng.random() < p["neighbour_prob"] else None
        grain = max(1.0, d / 6)
        lesions.append(
            dict(
                lesion=lesion,
                mask=mask,
                near=near,
                in_lung=bool(anatomy.lung[cy, cx]),
                tex=delta * texture(rng, hw, grain, rng.uniform(0.1, 0.4)),
                near_tex=delta * rng.uniform(0.6, 1.1) * texture(rng, hw, grain, 0.3),
                rz=d / 2 * spacing * rng.uniform(0.7, 1.4),  # half-extent along z, mm
                drift=rng.normal(0, 0.15, 2),  # in-plane shift per mm along z
            )
        )
    for item in lesions:
        if item["near"] is not None:
            item["near"] &= ~taken
    return lesions


def _series(
    out_dir: Path,
    rng: np.random.Generator,
    hw: tuple[int, int],
    p: dict,
    ids: tuple[int, int, int],
    split_code: int,
    person: tuple[str, int | str],
) -> list[list]:
    """Write the slices of one series around its key slice; return the DL_info rows of its lesions."""
    interval = float(rng.choice(p["slice_intervals"]))
    spacing = rng.uniform(0.6, 0.95) * 512 / min(hw)
    extra = int(rng.integers(0, 2))
    reach = math.ceil(2.0 / interval - 1e-9) + extra
    four = rng.random() < p["four_digit_fraction"]
    key = int(rng.integers(1000, 1400) if four else rng.integers(reach + 1, 400))
    anatomy = body(rng, hw, lungs=rng.random() < p["lung_prob"])
    blur_px, noise_hu = rng.uniform(*p["blur_px"]), rng.uniform(*p["noise_hu"])

    lesions = place_lesions(rng, hw, p, anatomy, spacing)

    folder = out_dir / "Images_png" / "{:06d}_{:02d}_{:02d}".format(*ids)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(key - reach, key + reach + 1):
        dz = (index - key) * interval
        hu = anatomy.at(dz)
        for item in lesions:
            f = math.sqrt(max(0.0, 1 - (dz / item["rz"]) ** 2))
            if f * item["lesion"].blobs[0].radius >= 0.75:
                shifted = item["lesion"].transformed(f, tuple(item["drift"] * dz))
                hu += (item["mask"] if dz == 0 else rasterize(shifted, hw)) * item["tex"]
            if item["near"] is not None:
                hu += item["near"] * item["near_tex"]
        png = np.clip(np.rint(finish(hu, rng, blur_px, noise_hu) + 32768), 0, 65535).astype(np.uint16)
        cv2.imwrite(str(folder / f"{index:03d}.png"), png, [cv2.IMWRITE_PNG_COMPRESSION, 1])

    stem = "{:06d}_{:02d}_{:02d}_{:03d}".format(*ids, key)
    rows = []
    for j, item in enumerate(lesions):
        cv2.imwrite(str(out_dir / "true_masks" / f"{stem}_{j}.png"), item["mask"].astype(np.uint8) * 255)
        pts = measure_recist(item["mask"]) + 1.0  # official coordinates are 1-based
        lengths = np.linalg.norm(pts[[1, 3]] - pts[[0, 2]], axis=1)
        window = LUNG_WINDOW if item["in_lung"] else SOFT_WINDOWS[int(rng.integers(len(SOFT_WINDOWS)))]
        cx, cy = pts.mean(axis=0)
        rows.append(
            [
                f"{stem}.png",
                ids[0],
                ids[1],
                ids[2],
                key,
                _fmt(pts.ravel()),
                _fmt([*(pts.min(axis=0) - 5), *(pts.max(axis=0) + 5)]),
                _fmt(lengths),
                _fmt([cx / hw[1], cy / hw[0], rng.uniform(0, 1)]),
                -1 if split_code == 1 else int(rng.integers(1, 9)),
                int(rng.random() < 0.03),
                f"{key - reach}, {key + reach}",
                _fmt([spacing, spacing, interval]),
                f"{hw[0]}, {hw[1]}",
                f"{window[0]}, {window[1]}",
                person[0],
                person[1],
                split_code,
            ]
        )
    return rows
