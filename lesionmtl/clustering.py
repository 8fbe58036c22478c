"""K-means clustering of lesions by the shape of their RECIST ellipse (the paper's labels).

Features per lesion: centre (x, y), major and minor axis, and the axis direction encoded as
(cos 2θ, sin 2θ) so that θ and θ+180° are one shape. Features are standardised and K-means is fit
on the training split only (no peeking at val/test), then every split is assigned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

FEATURE_NAMES = ("cx", "cy", "major", "minor", "cos2a", "sin2a")


def shape_features(lesions: pd.DataFrame) -> np.ndarray:
    """(N, 6) feature matrix from the ellipse columns of a lesions table."""
    angle = np.deg2rad(lesions["angle"].to_numpy(dtype=float))
    return np.column_stack(
        [
            lesions["cx"].to_numpy(dtype=float),
            lesions["cy"].to_numpy(dtype=float),
            lesions["major"].to_numpy(dtype=float),
            lesions["minor"].to_numpy(dtype=float),
            np.cos(2 * angle),
            np.sin(2 * angle),
        ]
    )


def cluster_lesions(lesions: pd.DataFrame, k: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit K-means on the training lesions and assign every lesion.

    Returns ``(assignments, centres)``: assignments has ``lesion_id, split, cluster, distance``
    (Euclidean distance to the assigned centre in standardised feature space); centres has one row
    per cluster with the centre in original feature units and the number of training members.
    """
    train = lesions["split"] == "train"
    n_train = int(train.sum())
    if k < 2:
        raise ValueError(f"K must be at least 2, got {k}")
    if n_train < k:
        raise ValueError(f"K={k} clusters need at least {k} training lesions, found {n_train}")
    features = shape_features(lesions)
    scaler = StandardScaler().fit(features[train.to_numpy()])
    scaled = scaler.transform(features)
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(scaled[train.to_numpy()])
    labels = kmeans.predict(scaled)
    distance = np.linalg.norm(scaled - kmeans.cluster_centers_[labels], axis=1)
    assignments = pd.DataFrame(
        {
            "lesion_id": lesions["lesion_id"].to_numpy(),
            "split": lesions["split"].to_numpy(),
            "cluster": labels.astype(np.int64),
            "distance": distance,
        }
    )
    centres = pd.DataFrame(scaler.inverse_transform(kmeans.cluster_centers_), columns=list(FEATURE_NAMES))
    centres.insert(0, "cluster", np.arange(k))
    centres["n_train"] = np.bincount(labels[train.to_numpy()], minlength=k)
    return assignments, centres
