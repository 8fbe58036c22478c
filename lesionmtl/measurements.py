"""Lesion size as a radiologist reports it, measured on a mask: area and RECIST diameters.

Long diameter: the longest chord between mask pixels; short diameter: the longest chord
perpendicular to it (:func:`lesionmtl.recist.measure_recist`, edge to edge).  Lengths are given in
source pixels (a patch resized by ``scale_xy`` is measured back at the source resolution) and in
millimetres where the spacing is known (nan otherwise, and nan for an empty mask).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lesionmtl.recist import measure_recist

NAN = float("nan")


def axis_lengths(
    points: np.ndarray, scale_xy: tuple[float, float] = (1.0, 1.0), spacing_xy: tuple[float, float] = (NAN, NAN)
) -> dict[str, float]:
    """Long and short axis of RECIST endpoints (4, 2): ``long_px, short_px`` in source pixels and
    ``long_mm, short_mm`` (``spacing_xy``: mm per pixel of the frame ``points`` are in)."""
    p = np.asarray(points, dtype=float)
    axes = np.stack([p[1] - p[0], p[3] - p[2]])
    px = np.linalg.norm(axes / np.asarray(scale_xy, float), axis=1)
    mm = np.linalg.norm(axes * np.asarray(spacing_xy, float), axis=1)
    return {"long_px": float(px[0]), "short_px": float(px[1]), "long_mm": float(mm[0]), "short_mm": float(mm[1])}


def measure_mask(
    mask: np.ndarray, scale_xy: tuple[float, float] = (1.0, 1.0), spacing_xy: tuple[float, float] = (NAN, NAN)
) -> dict[str, float]:
    """``area_px``, ``area_mm2`` and the :func:`axis_lengths` of the RECIST measured on ``mask``."""
    mask = np.asarray(mask, dtype=bool)
    pixel_area = 1.0 / (scale_xy[0] * scale_xy[1])
    area = {"area_px": float(mask.sum()) * pixel_area, "area_mm2": float(mask.sum()) * spacing_xy[0] * spacing_xy[1]}
    if not mask.any():
        return {**area, **dict.fromkeys(("long_px", "short_px", "long_mm", "short_mm"), NAN)}
    return {**area, **axis_lengths(measure_recist(mask), scale_xy, spacing_xy)}


def diameter_errors(predictions: np.ndarray, references: np.ndarray, lesions: pd.DataFrame) -> pd.DataFrame:
    """Per lesion: diameters measured on the prediction and on the reference mask, and their
    absolute differences (``abs_err_long_px`` ...), in source pixels and mm.

    ``predictions`` and ``references`` are (N, H, W) patch masks in the order of ``lesions`` rows,
    whose ``scale_x/y`` and ``spacing_x/y`` (mm per patch pixel) place them.
    """
    rows = []
    for pred, ref, lesion in zip(predictions, references, lesions.itertuples()):
        scale, spacing = (lesion.scale_x, lesion.scale_y), (lesion.spacing_x, lesion.spacing_y)
        p, r = measure_mask(pred, scale, spacing), measure_mask(ref, scale, spacing)
        row = {f"{k}_pred": v for k, v in p.items() if not k.startswith("area")}
        row.update({f"{k}_ref": v for k, v in r.items() if not k.startswith("area")})
        for k in ("long_px", "short_px", "long_mm", "short_mm"):
            row[f"abs_err_{k}"] = abs(p[k] - r[k]) if not (math.isnan(p[k]) or math.isnan(r[k])) else NAN
        rows.append(row)
    return pd.DataFrame(rows, index=lesions.index)
