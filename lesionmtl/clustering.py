"""K-means clustering of lesions by the shape of their RECIST ellipse (the paper's labels).

Two feature sets (config ``clustering: {features: ...}``):

* ``shape`` (default): the axis lengths, divided by one common scale (the spread of the
  training axes, so that their ratio, the elongation, is kept), and the orientation as
  ``e * (cos 2θ, sin 2θ)`` with ``e = (major - minor) / (major + minor)``: θ and θ+180° are
  one shape, and a round lesion, whose direction means nothing, sits at the origin. No
  position: patches are centred on the lesion box, so the axes' crossing point in the patch is
  a few pixels of annotation noise.
* ``with_centre``: our earlier choice: crossing point (cx, cy), axes and (cos 2θ, sin 2θ), each
  standardised, which gives the noise in the crossing point the weight of the axes.

* ``released``: the released code's rows, unscaled: ``[cx, cy, short, long, rotation]``, the
  rotation in degrees as it computed it from the short axis marks, ``90 - atan2(dx, dy)``
  (``DeepLesion_data.py:688-703``; its LiTS/HAM code took cv2.fitEllipse's angle instead).

``fit_on``: ``train`` (default) fits the scaling and K-means on the training split, then assigns
every split; ``all`` fits on every split, as the released code did (test shapes then shape the labels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURE_SETS = ("shape", "with_centre", "released")
FIT_ON = ("train", "all")
FEATURE_NAMES = ("cx", "cy", "major", "minor", "cos2a", "sin2a")


def shape_features(lesions: pd.DataFrame) -> np.ndarray:
    """(N, 6) matrix of :data:`FEATURE_NAMES` from the ellipse columns of a lesions table."""
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


def released_features(lesions: pd.DataFrame) -> np.ndarray:
    """(N, 5) ``[cx, cy, short, long, rotation in degrees]``, rotation from the short-axis marks."""
    rotation = 90.0 - np.degrees(
        np.arctan2(
            lesions["r_x22"].to_numpy(dtype=float) - lesions["r_x21"].to_numpy(dtype=float),
            lesions["r_y22"].to_numpy(dtype=float) - lesions["r_y21"].to_numpy(dtype=float),
        )
    )
    columns = [lesions[c].to_numpy(dtype=float) for c in ("cx", "cy", "minor", "major")]
    return np.column_stack([*columns, rotation])


def cluster_features(lesions: pd.DataFrame, train: np.ndarray, features: str = "shape") -> np.ndarray:
    """The scaled features K-means runs on (scales fit on the rows where ``train`` is True)."""
    if features == "released":
        return released_features(lesions)
    raw = shape_features(lesions)
    if features == "with_centre":
        from sklearn.preprocessing import StandardScaler  # sklearn takes ~1 s to import: only where used

        return StandardScaler().fit(raw[train]).transform(raw)
    if features != "shape":
        raise ValueError(f"unknown clustering features {features!r}; expected one of {', '.join(FEATURE_SETS)}")
    axes = raw[:, 2:4]
    scale = float(np.std(axes[train])) or 1.0
    elongation = (axes[:, 0] - axes[:, 1]) / np.maximum(axes[:, 0] + axes[:, 1], 1e-9)
    return np.column_stack([axes / scale, elongation[:, None] * raw[:, 4:6]])


def cluster_lesions(
    lesions: pd.DataFrame, k: int, seed: int = 0, features: str = "shape", fit_on: str = "train"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit K-means on the training lesions (``fit_on="all"``: on every lesion) and assign every lesion.

    Returns ``(assignments, centres)``: assignments has ``lesion_id, split, cluster, distance``
    (Euclidean distance to the assigned centre in the scaled feature space); centres has one row
    per cluster with the mean :data:`FEATURE_NAMES` of its training members (nan for a cluster
    without any) and their number.
    """
    if fit_on not in FIT_ON:
        raise ValueError(f"unknown clustering fit_on {fit_on!r}; expected one of {', '.join(FIT_ON)}")
    train = (lesions["split"] == "train").to_numpy() | (fit_on == "all")
    n_train = int(train.sum())
    if k < 2:
        raise ValueError(f"K must be at least 2, got {k}")
    if n_train < k:
        raise ValueError(f"K={k} clusters need at least {k} training lesions, found {n_train}")
    from sklearn.cluster import KMeans  # not at the top: evaluate jobs import this module for shape_features

    scaled = cluster_features(lesions, train, features)
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(scaled[train])
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
    members = pd.DataFrame(shape_features(lesions)[train], columns=list(FEATURE_NAMES)).assign(cluster=labels[train])
    centres = members.groupby("cluster").mean().reindex(range(k)).rename_axis("cluster").reset_index()
    centres["n_train"] = np.bincount(labels[train], minlength=k)
    return assignments, centres


def axis_spread(lesions: pd.DataFrame, assignments: pd.DataFrame, split: str = "train") -> dict[str, float]:
    """Within-cluster spread of the axes: the member-weighted mean of each cluster's standard
    deviation of ``major`` and ``minor`` (px), over the lesions of ``split``."""
    table = lesions.merge(assignments[["lesion_id", "cluster"]], on="lesion_id")
    table = table[table["split"] == split]
    spread = table.groupby("cluster")[["major", "minor"]].std(ddof=0)
    weights = table.groupby("cluster").size()
    return {axis: float(np.average(spread[axis], weights=weights)) for axis in ("major", "minor")}
