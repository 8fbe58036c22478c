"""LiTS reader: ``volume-N.nii`` + ``segmentation-N.nii`` (or the MSD ``Task03_Liver`` layout).

Every 2-D connected tumour component (label 2) of every axial slice is one lesion.  Volumes
are reoriented to the closest canonical (RAS+) orientation first, and slices are shown the
radiological way (patient right on the image left, anterior at the top).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from ...patches import crop, padded_square, window_to_uint8
from ..base import TOO_SMALL, DataError, Rejection, Sample, find_files, patch_hw, sample_from_mask

TUMOUR = 2
AFFINE_TOLERANCE = 1e-3  # mm (and direction cosines): float32 round-off, never a flip or a shift
_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[1] = True  # 8-connected within a slice, never across slices


def slices_from_volume(volume: np.ndarray) -> np.ndarray:
    """(nz, rows, cols) radiological axial slices of a canonical (RAS+) volume (x, y, z)."""
    return np.ascontiguousarray(volume[::-1, ::-1, :].transpose(2, 1, 0))


def volume_from_slices(slices: np.ndarray) -> np.ndarray:
    """Inverse of :func:`slices_from_volume`."""
    return np.ascontiguousarray(slices.transpose(2, 1, 0)[::-1, ::-1, :])


def find_pairs(raw_dir: Path) -> list[tuple[str, Path, Path]]:
    """(case name, image, label) for every case: the MSD ``dataset.json`` training list where there
    is one, else the LiTS (``volume-N`` / ``segmentation-N``) or MSD file names, by case number."""
    listings = find_files(raw_dir, "dataset.json")
    if listings:
        return _msd_pairs(listings[0])
    images: dict[int, Path] = {}
    labels: dict[int, Path] = {}
    for path in find_files(raw_dir, "*.nii*"):
        m = re.fullmatch(r"(volume|segmentation|liver)[-_](\d+)\.nii(\.gz)?", path.name)
        if not m:
            continue
        kind, number = m.group(1), int(m.group(2))
        if kind == "volume" or (kind == "liver" and path.parent.name == "imagesTr"):
            images[number] = path
        elif kind == "segmentation" or (kind == "liver" and path.parent.name == "labelsTr"):
            labels[number] = path
    for number in sorted(set(images) ^ set(labels)):
        have = images.get(number) or labels.get(number)
        raise DataError(have, f"no matching {'label' if number in images else 'image'} volume for case {number}")
    if not images:
        raise DataError(raw_dir, "no LiTS volumes (volume-N.nii or imagesTr/liver_N.nii.gz) found")
    return [(images[n].name.split(".nii")[0], images[n], labels[n]) for n in sorted(images)]


def _msd_pairs(listing: Path) -> list[tuple[str, Path, Path]]:
    """Cases of an MSD task from its ``dataset.json`` (``training``: image / label paths)."""
    try:
        training = json.loads(listing.read_text())["training"]
        pairs = [(listing.parent / case["image"], listing.parent / case["label"]) for case in training]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            listing, f"unreadable MSD dataset.json, need a 'training' list of image/label paths ({exc})"
        ) from exc
    for i, (image, label) in enumerate(pairs):
        for path in (image, label):
            if not path.is_file():
                raise DataError(listing, f"training[{i}]: file {path.relative_to(listing.parent)} not found")
    if not pairs:
        raise DataError(listing, "empty 'training' list")
    return [(image.name.split(".nii")[0], image, label) for image, label in pairs]


def _load(path: Path, labels: bool) -> tuple[nib.Nifti1Image, np.ndarray]:
    """A NIfTI file as stored (header and affine untouched) and its 3-D data: HU as float32, or
    labels as int16 (stored floats must be whole numbers: they are never rounded)."""
    try:
        image = nib.load(path)
        data = np.asanyarray(image.dataobj) if labels else image.get_fdata(dtype=np.float32)
    except Exception as exc:  # nibabel, gzip and zlib raise many types for corrupt files
        raise DataError(path, f"unreadable NIfTI (truncated, or not NIfTI?): {' '.join(str(exc).split())}") from exc
    if data.ndim != 3:
        raise DataError(path, f"expected a 3-D volume, got shape {data.shape}")
    if labels:
        if np.issubdtype(data.dtype, np.floating) and not np.array_equal(data, np.rint(data)):
            odd = data[data != np.rint(data)]
            raise DataError(path, f"labels stored as {data.dtype} include non-whole values such as {odd[0]:g}")
        data = data.astype(np.int16)
        if data.min() < 0 or data.max() > TUMOUR:
            raise DataError(path, f"labels must be 0 background, 1 liver, 2 tumour; found {np.unique(data).tolist()}")
    return image, data


def _same_grid(image_path: Path, image: nib.Nifti1Image, label_path: Path, label: nib.Nifti1Image) -> None:
    """Volume and segmentation must share shape and affine *as stored*: compared after each was
    reoriented on its own, a mirrored segmentation header would match and its labels land mirrored."""
    if image.shape != label.shape:
        raise DataError(label_path, f"shape {label.shape} differs from {image_path.name} {image.shape}")
    if not np.allclose(image.affine, label.affine, rtol=0, atol=AFFINE_TOLERANCE):
        worst = float(np.abs(image.affine - label.affine).max())
        raise DataError(
            label_path,
            f"affine differs from {image_path.name}'s by up to {worst:g} (tolerance {AFFINE_TOLERANCE:g}): "
            "the labels would not lie on the image; fix the segmentation's header",
        )


def _canonical(image: nib.Nifti1Image, *arrays: np.ndarray) -> tuple[tuple[float, float], list[np.ndarray]]:
    """In-plane voxel size (mm) and the arrays reoriented to the closest canonical (RAS+) axes."""
    ornt = nib.orientations.io_orientation(image.affine)
    affine = image.affine @ nib.orientations.inv_ornt_aff(ornt, image.shape)
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0)).astype(np.float32)
    return (zooms[0], zooms[1]), [nib.orientations.apply_orientation(a, ornt) for a in arrays]


def read_lits(
    raw_dir: Path,
    *,
    patch_size: int | tuple[int, int],
    pad: int = 20,
    window: tuple[float, float] = (-100.0, 200.0),
    min_area: int = 10,
    recist_method: str = "ellipse_fit",
    min_ellipse_iou: float | None = None,
    min_hull_vertices: int | None = None,
) -> Iterator[Sample | Rejection]:
    """Yield one :class:`Sample` per 2-D tumour component, or a :class:`Rejection` for
    components under ``min_area`` source pixels and, with ``min_hull_vertices`` / ``min_ellipse_iou``
    (the released code: 5 / 0.4), for those whose convex hull has fewer vertices or whose fitted
    ellipse overlaps them less than that. (The released "area < 50" summed a 0/255 image and never
    dropped a component: ``min_area: 1`` is its behaviour.)"""
    hw = patch_hw(patch_size)
    for name, image_path, label_path in find_pairs(Path(raw_dir)):
        (image, hu), (label, labels) = _load(image_path, labels=False), _load(label_path, labels=True)
        _same_grid(image_path, image, label_path, label)
        zooms, (hu, labels) = _canonical(image, hu, labels)
        hu, labels = slices_from_volume(hu), slices_from_volume(labels)
        components, _ = ndimage.label(labels == TUMOUR, structure=_IN_PLANE)
        per_slice: dict[int, int] = {}
        source = str(image_path.relative_to(raw_dir))
        for index, box in enumerate(ndimage.find_objects(components), start=1):
            z, rows, cols = box
            k = z.start
            j = per_slice[k] = per_slice.get(k, -1) + 1
            lesion_id = f"{name}_z{k:03d}_{j}"
            mask = components[k] == index
            area = int(np.count_nonzero(mask[rows, cols]))
            if area < min_area:
                reason = f"tumour component of {area} px < min_area {min_area}"
                yield Rejection(lesion_id, source, TOO_SMALL, reason, group_id=name)
                continue
            x0, y0, side = padded_square((cols.start, rows.start, cols.stop - 1, rows.stop - 1), pad)
            gray = window_to_uint8(crop(hu[k], x0, y0, (side, side), fill=window[0]), *window)
            yield sample_from_mask(
                gray,
                crop(mask, x0, y0, (side, side)),
                hw,
                recist_method,
                min_ellipse_iou=min_ellipse_iou,
                min_hull_vertices=min_hull_vertices,
                source_spacing_xy=zooms,
                lesion_id=lesion_id,
                group_id=name,
                source=source,
                offset_xy=(x0, y0),
                source_hw=hu[k].shape,
            )
