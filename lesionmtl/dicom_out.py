"""DICOM results of ``lesionmtl segment`` for a DICOM input: a Segmentation and a measurement report.

Both are built with highdicom from the marked source image and carry its patient and study
modules (as the standard requires), so a viewer that opens the study shows them over it:

- :func:`write_seg`: a binary DICOM Segmentation, one segment (category Morphologically abnormal
  structure, type Lesion, SNOMED CT), the same pixels as the PNG mask, referencing the source image
  (study, series, SOP instance, frame of reference, and its frame for a multi-frame source);
- :func:`write_sr`: a TID 1500 Measurement Report (Comprehensive 3D SR) with the long and short
  diameters measured on the mask, in mm, each as a planar ROI: the axis as a two-point polyline on
  the source image, its length as the measurement.
"""

from __future__ import annotations

import copy
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from lesionmtl import __version__
from lesionmtl.io import atomic_path

MANUFACTURER = "lesionmtl"
ALGORITHM = hd.AlgorithmIdentificationSequence(
    name="lesionmtl", family=codes.cid7162.ArtificialIntelligence, version=__version__
)
LESION_CATEGORY = codes.SCT.MorphologicallyAbnormalStructure
LESION_TYPE = codes.SCT.Lesion
AXES = ((codes.SCT.LongAxis, "long"), (codes.SCT.ShortAxis, "short"))
PROCEDURE = codes.SCT.ImagingProcedure  # TID 1500 "procedure reported": the source's study, unspecified
SEG_SERIES_NUMBER = 9801
SR_SERIES_NUMBER = 9802


def _seg_source(ds: Dataset) -> Dataset:
    """The source as highdicom's geometry checks take it: without a frame of reference there is
    no plane to place the SEG in, and a PixelSpacing without SliceThickness (secondary capture)
    makes an incomplete Pixel Measures Sequence, so such a source's spacing is left out of the SEG
    (its SR still gives the diameters in mm)."""
    if "FrameOfReferenceUID" in ds or "PixelSpacing" not in ds:
        return ds
    bare = copy.deepcopy(ds)  # a shallow copy shares its elements with the source
    del bare.PixelSpacing
    return bare


def write_seg(path: Path, mask: np.ndarray, source: Dataset, frame: int | None, label: str) -> None:
    """A binary SEG of ``mask`` (H, W) on ``source`` (``frame``: 0-based frame of a multi-frame source)."""
    frames = int(source.get("NumberOfFrames") or 1)
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=label[:64],
        segmented_property_category=LESION_CATEGORY,
        segmented_property_type=LESION_TYPE,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=ALGORITHM,
    )
    seg = hd.seg.Segmentation(
        source_images=[_seg_source(source)],
        pixel_array=mask.astype(bool),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid=hd.UID(),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="lesionmtl segment",
        software_versions=__version__,
        device_serial_number="0",
        content_label="LESION",
        content_description=f"lesion {label}"[:64],
        omit_empty_frames=False,  # an empty mask is a result too: the SEG then holds one empty frame
    )
    if frames > 1:
        # highdicom (0.28) places a mask on a multi-frame source only through per-frame functional
        # groups, which a classic multi-frame (secondary capture, ultrasound) lacks: the one frame
        # it writes references the instance, and we name the source frame it lies on.
        for item in seg.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence:
            item.ReferencedFrameNumber = frame + 1
    with atomic_path(path) as tmp:
        seg.save_as(tmp)


def write_sr(
    path: Path, source: Dataset, frame: int | None, points: np.ndarray, lengths_mm: tuple[float, float], label: str
) -> None:
    """A TID 1500 measurement report: the long and short axes ``points`` (4, 2) in source pixels
    (x = column, pixel centres at integers) with their lengths in mm."""
    if frame is not None and int(source.get("NumberOfFrames") or 1) > 1:
        region_source = hd.sr.SourceImageForRegion(
            source.SOPClassUID, source.SOPInstanceUID, referenced_frame_numbers=[frame + 1]
        )
    else:
        region_source = hd.sr.SourceImageForRegion.from_source_image(source)
    groups = []
    for (concept, name), ends, length in zip(AXES, (points[:2], points[2:]), lengths_mm):
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            # SCOORD: (column, row) with (0, 0) the top-left corner of the top-left pixel.
            graphic_data=np.asarray(ends, dtype=float) + 0.5,
            source_image=region_source,
        )
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{label} {name} axis"[:64]),
                referenced_region=region,
                finding_type=LESION_TYPE,
                algorithm_id=hd.sr.AlgorithmIdentification(name="lesionmtl", version=__version__),
                measurements=[
                    hd.sr.Measurement(name=concept, value=float(length), unit=codes.UCUM.Millimeter),
                ],
            )
        )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=None,
            observer_device_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Device,
                observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                    uid=hd.UID(), name="lesionmtl", manufacturer_name=MANUFACTURER
                ),
            ),
        ),
        procedure_reported=PROCEDURE,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[source],
        content=report,
        series_instance_uid=hd.UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        series_description=f"lesionmtl measurements {label}"[:64],
    )
    with atomic_path(path) as tmp:
        sr.save_as(tmp)
