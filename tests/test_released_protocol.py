"""The released code's protocol as switches (docs/released_code.md): each switch's released value
does what the released code did, on a small real input, and differs from our default."""

from __future__ import annotations

import random

import cv2
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from skimage.feature import canny

from lesionmtl.clustering import cluster_lesions
from lesionmtl.datasets.base import FEW_HULL_VERTICES, TOO_SMALL, Rejection, Sample
from lesionmtl.datasets.readers.lits import read_lits
from lesionmtl.datasets.splits import released_image_split
from lesionmtl.metrics import hausdorff, medpy_hd, perimeter_error, score_masks
from lesionmtl.pseudolabels import pseudo_ellipse, released_grabcut
from lesionmtl.recist import Ellipse, draw_ellipse
from lesionmtl.tensors import IMAGENET_MEAN, IMAGENET_STD, Canvas, ImageBatcher
from lesionmtl.training import TrainConfig, Trainer, TrainingData

RELEASED_DEEPLESION = {"draw": "matplotlib", "linewidth": 3, "jpeg": True, "threshold": 0.9}
RELEASED_LITS = {"draw": "matplotlib", "linewidth": 0, "jpeg": False, "threshold": 0.5}
LESION = Ellipse(cx=61.3, cy=58.7, major=34.0, minor=18.0, angle=35.0)


def test_released_deeplesion_ellipse_is_the_larger_mask():
    exact = pseudo_ellipse(LESION, (120, 120))
    released = pseudo_ellipse(LESION, (120, 120), RELEASED_DEEPLESION)
    assert released.sum() > 1.2 * exact.sum()  # the issue measured 1.17-1.78x on the fixtures
    assert (exact & ~released).sum() == 0  # the 3 pt outline only grows it
    thin = pseudo_ellipse(LESION, (120, 120), RELEASED_LITS)  # HAM/LiTS: linewidth 0, PNG
    assert (thin ^ exact).sum() < 0.1 * exact.sum()


def test_released_deeplesion_grabcut_input_is_black_and_falls_back_to_the_ellipse():
    rng = np.random.default_rng(0)
    image = rng.integers(20, 90, (120, 120, 3), dtype=np.uint8)
    ellipse = pseudo_ellipse(LESION, (120, 120), RELEASED_DEEPLESION)
    image[draw_ellipse(Ellipse(LESION.cx, LESION.cy, 26.0, 12.0, LESION.angle), (120, 120))] = 230  # a clear lesion
    mask, fell_back = released_grabcut(image, ellipse, input="div255")
    assert fell_back and np.array_equal(mask, ellipse)
    assert not np.uint8(image.astype(float) / 255).any()
    mask, fell_back = released_grabcut(image, ellipse, input="patch")  # the same GrabCut on the real image
    assert not fell_back and mask.sum() < ellipse.sum()


def lesions_at(positions: list[tuple[float, float]], splits: list[str]) -> pd.DataFrame:
    """Lesions of one shape (small jitter) at ``positions``, with RECIST marks."""
    rows = []
    for i, ((cx, cy), split) in enumerate(zip(positions, splits)):
        major, minor = 20.0 + 0.1 * (i % 3), 10.0 + 0.1 * (i % 2)
        rows.append(
            {
                "lesion_id": f"l{i}",
                "split": split,
                "cx": cx,
                "cy": cy,
                "major": major,
                "minor": minor,
                "angle": 0.0,
                "r_x11": cx - major / 2,
                "r_y11": cy,
                "r_x12": cx + major / 2,
                "r_y12": cy,
                "r_x21": cx,
                "r_y21": cy - minor / 2,
                "r_x22": cx,
                "r_y22": cy + minor / 2,
            }
        )
    return pd.DataFrame(rows)


