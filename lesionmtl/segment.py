"""``lesionmtl segment``: RECIST marks on new images -> lesion masks and measurements.

Each lesion's patch is cut by the ``recist_table`` reader's own functions (so the model sees it as
it saw its training data), predicted, and pasted back into the source image: a PNG mask of the
image's size, a NIfTI mask with the input's shape and affine where the input is NIfTI, and a
DICOM Segmentation and measurement report (SR) on the marked image where the input is DICOM
(:mod:`lesionmtl.dicom_out`).  ``measurements.csv`` (written last) holds per lesion the area and
the RECIST diameters measured on the predicted mask next to the given ones, and the ``qc`` flags
of a mask not to be trusted (:mod:`lesionmtl.qc`).
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pandas as pd

from lesionmtl.datasets.base import DataError, patch_hw
from lesionmtl.datasets.readers.recist_table import (
    DEFAULT_HU_OFFSET,
    DEFAULT_WINDOW,
    POINT_COLUMNS,
    CutLesion,
    LesionRow,
    cut_lesions,
    find_table,
    parse_row,
    raise_problems,
    read_rows,
)
from lesionmtl.io import atomic_path, save_text
from lesionmtl.measurements import axis_lengths, measure_mask
from lesionmtl.patches import paste
from lesionmtl.qc import flag_counts, quality_flags
from lesionmtl.recist import measure_recist

MEASUREMENT_COLUMNS = [
    "lesion_id",
    "row",
    "image",
    "slice",
    "mask_file",
    "nifti_mask_file",
    "dicom_seg_file",
    "dicom_sr_file",
    "area_px",
    "area_mm2",
    "long_px",
    "short_px",
    "long_mm",
    "short_mm",
    "given_long_px",
    "given_short_px",
    "given_long_mm",
    "given_short_mm",
    "spacing_x",
    "spacing_y",
    "image_layout",
    "qc",
]


def patch_settings(checkpoint: dict) -> tuple[tuple[int, int], tuple[float, float], float]:
    """Patch size, default HU window and PNG HU offset the model was trained with."""
    size = checkpoint["input"]["patch_size"]
    options = (checkpoint.get("patches") or {}).get("reader_options") or {}
    window = tuple(float(v) for v in options.get("window", DEFAULT_WINDOW))
    return patch_hw(size), window, float(options.get("hu_offset", DEFAULT_HU_OFFSET))


def _save_png(path: Path, mask: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        _, encoded = cv2.imencode(".png", mask.astype(np.uint8) * 255)
        tmp.write_bytes(encoded.tobytes())


def _save_nifti(path: Path, mask: np.ndarray, lesion: CutLesion) -> None:
    """The mask as a volume of the input's shape and affine (the lesion on its slice)."""
    volume = np.zeros(lesion.nifti_shape, dtype=np.uint8)
    plane = mask.T.astype(np.uint8)
    if volume.ndim == 2:
        volume[:] = plane
    else:
        volume[:, :, lesion.row.slice or 0] = plane
    image = nib.Nifti1Image(volume, lesion.nifti_affine)
    image.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(image.to_bytes(), mtime=0))


def _save_dicom(out_dir: Path, mask: np.ndarray, lesion: CutLesion, measured: dict) -> tuple[str, str]:
    """SEG (always) and SR (when the mask has diameters in mm) of a DICOM lesion; their names under ``out_dir``."""
    from lesionmtl.datasets.readers.dicom import read_header
    from lesionmtl.dicom_out import write_seg, write_sr

    # the header only (SEG and SR reference the source, they copy no pixels), read as ingest reads it
    source = read_header(Path(lesion.dicom.file), str(lesion.dicom.file), pixels=False)
    seg_name = f"masks/{lesion.lesion_id}_seg.dcm"
    write_seg(out_dir / seg_name, mask, source, lesion.dicom.frame, lesion.lesion_id)
    if not mask.any() or np.isnan(measured["long_mm"]):
        return seg_name, ""
    sr_name = f"masks/{lesion.lesion_id}_sr.dcm"
    lengths = (measured["long_mm"], measured["short_mm"])
    write_sr(out_dir / sr_name, source, lesion.dicom.frame, measure_recist(mask), lengths, lesion.lesion_id)
    return seg_name, sr_name


def _measurements(lesion: CutLesion, patch_mask: np.ndarray, out_dir: Path, training_layouts: dict | None) -> dict:
    spacing = lesion.spacing_xy
    mask = paste(patch_mask, lesion.offset, lesion.source_hw, False)
    given = axis_lengths(lesion.row.points, spacing_xy=spacing)
    measured = measure_mask(mask, spacing_xy=spacing)
    name = f"{lesion.lesion_id}.png"
    _save_png(out_dir / "masks" / name, mask)
    nifti_name = ""
    if lesion.nifti_shape is not None:
        nifti_name = f"{lesion.lesion_id}.nii.gz"
        _save_nifti(out_dir / "masks" / nifti_name, mask, lesion)
    seg_name, sr_name = _save_dicom(out_dir, mask, lesion, measured) if lesion.dicom is not None else ("", "")
    flags = quality_flags(patch_mask, measured, given, lesion.layout, training_layouts)
    return {
        "lesion_id": lesion.lesion_id,
        "row": lesion.row.line,
        "image": lesion.row.image,
        "slice": lesion.row.slice,
        "mask_file": f"masks/{name}",
        "nifti_mask_file": f"masks/{nifti_name}" if nifti_name else "",
        "dicom_seg_file": seg_name,
        "dicom_sr_file": sr_name,
        **measured,
        **{f"given_{k}": v for k, v in given.items()},
        "spacing_x": spacing[0],
        "spacing_y": spacing[1],
        "image_layout": lesion.layout,
        "qc": ";".join(flags),
    }


