"""Synthetic LiTS: small CT volumes with a liver and 1-3 tumours, stored in varying orientations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np

from ..readers.lits import volume_from_slices
from .ct import body, eroded, finish, lesion_contrast, random_point
from .lesion_model import neighbours, rasterize, sample_lesion, smooth_noise, texture

DEFAULTS = {
    "slices": [10, 20],
    "tumours": [1, 3],
    "diameter_frac": [0.04, 0.3],
    "min_diameter_px": 4.0,
    "irregularity": 2.0,
    "z_half_extent": [1.5, 5.0],
    "contrast_hu": [20.0, 70.0],
    "hypo_fraction": 0.85,
    "liver_hu": [90.0, 125.0],
    "liver_frac": [0.5, 0.65],
    "organ_hu": [110.0, 180.0],
    "noise_hu": [3.0, 10.0],
    "blur_px": [0.3, 1.0],
    "neighbour_prob": 0.35,
    "slice_thickness_mm": [1.0, 2.5, 5.0],
    "layout": "lits",
}
# Storage orientations (nibabel ornt: target axis, flip) cycled over the volumes; as_closest_canonical undoes them.
ORIENTATIONS = [
    [[0, 1], [1, 1], [2, 1]],  # RAS (canonical already)
    [[0, -1], [1, -1], [2, 1]],  # LPS, as converted from DICOM
    [[1, 1], [0, -1], [2, -1]],  # in-plane axes swapped, z reversed
    [[0, -1], [1, 1], [2, -1]],  # LAI
]


def write(out_dir: Path, rng: np.random.Generator, n_cases: int, hw: tuple[int, int], p: dict) -> None:
    msd = p["layout"] == "msd"
    if msd:
        for folder in ("imagesTr", "labelsTr"):
            (out_dir / folder).mkdir(parents=True, exist_ok=True)
    start = int(rng.integers(len(ORIENTATIONS)))
    for n in range(n_cases):
        hu, labels, zooms = _volume(rng, hw, p)
        affine = np.diag([*zooms, 1.0])
        affine[:3, 3] = -np.array(hu.shape) * zooms / 2
        ornt = np.array(ORIENTATIONS[(start + n) % len(ORIENTATIONS)])
        stored_affine = affine @ nib.orientations.inv_ornt_aff(ornt, hu.shape)
        for array, dtype, name in ((hu, np.int16, "image"), (labels, np.uint8, "label")):
            data = nib.orientations.apply_orientation(array, ornt).astype(dtype)
            img = nib.Nifti1Image(data, stored_affine)
            img.header.set_xyzt_units("mm")
            if msd:
                folder = "imagesTr" if name == "image" else "labelsTr"
                nib.save(img, out_dir / folder / f"liver_{n}.nii.gz")
            else:
                nib.save(img, out_dir / (f"volume-{n}.nii" if name == "image" else f"segmentation-{n}.nii"))
    if msd:
        (out_dir / "imagesTr" / "._liver_0.nii.gz").write_bytes(b"\x00\x05\x16\x07macOS resource fork stub")
        labels = {"0": "background", "1": "liver", "2": "cancer"}
        training = [
            {"image": f"./imagesTr/liver_{n}.nii.gz", "label": f"./labelsTr/liver_{n}.nii.gz"} for n in range(n_cases)
        ]
        (out_dir / "dataset.json").write_text(
            json.dumps(
                {"name": "Liver", "labels": labels, "numTraining": n_cases, "training": training, "test": []}, indent=2
            )
        )


def _volume(rng: np.random.Generator, hw: tuple[int, int], p: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical (RAS+) HU and label volumes and their voxel size."""
    nz = int(rng.integers(p["slices"][0], p["slices"][1] + 1))
    s = min(hw)
    zooms = np.array([*(2 * [rng.uniform(0.6, 0.9) * 512 / s]), float(rng.choice(p["slice_thickness_mm"]))])
    anatomy = body(rng, hw, lungs=False, organ_hu=p["organ_hu"])
    liver = sample_lesion(rng, (0.4 * hw[1], 0.45 * hw[0]), s * rng.uniform(*p["liver_frac"]), irregularity=0.35)
    liver_hu = rng.uniform(*p["liver_hu"]) + 8.0 * smooth_noise(rng, hw, s / 20)
    liver_mask = rasterize(liver, hw)

    tumours = []
    for _ in range(int(rng.integers(p["tumours"][0], p["tumours"][1] + 1))):
        lo, hi = max(p["min_diameter_px"], p["diameter_frac"][0] * s), p["diameter_frac"][1] * s
        d = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        deep = eroded(liver_mask, int(d / 3))
        lesion = sample_lesion(rng, random_point(rng, deep if deep.any() else liver_mask, 0), d, p["irregularity"])
        delta = lesion_contrast(rng, 0.0, p["contrast_hu"], p["hypo_fraction"])
        near = (
            neighbours(rng, lesion, hw, int(rng.integers(1, 3))) & liver_mask
            if rng.random() < p["neighbour_prob"]
            else None
        )
        grain = max(1.0, d / 6)
        tumours.append(
            dict(
                lesion=lesion,
                near=near,
                kc=rng.uniform(1, nz - 2),
                tex=delta * texture(rng, hw, grain, rng.uniform(0.1, 0.4)),
                near_tex=delta * rng.uniform(0.6, 1.0) * texture(rng, hw, grain, 0.3),
                hz=rng.uniform(*p["z_half_extent"]),
                drift=rng.normal(0, 0.6, 2),
                twist=rng.normal(0, 0.05),
            )
        )
    blur_px, noise_hu = rng.uniform(*p["blur_px"]), rng.uniform(*p["noise_hu"])

    hu = np.empty((nz, *hw), np.float32)
    labels = np.zeros((nz, *hw), np.uint8)
    for k in range(nz):
        slice_hu = anatomy.at(k * zooms[2])
        liver_k = rasterize(liver.transformed(math.sqrt(max(0.3, 1 - ((k - nz / 2) / nz) ** 2))), hw)
        slice_hu[liver_k] = liver_hu[liver_k]
        tumour_k = np.zeros(hw, dtype=bool)
        for t in tumours:
            dz = k - t["kc"]
            f = math.sqrt(max(0.0, 1 - (dz / t["hz"]) ** 2))
            if f * t["lesion"].blobs[0].radius < 0.75:
                continue
            mask = rasterize(t["lesion"].transformed(f, tuple(t["drift"] * dz), t["twist"] * dz), hw) & liver_k
            slice_hu += mask * t["tex"]
            if t["near"] is not None:
                slice_hu += (t["near"] & liver_k & ~mask) * t["near_tex"]
            tumour_k |= mask
        hu[k] = finish(slice_hu, rng, blur_px, noise_hu)
        labels[k] = np.where(tumour_k, 2, np.where(liver_k, 1, 0))
    return volume_from_slices(np.rint(hu)), volume_from_slices(labels), zooms
