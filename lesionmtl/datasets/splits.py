"""Seeded train/val/test assignment by group (patient, volume, lesion): a group never crosses splits.

:func:`released_image_split` is the released HAM10000 split instead (``split_by: image_released``):
by image, so that images of one lesion can land in train and test.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from .base import SPLITS


def assign_splits(groups: Sequence[str], fractions: Sequence[float], rng: np.random.Generator) -> dict[str, str]:
    """Map each distinct group to 'train' / 'val' / 'test' with about ``fractions`` of the groups.

    Groups are sorted before shuffling, so the result depends only on the set of groups and the
    generator state.  Every split with a positive fraction gets at least one group when there
    are enough groups.
    """
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    unique = sorted(set(groups))
    order = [unique[i] for i in rng.permutation(len(unique))]
    n = len(order)
    counts = [int(round(f * n)) for f in fractions]
    wanted = [i for i, f in enumerate(fractions) if f > 0]
    if n >= len(wanted):
        for i in wanted:
            if counts[i] == 0:
                counts[int(np.argmax(counts))] -= 1
                counts[i] = 1
    counts[0] = n - counts[1] - counts[2]
    labels = np.repeat(SPLITS, counts)
    return dict(zip(order, labels.tolist()))


SPLIT_BY = ("group", "image_released")


def released_image_split(items: Sequence[str], fractions: Sequence[float], seed: int) -> dict[str, str]:
    """The released HAM10000 split (``HAM_A1class_train.py:98-119``): the items sorted,
    ``random.seed(seed); random.shuffle`` of their positions, then the first ``int(f0 * n)`` train,
    the next ``int(f1 * n)`` val, the rest test (released: seed 1, 0.7 / 0.2 / 0.1)."""
    order = sorted(set(items))
    positions = list(range(len(order)))
    random.Random(seed).shuffle(positions)  # the same permutation as random.seed(seed); shuffle(ind)
    n_train = int(len(order) * fractions[0])
    n_val = n_train + int(len(order) * fractions[1])
    labels = ["train"] * n_train + ["val"] * (n_val - n_train) + ["test"] * (len(order) - n_val)
    return {order[p]: label for p, label in zip(positions, labels)}
