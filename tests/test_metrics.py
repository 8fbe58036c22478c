"""Metrics vs. brute-force implementations of the appendix 7.1 definitions."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from lesionmtl import metrics as M

# ----------------------------------------------------------------------------- brute force


def bf_sets(pred, gt):
    a = {tuple(x) for x in np.argwhere(pred != 0)}
    b = {tuple(x) for x in np.argwhere(gt != 0)}
    return a, b


def bf_iou(pred, gt):
    a, b = bf_sets(pred, gt)
    return 1.0 if not (a | b) else len(a & b) / len(a | b)


def bf_dice(pred, gt):
    a, b = bf_sets(pred, gt)
    return 1.0 if not (a or b) else 2 * len(a & b) / (len(a) + len(b))


def bf_vs(pred, gt):
    a, b = bf_sets(pred, gt)
    tp, fp, fn = len(a & b), len(a - b), len(b - a)
    if tp + fp + fn == 0:
        return 1.0
    if not a or not b:
        return 0.0
    return 1 - abs(fn - fp) / (2 * tp + fp + fn)


def bf_pairwise(pred, gt, spacing=(1.0, 1.0)):
    """Full |A| x |B| Euclidean distance matrix, or None if a mask is empty."""
    a = np.argwhere(pred != 0) * np.asarray(spacing)
    b = np.argwhere(gt != 0) * np.asarray(spacing)
    if len(a) == 0 or len(b) == 0:
        return None, len(a) + len(b)
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)), None


def bf_avd(pred, gt, spacing=(1.0, 1.0)):
    d, n = bf_pairwise(pred, gt, spacing)
    if d is None:
        return 0.0 if n == 0 else math.nan
    return max(d.min(axis=1).mean(), d.min(axis=0).mean())


def bf_hausdorff(pred, gt, spacing=(1.0, 1.0)):
    d, n = bf_pairwise(pred, gt, spacing)
    if d is None:
        return 0.0 if n == 0 else math.nan
    return max(d.min(axis=1).max(), d.min(axis=0).max())


def bf_border(mask):
    """Pixels of the mask with a 4-neighbour that is background or outside the image."""
    h, w = mask.shape
    out = np.zeros_like(mask, dtype=bool)
    for r, c in np.argwhere(mask):
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            rr, cc = r + dr, c + dc
            if not (0 <= rr < h and 0 <= cc < w) or not mask[rr, cc]:
                out[r, c] = True
    return out


def bf_hd95(pred, gt, spacing=(1.0, 1.0)):
    """medpy's hd95: 95th percentile of the border-to-border distances, both directions pooled."""
    d, n = bf_pairwise(bf_border(pred != 0), bf_border(gt != 0), spacing)
    if d is None:
        return 0.0 if n == 0 else math.nan
    return float(np.percentile(np.concatenate([d.min(axis=1), d.min(axis=0)]), 95))


def bf_center(mask):
    top = bottom = left = right = None
    for r in range(mask.shape[0]):
        for c in range(mask.shape[1]):
            if mask[r, c]:
                top = r if top is None else min(top, r)
                bottom = r if bottom is None else max(bottom, r)
                left = c if left is None else min(left, c)
                right = c if right is None else max(right, c)
    return (top + bottom) / 2, (left + right) / 2


def bf_center_error(pred, gt, spacing=(1.0, 1.0)):
    pe, ge = not pred.any(), not gt.any()
    if pe and ge:
        return 0.0
    if pe or ge:
        return math.nan
    (pr, pc), (gr, gc) = bf_center(pred != 0), bf_center(gt != 0)
    return math.sqrt(((pr - gr) * spacing[0]) ** 2 + ((pc - gc) * spacing[1]) ** 2)


def bf_perimeter(mask):
    """Flood-fill the exterior background (4-connected, from a 1-px pad), then count
    mask pixels with a 4-neighbour in that exterior; hole pixels are thus 'inside'."""
    m = np.pad(mask != 0, 1)
    h, w = m.shape
    outside = np.zeros_like(m)
    outside[0, 0] = True
    queue = deque([(0, 0)])
    while queue:
        r, c = queue.popleft()
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w and not m[rr, cc] and not outside[rr, cc]:
                outside[rr, cc] = True
                queue.append((rr, cc))
    count = 0
    for r in range(1, h - 1):
        for c in range(1, w - 1):
            if m[r, c] and any(outside[r + dr, c + dc] for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))):
                count += 1
    return count


