"""Synthetic ``recist_table``: CT slices as 16-bit PNG, 8-bit PNG, NIfTI volumes and DICOM, a lesion table.

The slices and lesions are the synthetic DeepLesion ones (:func:`synth_deeplesion.place_lesions`);
kind ``dicom`` stores such a slice as one DICOM file, kind ``dicom_series`` a synthetic LiTS
volume (its real slice interval) as a DICOM series folder whose rows name the marked slice by
``instance`` (:mod:`.dicom`);
RECIST marks are measured on the true masks, as a radiologist draws them.  The images of a
``mask_fraction`` of the cases get per-lesion reference masks (PNG, or NIfTI with the volume's
shape and affine); the others have none, as in most users' own data.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np

from ...patches import window_to_uint8
from ...recist import measure_recist
from ..readers.lits import slices_from_volume
from ..readers.recist_table import DEFAULT_HU_OFFSET, POINT_COLUMNS
from . import dicom
from . import lits as synth_lits
from .ct import body, finish
from .deeplesion import DEFAULTS as CT_DEFAULTS
from .deeplesion import SOFT_WINDOWS, place_lesions

DEFAULTS = {
    **{
        key: CT_DEFAULTS[key]
        for key in (
            "diameter_frac",
            "min_diameter_px",
            "irregularity",
            "contrast_hu",
            "hypo_fraction",
            "noise_hu",
            "blur_px",
            "neighbour_prob",
            "lung_prob",
            "site_p",
            "lesions_per_slice_p",
        )
    },
    "kinds": ["png16", "nifti", "png8"],  # image file types, taken in turn
    "nifti_slices": 3,
    "mask_fraction": 0.7,  # cases whose lesions have a reference mask
    "series_slice_mm": 2.5,  # slice interval of the dicom_series volumes
    "series_rows": 3,  # marked slices per dicom_series volume (those with the largest tumour)
}
COLUMNS = [
    "image",
    *POINT_COLUMNS,
    "slice",
    "instance",
    "mask",
    "group",
    "spacing_x",
    "spacing_y",
    "window_low",
    "window_high",
]


def write(out_dir: Path, rng: np.random.Generator, n_cases: int, hw: tuple[int, int], p: dict) -> None:
    for folder in ("images", "masks"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    rows = []
    for n in range(n_cases):
        kind = p["kinds"][n % len(p["kinds"])]
        rows += _case(out_dir, rng, hw, p, n, kind, with_masks=rng.random() < p["mask_fraction"])
    with open(out_dir / "lesions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _slice(rng: np.random.Generator, hw: tuple[int, int], p: dict, spacing: float):
    """HU of one axial slice with its lesions, and the lesions' true masks."""
    anatomy = body(rng, hw, lungs=rng.random() < p["lung_prob"])
    lesions = place_lesions(rng, hw, p, anatomy, spacing)
    hu = anatomy.at(0.0)
    for item in lesions:
        hu += item["mask"] * item["tex"]
        if item["near"] is not None:
            hu += item["near"] * item["near_tex"]
    hu = finish(hu, rng, rng.uniform(*p["blur_px"]), rng.uniform(*p["noise_hu"]))
    return hu, [item["mask"] for item in lesions]


