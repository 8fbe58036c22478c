import numpy as np
import pandas as pd
import pytest

from lesionmtl.pseudolabels import RECIST_COLUMNS, ellipse_mask, grabcut_mask, grabcut_seeds, make_pseudolabels
from lesionmtl.recist import Ellipse, draw_ellipse, ellipse_to_recist, measure_recist, recist_to_ellipse

SIZE = 96


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def plus_blob(cx: int = 48, cy: int = 46) -> np.ndarray:
    """A bright plus sign: clearly not an ellipse."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    horizontal = (abs(xx - cx) <= 20) & (abs(yy - cy) <= 6)
    vertical = (abs(xx - cx) <= 6) & (abs(yy - cy) <= 18)
    return horizontal | vertical


def textured_image(blob: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    background = 60 + 25 * np.sin(xx / 3.0) * np.cos(yy / 4.0) + rng.normal(0, 8, blob.shape)
    lesion = 190 + rng.normal(0, 10, blob.shape)
    return np.where(blob, lesion, background).clip(0, 255).astype(np.uint8)


def test_ellipse_mask_draws_the_recist_ellipse():
    e = Ellipse(40.0, 30.0, 24.0, 10.0, 35.0)
    points = ellipse_to_recist(e)
    assert np.array_equal(ellipse_mask(points, (64, 80)), draw_ellipse(e, (64, 80)))


def test_grabcut_beats_ellipse_on_irregular_blob():
    blob = plus_blob()
    recist = measure_recist(blob)
    ellipse = recist_to_ellipse(recist)
    mask, fell_back = grabcut_mask(textured_image(blob), recist)
    assert not fell_back
    assert iou(mask, blob) > iou(draw_ellipse(ellipse, blob.shape), blob) + 0.2


def test_grabcut_is_deterministic():
    blob = plus_blob()
    image = np.stack([textured_image(blob, seed=3)] * 3, axis=-1)
    recist = measure_recist(blob)
    first, _ = grabcut_mask(image, recist)
    np.random.seed(123)  # unrelated RNG state must not matter
    second, _ = grabcut_mask(image, recist)
    assert np.array_equal(first, second)


def test_grabcut_falls_back_on_flat_image():
    ellipse = Ellipse(48.0, 48.0, 30.0, 20.0, 10.0)
    mask, fell_back = grabcut_mask(np.full((SIZE, SIZE, 3), 100, np.uint8), ellipse_to_recist(ellipse))
    assert fell_back
    assert np.array_equal(mask, draw_ellipse(ellipse, (SIZE, SIZE)))
    # the dataset's own ellipse pseudo-mask (e.g. the released matplotlib drawing) is what comes back
    drawn = draw_ellipse(Ellipse(48.0, 48.0, 34.0, 24.0, 10.0), (SIZE, SIZE))
    mask, fell_back = grabcut_mask(np.full((SIZE, SIZE, 3), 100, np.uint8), ellipse_to_recist(ellipse), fallback=drawn)
    assert fell_back and np.array_equal(mask, drawn)


def test_grabcut_falls_back_when_no_background_is_left():
    ellipse = Ellipse(48.0, 48.0, 200.0, 200.0, 0.0)
    image = textured_image(plus_blob())
    mask, fell_back = grabcut_mask(image, ellipse_to_recist(ellipse))
    assert fell_back and mask.all()


def test_grabcut_seeds_follow_the_recist_marks():
    import cv2

    recist = ellipse_to_recist(Ellipse(48.0, 48.0, 40.0, 20.0, 0.0))
    seeds = grabcut_seeds(recist, (SIZE, SIZE))
    # Long axis x = 28..68: its central 80 % (x = 32..64) is certain foreground, the rest probable.
    assert seeds[48, 48] == cv2.GC_FGD and seeds[48, 33] == cv2.GC_FGD and seeds[52, 48] == cv2.GC_FGD
    assert seeds[48, 30] == cv2.GC_PR_FGD
    assert seeds[44, 40] == cv2.GC_PR_FGD  # inside the ellipse, off the axes
    assert seeds[35, 26] == cv2.GC_PR_BGD  # inside the box, outside the ellipse
    assert seeds[5, 5] == cv2.GC_BGD


def test_grabcut_rejects_non_uint8():
    with pytest.raises(ValueError, match="uint8"):
        grabcut_mask(np.zeros((SIZE, SIZE), np.float32), ellipse_to_recist(Ellipse(48, 48, 20, 10, 0)))


def make_dataset(n: int = 6) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    images, masks, rows = [], [], []
    for i in range(n):
        blob = plus_blob(cx=44 + i, cy=42 + (i % 3) * 2)
        if i % 2:  # every other lesion elliptical, on an image GrabCut can work with
            blob = draw_ellipse(Ellipse(48.0, 46.0, 34.0, 22.0, 15.0 * i), blob.shape)
        # a flat image forces a fallback
        image = np.full(blob.shape, 90, np.uint8) if i == 5 else textured_image(blob, seed=i)
        images.append(np.stack([image] * 3, axis=-1))
        masks.append(blob)
        rows.append([f"L{i}", *measure_recist(blob).ravel()])
    lesions = pd.DataFrame(rows, columns=["lesion_id", *RECIST_COLUMNS])
    return np.stack(images), lesions, np.stack(masks)


def test_make_pseudolabels_shapes_and_facts():
    images, lesions, gt = make_dataset()
    ellipses, grabcuts, facts = make_pseudolabels(images, lesions, gt)
    assert ellipses.shape == grabcuts.shape == (6, SIZE, SIZE)
    assert ellipses.dtype == grabcuts.dtype == bool
    assert list(facts.columns) == [
        "lesion_id",
        "ellipse_area",
        "grabcut_area",
        "grabcut_fell_back",
        "iou_grabcut_ellipse",
        "dice_ellipse_gt",
        "dice_grabcut_gt",
        "iou_ellipse_gt",
        "iou_grabcut_gt",
    ]
    assert facts["lesion_id"].tolist() == lesions["lesion_id"].tolist()
    assert facts["ellipse_area"].tolist() == ellipses.sum(axis=(1, 2)).tolist()
    assert facts["grabcut_area"].tolist() == grabcuts.sum(axis=(1, 2)).tolist()
    assert facts["grabcut_fell_back"].tolist() == [False] * 5 + [True]
    assert (facts["iou_grabcut_gt"] >= facts["iou_ellipse_gt"]).all()
    assert ((facts["dice_grabcut_gt"] >= 0) & (facts["dice_grabcut_gt"] <= 1)).all()

    _, _, no_gt = make_pseudolabels(images, lesions, None)
    assert "dice_ellipse_gt" not in no_gt.columns


def test_make_pseudolabels_sharding_equals_unsharded():
    images, lesions, gt = make_dataset()
    whole = make_pseudolabels(images, lesions, gt)
    shards = [make_pseudolabels(images, lesions, gt, rows=rows) for rows in (slice(0, 2), np.arange(2, 6))]
    assert np.array_equal(np.concatenate([s[0] for s in shards]), whole[0])
    assert np.array_equal(np.concatenate([s[1] for s in shards]), whole[1])
    pd.testing.assert_frame_equal(pd.concat([s[2] for s in shards], ignore_index=True), whole[2])


def test_make_pseudolabels_names_lesion_with_bad_recist():
    images, lesions, _ = make_dataset(2)
    lesions.loc[1, "r_x11"] = np.nan
    with pytest.raises(ValueError, match="L1.*finite"):
        make_pseudolabels(images, lesions, None)


def test_lesion_longer_than_the_patch_gets_clipped_masks():
    """RECIST marks beyond the patch edge (kept by the readers): both pseudo-masks are the
    ellipse's part inside the patch, and GrabCut still runs."""
    e = Ellipse(70.0, 48.0, 70.0, 30.0, 0.0)  # reaches x = 105 in a 96 px patch
    blob = draw_ellipse(e, (SIZE, SIZE))
    images = np.stack([np.stack([textured_image(blob)] * 3, axis=-1)])
    lesions = pd.DataFrame([dict(zip(RECIST_COLUMNS, ellipse_to_recist(e).ravel()), lesion_id="edge")])
    ellipses, grabcuts, facts = make_pseudolabels(images, lesions, blob[None])
    assert np.array_equal(ellipses[0], blob) and blob[:, -1].any()
    assert facts.loc[0, "dice_ellipse_gt"] == 1.0 and grabcuts[0].any()
