import numpy as np
import pandas as pd
import pytest

from lesionmtl.clustering import axis_spread, cluster_features, cluster_lesions, shape_features


def _lesions(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "lesion_id": [f"l{i}" for i in range(n)],
            "split": rng.choice(["train", "val", "test"], size=n, p=[0.6, 0.2, 0.2]),
            "cx": rng.uniform(20, 40, n),
            "cy": rng.uniform(20, 40, n),
            "major": rng.uniform(10, 40, n),
            "minor": rng.uniform(5, 10, n),
            "angle": rng.uniform(0, 180, n),
        }
    )


def test_angle_features_treat_opposite_directions_as_one_shape():
    a = _lesions(3)
    b = a.assign(angle=a["angle"] + 180.0)
    np.testing.assert_allclose(shape_features(a), shape_features(b), atol=1e-12)


def test_clusters_are_fit_on_train_and_assigned_everywhere():
    lesions = _lesions(120)
    assignments, centres = cluster_lesions(lesions, k=5, seed=0)
    assert list(assignments["lesion_id"]) == list(lesions["lesion_id"])
    assert set(assignments["cluster"]) <= set(range(5))
    assert len(centres) == 5 and centres["n_train"].sum() == (lesions["split"] == "train").sum()
    assert (assignments["distance"] >= 0).all()
    # Moving validation/test lesions must not move the clusters: they are fit on train only.
    moved = lesions.copy()
    moved.loc[moved["split"] != "train", "major"] *= 10
    _, centres_moved = cluster_lesions(moved, k=5, seed=0)
    pd.testing.assert_frame_equal(centres, centres_moved)


@pytest.mark.parametrize("features", ["shape", "with_centre"])
def test_well_separated_groups_get_their_own_clusters(features):
    lesions = _lesions(90)
    lesions["split"] = "train"
    lesions["major"] = np.repeat([8.0, 30.0, 60.0], 30)
    lesions[["cx", "cy", "minor", "angle"]] = [30.0, 30.0, 6.0, 45.0]
    assignments, _ = cluster_lesions(lesions, k=3, seed=0, features=features)
    for group in np.split(assignments["cluster"].to_numpy(), 3):
        assert len(set(group)) == 1


def test_shape_features_ignore_the_crossing_point_and_a_round_lesions_direction():
    lesions = _lesions(40)
    train = (lesions["split"] == "train").to_numpy()
    moved = lesions.assign(cx=lesions["cx"] + 7.0, cy=lesions["cy"] - 3.0)
    np.testing.assert_allclose(cluster_features(lesions, train), cluster_features(moved, train))
    round_ = lesions.assign(minor=lesions["major"])
    turned = round_.assign(angle=round_["angle"] + 37.0)
    np.testing.assert_allclose(cluster_features(round_, train), cluster_features(turned, train), atol=1e-12)
    features = cluster_features(lesions, train)  # elongation (major / minor) survives the scaling
    np.testing.assert_allclose(features[:, 0] / features[:, 1], lesions["major"] / lesions["minor"])


def test_shape_clusters_group_similar_sizes_despite_noisy_crossing_points():
    """The issue's case: crossing points scattered by annotation noise coarsen the size groups
    when they weigh like the axes; the shape features are not fooled."""
    rng = np.random.default_rng(1)
    lesions = _lesions(400, seed=1).assign(split="train")
    lesions["cx"], lesions["cy"] = rng.normal(30, 3, 400), rng.normal(30, 3, 400)
    lesions["major"] = rng.uniform(8, 60, 400)
    lesions["minor"] = lesions["major"] * rng.uniform(0.5, 1.0, 400)
    spreads = {f: axis_spread(lesions, cluster_lesions(lesions, k=20, features=f)[0]) for f in ("with_centre", "shape")}
    assert spreads["shape"]["major"] < 0.6 * spreads["with_centre"]["major"]
    assert spreads["shape"]["minor"] < 0.6 * spreads["with_centre"]["minor"]


def test_unknown_feature_set_is_an_error():
    with pytest.raises(ValueError, match="unknown clustering features 'bogus'"):
        cluster_lesions(_lesions(50), k=3, features="bogus")


def test_k_larger_than_training_set_is_an_error():
    with pytest.raises(ValueError, match="at least 500 training lesions"):
        cluster_lesions(_lesions(50), k=500)