def test_released_cluster_features_include_position_and_all_splits():
    positions = [(20.0, 20.0)] * 6 + [(90.0, 90.0)] * 6
    lesions = lesions_at(positions, ["train", "val", "test"] * 4)
    released, _ = cluster_lesions(lesions, 2, features="released", fit_on="all")
    by_place = released.groupby(lesions["cx"])["cluster"].nunique()
    assert (by_place == 1).all() and released["cluster"].nunique() == 2  # position decides
    ours, _ = cluster_lesions(lesions, 2, features="shape")
    assert ours.groupby(lesions["cx"])["cluster"].nunique().max() == 2  # shape ignores it
    # fit on all splits: a test lesion alone in its place gets a cluster of its own
    odd = lesions_at([(20.0, 20.0)] * 6 + [(200.0, 200.0)], ["train"] * 6 + ["test"])
    on_all, _ = cluster_lesions(odd, 2, features="released", fit_on="all")
    on_train, _ = cluster_lesions(odd, 2, features="released", fit_on="train")
    assert on_all["cluster"].iloc[-1] not in set(on_all["cluster"].iloc[:-1])
    assert on_train["cluster"].iloc[-1] in set(on_train["cluster"].iloc[:-1])


@pytest.fixture
def lits_two_tumours(tmp_path):
    """One LiTS case whose middle slice holds a 21 px round tumour and a 10x10 square one (4-vertex hull)."""
    seg = np.zeros((64, 64, 3), np.int16)
    ys, xs = np.mgrid[0:64, 0:64]
    seg[:, :, 1][(xs - 16) ** 2 + (ys - 16) ** 2 <= 6.25] = 2
    seg[40:50, 40:50, 1] = 2
    hu = np.where(seg == 2, 150.0, 40.0).astype(np.float32)
    for name, data in (("volume-0.nii", hu), ("segmentation-0.nii", seg)):
        nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / name)
    return tmp_path


def test_released_lits_filter_keeps_a_20px_tumour_and_drops_a_4_vertex_hull(lits_two_tumours):
    released = list(read_lits(lits_two_tumours, patch_size=32, min_area=1, min_hull_vertices=5, min_ellipse_iou=0.4))
    kept = [i for i in released if isinstance(i, Sample)]
    dropped = [i for i in released if isinstance(i, Rejection)]
    assert len(kept) == len(dropped) == 1  # of two components: the 21 px one kept, the square dropped
    assert dropped[0].kind == FEW_HULL_VERTICES and "4 vertices" in dropped[0].reason
    ours = list(read_lits(lits_two_tumours, patch_size=32, min_area=50, min_ellipse_iou=0.4))
    assert sorted(type(i).__name__ for i in ours) == ["Rejection", "Sample"]
    small = next(i for i in ours if isinstance(i, Rejection))
    assert small.kind == TOO_SMALL and "21 px" in small.reason


def test_released_perimeter_error_is_the_halved_canny_count():
    gt = np.zeros((40, 40), bool)
    gt[8:30, 6:32] = True
    pred = np.zeros((40, 40), bool)
    pred[12:24, 10:20] = True
    empty = np.zeros_like(pred)
    edges = {
        name: int(canny(np.uint8(m), low_threshold=1, high_threshold=1).sum()) for name, m in [("gt", gt), ("p", pred)]
    }
    released = score_masks(np.stack([pred, empty]), np.stack([gt, gt]), protocol="released")
    assert released["perimeter_error"].iloc[0] == abs(edges["gt"] - edges["p"]) / 2
    assert released["perimeter_error"].iloc[0] != perimeter_error(pred, gt)
    assert released["perimeter_error"].iloc[1] == edges["gt"] / 2  # an empty prediction keeps its own error
    ours = score_masks(np.stack([pred, empty]), np.stack([gt, gt]))
    assert ours["perimeter_error"].iloc[1] == ours["perimeter_error"].iloc[0]  # ours: the worst of the others


