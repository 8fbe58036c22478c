"""Scoring a trained run's predictions on every lesion: segmentation metrics and cluster accuracy.

Torch-free: the training job predicts (:func:`lesionmtl.inference.predict_lesions`) and writes the
masks and cluster logits, so an evaluation job starts in a second and rescoring (e.g. with
``evaluation.metrics: released``) retrains and repredicts nothing.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from lesionmtl.measurements import diameter_errors
from lesionmtl.metrics import LENGTH_METRICS, score_masks

log = logging.getLogger(__name__)


def evaluate_run(
    predictions: np.ndarray,
    class_logits: np.ndarray | None,
    lesions: pd.DataFrame,
    truth: np.ndarray,
    clusters: pd.DataFrame | None = None,
    metric_protocol: str = "ours",
) -> pd.DataFrame:
    """Score a run's binary ``predictions`` (N,H,W, by patch row) against ``truth``.

    One metrics row per lesion (all splits; the report uses the test split, Table 8 also the train
    split), with the RECIST diameters measured on the prediction and on the reference
    (:func:`lesionmtl.measurements.diameter_errors`). The paper's empty-prediction rule is applied
    per split, so the worst value is taken among the lesions of the same split. Each row carries
    the lesion's ``group_id`` (patient, volume, lesion: the unit of the report's tests) and, where
    every lesion of the split has a pixel spacing, the length metrics in mm as ``<metric>_mm``.
    ``class_logits`` (N,K), for models with a cluster head, add the predicted cluster (and, with
    ``clusters``, whether it is right). ``metric_protocol``: ``ours`` or ``released``
    (:func:`lesionmtl.metrics.score_masks`).
    """
    if len(truth) != len(predictions):
        raise ValueError(
            f"cannot score: {len(predictions)} predicted patches but {len(truth)} reference masks "
            "(a dataset without ground truth is scored against GrabCut, score_against: grabcut, or not at all, "
            "score_against: none)"
        )
    logits = class_logits if class_logits is not None and class_logits.size else None
    frames = []
    # A recist_table with masks on some rows only (``has_gt``) is scored on those rows.
    scored = lesions[lesions["has_gt"].astype(bool)] if "has_gt" in lesions else lesions
    for split, rows in scored.groupby("split"):
        idx = rows["patch_index"].to_numpy()
        scores = score_masks(predictions[idx], truth[idx], protocol=metric_protocol)
        spacing = rows[["spacing_y", "spacing_x"]].to_numpy(dtype=float)  # (row, col) mm per patch pixel
        if np.isfinite(spacing).all():
            in_mm = score_masks(predictions[idx], truth[idx], spacing=spacing, protocol=metric_protocol)
            for name in LENGTH_METRICS:
                scores[f"{name}_mm"] = in_mm[name].to_numpy()
        scores.insert(0, "lesion_id", rows["lesion_id"].to_numpy())
        scores.insert(1, "split", split)
        scores.insert(2, "group_id", rows["group_id"].to_numpy())
        sizes = diameter_errors(predictions[idx], truth[idx], rows).reset_index(drop=True)
        frames.append(pd.concat([scores, sizes], axis=1))
    metrics = pd.concat(frames, ignore_index=True)
    if logits is not None:
        by_row = dict(zip(lesions["lesion_id"], lesions["patch_index"]))
        rows = metrics["lesion_id"].map(by_row).to_numpy()
        metrics["cluster_pred"] = logits.argmax(1)[rows]
        if clusters is not None:
            true = clusters.set_index("lesion_id").loc[metrics["lesion_id"], "cluster"].to_numpy()
            metrics["cluster_true"] = true
            metrics["cluster_correct"] = metrics["cluster_pred"] == true
    test = metrics[metrics["split"] == "test"]
    log.info(
        "test lesions %d, mean dice %.4f, empty predictions %d",
        len(test),
        test["dice"].mean(),
        int(test["empty_pred"].sum()),
    )
    return metrics