def bf_perimeter_error(pred, gt):
    pe, ge = not pred.any(), not gt.any()
    if pe and ge:
        return 0.0
    if pe or ge:
        return math.nan
    return float(abs(bf_perimeter(gt) - bf_perimeter(pred)))


# ----------------------------------------------------------------------------- mask zoo


def random_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    kind = rng.integers(8)
    m = np.zeros(shape, bool)
    if kind == 0:  # empty
        pass
    elif kind == 1:  # single pixel, sometimes on the border
        m[rng.integers(h), rng.integers(w)] = True
    elif kind == 2:  # smooth random blob(s) -> several components often
        noise = ndimage.gaussian_filter(rng.standard_normal(shape), rng.uniform(1, 3))
        m = noise > np.quantile(noise, rng.uniform(0.6, 0.95))
    elif kind == 3:  # filled disc touching / crossing the border
        rr, cc = np.mgrid[:h, :w]
        r0, c0 = rng.choice([0, h - 1]), rng.integers(w)
        m = (rr - r0) ** 2 + (cc - c0) ** 2 <= rng.integers(2, max(h, w) // 2) ** 2
    elif kind == 4:  # ring / square with holes
        r0, c0 = rng.integers(0, h - 6), rng.integers(0, w - 6)
        s = rng.integers(6, min(h - r0, w - c0) + 1)
        m[r0 : r0 + s, c0 : c0 + s] = True
        m[r0 + 2 : r0 + s - 2, c0 + 2 : c0 + s - 2] = False
        if rng.random() < 0.5:  # an island inside the hole
            m[r0 + s // 2, c0 + s // 2] = True
    elif kind == 5:  # several rectangles
        for _ in range(rng.integers(2, 5)):
            r0, c0 = rng.integers(h), rng.integers(w)
            m[r0 : r0 + rng.integers(1, 6), c0 : c0 + rng.integers(1, 6)] = True
    elif kind == 6:  # sparse salt noise
        m = rng.random(shape) < rng.uniform(0.02, 0.3)
    else:  # thin lines (diagonal-only background gaps make 4-connectivity matter)
        m[rng.integers(h), :] = True
        np.fill_diagonal(m, True)
    return m


def mask_pairs(n: int = 300, seed: int = 1234):
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        shape = (int(rng.integers(8, 25)), int(rng.integers(8, 25)))
        gt = random_mask(rng, shape)
        mode = i % 6
        if mode == 0:  # identical
            pred = gt.copy()
        elif mode == 1:  # shifted copy (overlap or disjoint)
            pred = np.roll(gt, (int(rng.integers(-6, 7)), int(rng.integers(-6, 7))), (0, 1))
        elif mode == 2:  # disjoint halves
            pred = random_mask(rng, shape)
            pred[:, : shape[1] // 2] = False
            gt = gt.copy()
            gt[:, shape[1] // 2 :] = False
        else:
            pred = random_mask(rng, shape)
        dtype = [bool, np.uint8, np.float32, np.int64][i % 4]
        pairs.append((pred.astype(dtype), gt.astype(dtype)))
    return pairs


PAIRS = mask_pairs()


def close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize(
    ("fn", "ref"),
    [
        (M.iou, bf_iou),
        (M.dice, bf_dice),
        (M.volumetric_similarity, bf_vs),
        (M.avd, bf_avd),
        (M.hausdorff, bf_hausdorff),
        (M.hd95, bf_hd95),
        (M.center_error, bf_center_error),
        (M.perimeter_error, bf_perimeter_error),
    ],
    ids=lambda f: getattr(f, "__name__", ""),
)
def test_matches_brute_force(fn, ref):
    for k, (pred, gt) in enumerate(PAIRS):
        got, want = fn(pred, gt), ref(pred, gt)
        assert isinstance(got, float)
        assert close(got, want), f"pair {k}: {fn.__name__} {got} != {want}"


def test_zoo_covers_cases():
    kinds = {"both_empty": 0, "one_empty": 0, "identical_nonempty": 0, "disjoint": 0, "holes": 0}
    for pred, gt in PAIRS:
        p, g = pred != 0, gt != 0
        kinds["both_empty"] += not p.any() and not g.any()
        kinds["one_empty"] += p.any() != g.any()
        kinds["identical_nonempty"] += p.any() and np.array_equal(p, g)
        kinds["disjoint"] += p.any() and g.any() and not (p & g).any()
        kinds["holes"] += (ndimage.binary_fill_holes(g) != g).any()
    assert all(v >= 3 for v in kinds.values()), kinds


def test_perimeter_brute_force():
    for _pred, gt in PAIRS:
        assert M.perimeter(gt) == bf_perimeter(gt)


@pytest.mark.parametrize("spacing", [(2.0, 0.5), (0.7, 1.3)])
def test_spacing(spacing):
    for pred, gt in PAIRS[:60]:
        assert close(M.avd(pred, gt, spacing=spacing), bf_avd(pred, gt, spacing))
        assert close(M.hausdorff(pred, gt, spacing=spacing), bf_hausdorff(pred, gt, spacing))
        assert close(M.hd95(pred, gt, spacing=spacing), bf_hd95(pred, gt, spacing))
        assert close(M.center_error(pred, gt, spacing=spacing), bf_center_error(pred, gt, spacing))


def test_hand_computed_values():
    a = np.zeros((7, 7), bool)
    b = np.zeros((7, 7), bool)
    a[2, 1] = True
    b[2, 4] = True
    assert M.avd(a, b) == 3.0
    assert M.hausdorff(a, b) == 3.0
    assert M.center_error(a, b) == 3.0
    assert M.iou(a, b) == M.dice(a, b) == 0.0
    assert M.volumetric_similarity(a, b) == 1.0  # same size, wrong place

    sq = np.zeros((9, 9), bool)
    sq[2:5, 2:5] = True
    assert M.perimeter(sq) == 8
    assert M.perimeter(np.ones((3, 3))) == 8  # border pixels count as boundary
    ring = np.zeros((9, 9), bool)
    ring[1:8, 1:8] = True
    ring[3:6, 3:6] = False
    assert M.perimeter(ring) == 24  # hole edge ignored: same as a filled 7x7 square
    assert M.perimeter_error(sq, ring) == 16.0

    # avd vs hausdorff: one outlier pixel moves hausdorff far more than avd
    gt = np.zeros((1, 11), bool)
    gt[0, :2] = True
    pred = gt.copy()
    pred[0, 10] = True
    assert M.hausdorff(pred, gt) == 9.0
    assert M.hd95(pred, gt) == pytest.approx(9.0 * 0.8)  # borders: all 3 pred px, both gt px; 5 values
    assert M.avd(pred, gt) == 3.0  # (0 + 0 + 9) / 3
    assert M.center_error(pred, gt) == 4.5  # centres 5.0 vs 0.5
    assert M.iou(pred, gt) == pytest.approx(2 / 3)
    assert M.dice(pred, gt) == pytest.approx(0.8)
    assert M.volumetric_similarity(pred, gt) == pytest.approx(1 - 1 / 5)


def test_empty_conventions():
    e = np.zeros((5, 5), bool)
    x = e.copy()
    x[1, 1] = True
    for name, fn in M.METRIC_FUNCTIONS.items():
        assert fn(e, e) == (1.0 if name in M.OVERLAP_METRICS else 0.0)
        if name in M.DISTANCE_METRICS:
            assert math.isnan(fn(e, x)) and math.isnan(fn(x, e))
        else:
            assert fn(e, x) == fn(x, e) == 0.0


@pytest.mark.parametrize("fn", list(M.METRIC_FUNCTIONS.values()))
def test_shape_errors(fn):
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(5, 4\)"):
        fn(np.zeros((4, 5)), np.zeros((5, 4)))
    with pytest.raises(ValueError):
        fn(np.zeros((2, 4, 5)), np.zeros((2, 4, 5)))
    with pytest.raises(ValueError):
        M.score_masks(np.zeros((2, 4, 5)), np.zeros((3, 4, 5)))


def _square(shape, r0, c0, s):
    m = np.zeros(shape, bool)
    m[r0 : r0 + s, c0 : c0 + s] = True
    return m


def test_score_masks_worst_value_substitution():
    shape = (16, 16)
    gts = np.stack([_square(shape, 4, 4, 4)] * 4)
    preds = np.stack(
        [
            _square(shape, 4, 4, 4),  # perfect
            _square(shape, 4, 9, 3),  # off by a few pixels
            np.zeros(shape, bool),  # empty
            np.zeros(shape, bool),  # empty
        ]
    )
    df = M.score_masks(preds, gts)
    assert list(df.columns) == [*M.METRIC_FUNCTIONS, "empty_pred"]
    assert df["empty_pred"].tolist() == [False, False, True, True]
    assert not df.isna().any().any()
    for name in M.OVERLAP_METRICS:
        assert (df.loc[2:, name] == 0).all()
    for name in M.DISTANCE_METRICS:
        worst = max(M.METRIC_FUNCTIONS[name](preds[i], gts[i]) for i in range(2))
        assert worst > 0
        assert (df.loc[2:, name] == worst).all()
    # non-empty rows are untouched
    for i in range(2):
        for name, fn in M.METRIC_FUNCTIONS.items():
            assert df.loc[i, name] == fn(preds[i], gts[i])

    s = M.summarize(df)
    assert s["n"] == 4 and s["n_empty"] == 2
    assert s["iou"] == pytest.approx(df["iou"].mean())
    assert set(M.METRIC_FUNCTIONS) <= set(s)


def test_score_masks_all_empty_fallback():
    shape = (6, 8)
    gts = np.stack([_square(shape, 1, 1, 3), _square(shape, 0, 0, 2)])
    preds = np.zeros_like(gts)
    df = M.score_masks(preds, gts)
    diag = math.hypot(*shape)
    for name in ("avd", "hausdorff", "hd95", "center_error"):
        assert (df[name] == diag).all()
    assert df["perimeter_error"].tolist() == [8.0, 4.0]
    assert (df[list(M.OVERLAP_METRICS)] == 0).all().all()
    assert M.summarize(df)["n_empty"] == 2


def test_score_masks_empty_gt_rows_not_substituted():
    shape = (8, 8)
    gts = np.stack([np.zeros(shape, bool), _square(shape, 2, 2, 3)])
    preds = np.stack([np.zeros(shape, bool), _square(shape, 2, 3, 3)])
    df = M.score_masks(preds, gts)
    assert df.loc[0, "iou"] == 1.0 and df.loc[0, "avd"] == 0.0  # both empty: perfect
    assert bool(df.loc[0, "empty_pred"])


def test_score_masks_matches_pairwise():
    rng = np.random.default_rng(7)
    preds = np.stack([random_mask(rng, (16, 16)) for _ in range(40)])
    gts = np.stack([random_mask(rng, (16, 16)) | _square((16, 16), 5, 5, 2) for _ in range(40)])
    df = M.score_masks(preds, gts)
    assert isinstance(df, pd.DataFrame) and len(df) == len(preds)
    assert 0 < df["empty_pred"].sum() < len(df)
    for i in np.flatnonzero(~df["empty_pred"].to_numpy()):
        for name, fn in M.METRIC_FUNCTIONS.items():
            assert close(df.loc[i, name], fn(preds[i], gts[i]))
    for name in M.DISTANCE_METRICS:
        assert (df.loc[df["empty_pred"], name] == df.loc[~df["empty_pred"], name].max()).all()


def test_score_masks_takes_one_spacing_per_pair():
    """Lesions of different scans: each pair in its own pixel size, the worst-value rule in mm."""
    rng = np.random.default_rng(3)
    preds = np.stack([random_mask(rng, (16, 16)) | _square((16, 16), 6, 6, 3) for _ in range(6)])
    gts = np.stack([random_mask(rng, (16, 16)) | _square((16, 16), 5, 5, 2) for _ in range(6)])
    preds[5] = False
    spacing = rng.uniform(0.5, 2.0, size=(6, 2))
    df = M.score_masks(preds, gts, spacing=spacing)
    for i in range(5):
        for name in M.LENGTH_METRICS:
            assert close(df.loc[i, name], M.METRIC_FUNCTIONS[name](preds[i], gts[i], spacing=tuple(spacing[i])))
    for name in M.LENGTH_METRICS:
        assert df.loc[5, name] == df.loc[:4, name].max()