def test_released_avd_is_medpys_border_hausdorff():
    gt = np.zeros((9, 9), bool)
    gt[3:6, 3:6] = True
    ring = gt.copy()
    ring[4, 4] = False  # inside the square: 1 px from it, but its border is the square's border
    assert hausdorff(ring, gt) == 1.0 and medpy_hd(ring, gt) == 0.0
    released = score_masks(ring[None], gt[None], protocol="released")
    assert released["avd"].iloc[0] == 0.0 and released["hausdorff"].iloc[0] == 1.0


def test_released_canvas_is_the_reflect_101_canvas_centred_as_albumentations():
    assert Canvas.from_dict({"mode": "reflect", "size": [384, 480]}).layout(120, 120) == (384, 480, 132, 180)
    patch = np.random.default_rng(1).integers(0, 255, (1, 20, 24, 3), dtype=np.uint8)
    batcher = ImageBatcher(patch, torch.device("cpu"), Canvas.from_dict({"mode": "reflect", "size": [64, 80]}))
    got = batcher.batch(np.array([0]))[0].permute(1, 2, 0).numpy()
    normalised = ((patch[0] / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)
    top, left = (64 - 20) // 2, (80 - 24) // 2
    expected = cv2.copyMakeBorder(normalised, top, 64 - 20 - top, left, 80 - 24 - left, cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert torch.equal(
        batcher.crop(batcher.batch(np.array([0]))), batcher.batch(np.array([0]))[..., top:-top, left:-left]
    )


def test_released_canvas_is_what_the_loss_sees(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 255, (4, 24, 24, 3), dtype=np.uint8)
    masks = np.zeros((4, 24, 24), bool)
    masks[:, 3:12, 2:9] = True  # off-centre: its reflections differ from a zero border
    data = TrainingData(images, masks, train_idx=np.array([0, 1, 2]), val_idx=np.array([3]))
    canvas = {"mode": "reflect", "size": [64, 64]}
    trainer = Trainer(
        TrainConfig(arch="a1", encoder="resnet18", canvas=canvas, device="cpu", threads=1), data, tmp_path
    )
    trainer.model.eval()
    with torch.no_grad():
        seg, _, _, patch_logits = trainer._losses(np.array([0, 1]))
        logits = trainer.model(trainer.batcher.batch(np.array([0, 1])))[:, 0]
    top = (64 - 24) // 2
    target = np.stack(
        [cv2.copyMakeBorder(m.astype(np.float32), top, top, top, top, cv2.BORDER_REFLECT_101) for m in masks[:2]]
    )
    expected = F.binary_cross_entropy_with_logits(logits, torch.from_numpy(target))
    assert seg.item() == pytest.approx(expected.item(), rel=1e-5)
    assert tuple(patch_logits.shape) == (2, 24, 24)
    on_patch = F.binary_cross_entropy_with_logits(
        logits[:, top:-top, top:-top], torch.from_numpy(masks[:2].astype(np.float32))
    )
    assert seg.item() != pytest.approx(on_patch.item(), rel=1e-3)


def test_released_ham_image_split_leaks_lesion_ids_across_splits():
    images = [f"ISIC_{i:07d}" for i in range(40)]
    lesion_of = {image: f"HAM_{i // 2:07d}" for i, image in enumerate(images)}  # two images per lesion
    split = released_image_split(images[::-1], (0.7, 0.2, 0.1), seed=1)
    # the released lines, verbatim on the sorted list (HAM_A1class_train.py:98-119)
    random.seed(1)
    ind = np.arange(len(images))
    random.shuffle(ind)
    tr, val = int(len(ind) * 0.7), int(len(ind) * 0.7) + int(len(ind) * 0.2)
    expected = {**{images[i]: "train" for i in ind[:tr]}, **{images[i]: "val" for i in ind[tr:val]}}
    expected.update({images[i]: "test" for i in ind[val:]})
    assert split == expected
    per_lesion = pd.Series(split).groupby(pd.Series(lesion_of)).nunique()
    assert (per_lesion > 1).any()
