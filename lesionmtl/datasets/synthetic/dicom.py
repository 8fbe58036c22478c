"""Synthetic CT as DICOM: a slice as one file, a volume as a series folder (written with pydicom).

The files are CT Image Storage objects as a scanner writes them: stored values HU + 1024 with
RescaleIntercept -1024, a soft-tissue WindowCenter / WindowWidth, PixelSpacing, axial
ImagePositionPatient / ImageOrientationPatient at the volume's slice interval, one study and frame
of reference per patient, and (made-up) patient identifiers, so that the tests can check that none
of them leaves the SEG/SR into lesions.parquet.  Series files have no suffix (``IM0001``): a DICOM
file is known by its preamble.  UIDs derive from ``key`` so that the same call writes the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

RESCALE_INTERCEPT = -1024.0
WINDOW = (40.0, 400.0)  # centre, width


def patient(n: int) -> dict[str, str]:
    """Made-up patient identifiers of synthetic patient ``n``."""
    return {
        "PatientName": f"Synthetic^Patient{n:03d}",
        "PatientID": f"SYN-PID-{n:05d}",
        "PatientBirthDate": f"19{50 + n % 40:02d}0{1 + n % 9}1{n % 10}",
        "PatientSex": "FO"[n % 2],
    }


def uid(key: str) -> str:
    return generate_uid(entropy_srcs=[key])


def ct_slice(
    hu: np.ndarray,
    *,
    key: str,
    who: dict[str, str],
    spacing_xy: tuple[float, float],
    z_mm: float,
    slice_mm: float,
    instance: int,
) -> Dataset:
    """One axial CT slice (rows = y, columns = x) of series ``key`` at ``z_mm``, as a file dataset."""
    study, series = key.rsplit("/", 1)[0], key
    sop = uid(f"{key}/{instance}")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.update(who)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid(study), uid(series)
    ds.FrameOfReferenceUID = uid(f"{study}/frame")
    ds.Modality, ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "CT", "1", "", ""
    ds.StudyDate, ds.StudyTime, ds.SeriesNumber, ds.InstanceNumber = "20200101", "120000", 1, instance
    ds.Manufacturer = "lesionmtl synthetic"
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.ImagePositionPatient = [-hu.shape[1] * spacing_xy[0] / 2, -hu.shape[0] * spacing_xy[1] / 2, float(z_mm)]
    ds.PixelSpacing = [float(spacing_xy[1]), float(spacing_xy[0])]  # row spacing (y), column spacing (x)
    ds.SliceThickness = float(slice_mm)
    ds.Rows, ds.Columns = hu.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = RESCALE_INTERCEPT, 1.0, "HU"
    ds.WindowCenter, ds.WindowWidth = WINDOW
    ds.PixelData = np.clip(np.rint(hu - RESCALE_INTERCEPT), 0, 65535).astype("<u2").tobytes()
    return ds


def write_slice(path: Path, hu: np.ndarray, **kw) -> Dataset:
    """:func:`ct_slice` written to ``path``."""
    ds = ct_slice(hu, **kw)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


def write_series(
    folder: Path, hu: np.ndarray, *, key: str, who: dict[str, str], spacing_xy: tuple[float, float], slice_mm: float
) -> list[Dataset]:
    """A (z, y, x) HU volume as a series folder, one file per slice (``IM0001``, ...), slice k at
    z = k * ``slice_mm``; InstanceNumber counts down the volume, so that name, number and position
    orders differ (a reader must sort by position)."""
    return [
        write_slice(
            Path(folder) / f"IM{k + 1:04d}",
            plane,
            key=key,
            who=who,
            spacing_xy=spacing_xy,
            z_mm=k * slice_mm,
            slice_mm=slice_mm,
            instance=len(hu) - k,
        )
        for k, plane in enumerate(hu)
    ]