def _case(
    out_dir: Path, rng: np.random.Generator, hw: tuple[int, int], p: dict, n: int, kind: str, with_masks: bool
) -> list[dict]:
    """Write one image (and its masks); return its table rows."""
    if kind == "dicom_series":
        return _series_case(out_dir, rng, hw, p, n, with_masks)
    spacing = float(rng.uniform(0.6, 0.95) * 512 / min(hw))
    hu, masks = _slice(rng, hw, p, spacing)
    window = SOFT_WINDOWS[int(rng.integers(len(SOFT_WINDOWS)))]
    shared: dict = {"group": f"patient{n // 2:03d}"}  # two images per patient
    if kind == "nifti":
        name = f"images/case{n:03d}.nii.gz"
        key = int(rng.integers(p["nifti_slices"]))
        affine = np.diag([spacing, spacing, 5.0, 1.0])
        affine[:3, 3] = [-hw[1] * spacing / 2, -hw[0] * spacing / 2, -50.0]
        volume = np.stack(
            [hu if z == key else finish(hu, rng, 0.6, 6.0) for z in range(p["nifti_slices"])], axis=-1
        ).transpose(1, 0, 2)  # stored as dataobj[x, y, slice]
        _save_nifti(out_dir / name, np.rint(volume).astype(np.int16), affine)
        shared.update(slice=key)
    elif kind == "png16":
        name = f"images/case{n:03d}.png"
        stored = np.clip(np.rint(hu + DEFAULT_HU_OFFSET), 0, 65535).astype(np.uint16)
        cv2.imwrite(str(out_dir / name), stored)
        shared.update(spacing_x=f"{spacing:.6g}", spacing_y=f"{spacing:.6g}")
        shared.update(window_low=window[0], window_high=window[1])
    elif kind == "dicom":
        name = f"images/case{n:03d}.dcm"
        key = f"study{n // 2:03d}/series{n:03d}"
        spec = dict(key=key, who=dicom.patient(n // 2), spacing_xy=(spacing, spacing), z_mm=0.0, slice_mm=5.0)
        dicom.write_slice(out_dir / name, hu, instance=1, **spec)
    elif kind == "png8":
        name = f"images/case{n:03d}.png"
        cv2.imwrite(str(out_dir / name), window_to_uint8(hu, *window))
        shared.update(spacing_x=f"{spacing:.6g}", spacing_y=f"{spacing:.6g}")
    else:
        raise ValueError(f"unknown image kind {kind!r}; expected png16, nifti, png8, dicom or dicom_series")
    rows = []
    for j, mask in enumerate(masks):
        row = {"image": name, **shared, **dict(zip(POINT_COLUMNS, (f"{v:.6g}" for v in measure_recist(mask).ravel())))}
        if with_masks:
            row["mask"] = f"masks/case{n:03d}_{j}" + (".nii.gz" if kind == "nifti" else ".png")
            if kind == "nifti":
                volume = np.zeros((hw[1], hw[0], p["nifti_slices"]), np.uint8)
                volume[:, :, shared["slice"]] = mask.T
                _save_nifti(out_dir / row["mask"], volume, affine)
            else:
                cv2.imwrite(str(out_dir / row["mask"]), mask.astype(np.uint8) * 255)
        rows.append(row)
    return rows


def _series_case(
    out_dir: Path, rng: np.random.Generator, hw: tuple[int, int], p: dict, n: int, with_masks: bool
) -> list[dict]:
    """A synthetic LiTS volume as a DICOM series; rows for the largest tumour of its most tumorous slices."""
    params = {**synth_lits.DEFAULTS, "slice_thickness_mm": [p["series_slice_mm"]], "slices": [8, 12]}
    hu, labels, zooms = synth_lits._volume(rng, hw, params)
    hu, labels = slices_from_volume(hu), slices_from_volume(labels) == 2  # (z, y, x)
    name = f"images/case{n:03d}"
    key = f"study{n // 2:03d}/series{n:03d}"
    slices = dicom.write_series(
        out_dir / name, hu, key=key, who=dicom.patient(n // 2), spacing_xy=tuple(zooms[:2]), slice_mm=float(zooms[2])
    )
    rows = []
    for k in np.argsort(-labels.sum(axis=(1, 2)), kind="stable")[: p["series_rows"]]:
        count, components, stats, _ = cv2.connectedComponentsWithStats(labels[k].astype(np.uint8), connectivity=8)
        if count < 2 or stats[1:, cv2.CC_STAT_AREA].max() < 4:
            continue
        mask = components == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        # The marked slice by InstanceNumber or by SOPInstanceUID, in turn.
        instance = str(slices[k].InstanceNumber) if len(rows) % 2 == 0 else slices[k].SOPInstanceUID
        row = {"image": name, "instance": instance, "group": f"patient{n // 2:03d}"}
        row.update(zip(POINT_COLUMNS, (f"{v:.6g}" for v in measure_recist(mask).ravel())))
        if with_masks:
            row["mask"] = f"masks/case{n:03d}_z{k:03d}.png"
            cv2.imwrite(str(out_dir / row["mask"]), mask.astype(np.uint8) * 255)
        rows.append(row)
    return rows


def _save_nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm")
    nib.save(image, path)
