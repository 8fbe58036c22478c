"""Scoring a trained run on every lesion: segmentation metrics and cluster accuracy."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from lesionmtl.clustering import shape_features
from lesionmtl.inference import Predictor
from lesionmtl.measurements import diameter_errors
from lesionmtl.metrics import LENGTH_METRICS, score_masks

log = logging.getLogger(__name__)


def partner_rows(lesions: pd.DataFrame) -> np.ndarray:
    """Co-segmentation partner of every patch: the most similar *training* lesion by RECIST shape.

    At test time a co-segmentation net needs a second image. We pair each lesion with the
    training lesion nearest in standardised RECIST-ellipse features (the same information the
    clusters use, known at test time), never with itself: deterministic, and it gives the
    attention a partner of like shape, as co-segmentation intends. Indexed by patch row.
    """
    # sklearn takes ~1 s to import: only the evaluation of a paired (ACoseg) run pays it
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    features = StandardScaler().fit_transform(shape_features(lesions))
    train = np.flatnonzero(lesions["split"].to_numpy() == "train")
    _, nearest = NearestNeighbors(n_neighbors=2).fit(features[train]).kneighbors(features)
    # A training lesion finds itself first; it takes its second neighbour instead.
    is_self = train[nearest[:, 0]] == np.arange(len(lesions))
    chosen = train[np.where(is_self, nearest[:, 1], nearest[:, 0])]
    patch_rows = lesions["patch_index"].to_numpy()
    partners = np.empty(len(lesions), dtype=np.int64)
    partners[patch_rows] = patch_rows[chosen]
    return partners


def evaluate_run(
    model_path: Path,
    lesions: pd.DataFrame,
    images: np.ndarray,
    truth: np.ndarray,
    clusters: pd.DataFrame | None = None,
    device: str = "auto",
    metric_protocol: str = "ours",
) -> tuple[pd.DataFrame, np.ndarray]:
    """Predict every patch and score it against ``truth``.

    Returns ``(metrics, predictions)``: one metrics row per lesion (all splits; the report uses
    the test split, Table 8 also the train split), with the RECIST diameters measured on the
    prediction and on the reference (:func:`lesionmtl.measurements.diameter_errors`), and the
    binary predictions (N,H,W). The paper's empty-prediction rule is applied per split, so the worst value is taken among the lesions of
    the same split. Each row carries the lesion's ``group_id`` (patient, volume, lesion: the unit
    of the report's tests) and, where every lesion of the split has a pixel spacing, the length
    metrics in mm as ``<metric>_mm``. ``metric_protocol``: ``ours`` or ``released``
    (:func:`lesionmtl.metrics.score_masks`).
    """
    if len(truth) != len(images):
        raise ValueError(
            f"cannot score: {len(images)} patches but {len(truth)} reference masks "
            "(a dataset without ground truth is scored against GrabCut, score_against: grabcut, or not at all, "
            "score_against: none)"
        )
    predictor = Predictor.from_checkpoint(model_path, device=device)
    partners = images[partner_rows(lesions)] if predictor.paired else None
    prediction = predictor.predict(images, partners=partners)
    predictions, logits = prediction.masks(), prediction.class_logits
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
    return metrics, predictions