def segment(
    checkpoint_path: Path, rows: list[LesionRow], base: Path, out_dir: Path, *, where: Path, device: str = "cpu"
) -> pd.DataFrame:
    """Segment the lesions of ``rows`` (image paths relative to ``base``) into ``out_dir``.

    Every row is checked before anything is written; bad ones raise one :class:`DataError`
    naming ``where`` (the table) and each row.  Returns the measurements table.
    """
    from lesionmtl.inference import Predictor

    predictor = Predictor.from_checkpoint(checkpoint_path, device=device)
    if predictor.paired:
        raise DataError(
            checkpoint_path, f"a co-segmentation model ({predictor.arch}) needs partner patches; use A1 or A1+L"
        )
    size_hw, window, hu_offset = patch_settings(predictor.facts)
    lesions, problems = [], []
    for item in cut_lesions(rows, base, size_hw, window, hu_offset):
        (problems if isinstance(item, str) else lesions).append(item)
    raise_problems(where, problems)
    masks = predictor.predict(np.stack([lesion.patch for lesion in lesions])).masks()
    out_dir = Path(out_dir)
    training_layouts = (predictor.facts.get("training_data") or {}).get("image_layouts")
    records = [_measurements(lesion, mask, out_dir, training_layouts) for lesion, mask in zip(lesions, masks)]
    table = pd.DataFrame(records, columns=MEASUREMENT_COLUMNS)
    save_text(out_dir / "measurements.csv", table.to_csv(index=False, float_format="%.6g"))
    return table


def segment_table(checkpoint_path: Path, table: Path, out_dir: Path, device: str = "cpu") -> pd.DataFrame:
    """``lesionmtl segment --table``: every row of a ``recist_table`` lesion table."""
    table = find_table(Path(table))
    rows, problems = read_rows(table)
    raise_problems(table, problems)
    return segment(checkpoint_path, rows, table.parent, out_dir, where=table, device=device)


def segment_image(
    checkpoint_path: Path,
    image: Path,
    recist: list[float],
    out_dir: Path,
    *,
    slice_index: int | None = None,
    frame: int | None = None,
    instance: str | None = None,
    device: str = "cpu",
) -> pd.DataFrame:
    """``lesionmtl segment --image``: one lesion given by its 8 RECIST numbers."""
    image = Path(image)
    if len(recist) != len(POINT_COLUMNS):
        raise DataError(image, f"--recist takes {len(POINT_COLUMNS)} numbers, got {len(recist)}")
    # The same checks as a table row (zero-length or swapped axes, slice on a non-NIfTI image, ...).
    raw = {"image": image.name, **{c: repr(float(v)) for c, v in zip(POINT_COLUMNS, recist)}}
    for column, value in (("slice", slice_index), ("frame", frame), ("instance", instance)):
        if value is not None:
            raw[column] = str(value)
    try:
        row = parse_row(raw, line=1)
    except ValueError as exc:
        raise DataError(image, f"--recist/--slice/--frame/--instance: {exc}") from exc
    return segment(checkpoint_path, [row], image.parent, out_dir, where=image, device=device)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, metavar="MODEL.pt", help="a trained run's model.pt")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--table", type=Path, help="lesion table (recist_table format: lesions.csv or .parquet)")
    what.add_argument(
        "--image", type=Path, help="one image (PNG, JPEG, NIfTI, DICOM file or series folder); give --recist"
    )
    parser.add_argument(
        "--recist",
        nargs=8,
        type=float,
        metavar=("X11", "Y11", "X12", "Y12", "X21", "Y21", "X22", "Y22"),
        help="RECIST endpoints with --image: long axis first, 0-based pixels (x = column)",
    )
    parser.add_argument("--slice", type=int, help="axial slice of a NIfTI --image (dataobj[x, y, slice])")
    parser.add_argument("--frame", type=int, help="frame of a multi-frame DICOM --image (0-based)")
    parser.add_argument(
        "--instance", help="marked slice of a DICOM series folder --image (SOPInstanceUID or InstanceNumber)"
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder: masks/ and measurements.csv")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")


def run(args: argparse.Namespace) -> int:
    if args.image is not None:
        if args.recist is None:
            raise SystemExit("lesionmtl segment: error: --image needs --recist X11 Y11 X12 Y12 X21 Y21 X22 Y22")
        table = segment_image(
            args.checkpoint,
            args.image,
            args.recist,
            args.out,
            slice_index=args.slice,
            frame=args.frame,
            instance=args.instance,
            device=args.device,
        )
    else:
        if any(v is not None for v in (args.recist, args.slice, args.frame, args.instance)):
            raise SystemExit(
                "lesionmtl segment: error: --recist, --slice, --frame and --instance go with --image, not --table"
            )
        table = segment_table(args.checkpoint, args.table, args.out, device=args.device)
    done = table["long_px"].notna().sum()
    print(f"{len(table)} lesions segmented ({len(table) - done} empty) -> {Path(args.out) / 'measurements.csv'}")
    counts = flag_counts(table["qc"])
    flagged = (table["qc"].fillna("") != "").sum()
    print(
        f"qc: {flagged} of {len(table)} masks flagged"
        + (": " + ", ".join(f"{flag} {n}" for flag, n in counts.items()) if counts else "")
    )
    return 0
