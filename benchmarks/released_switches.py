"""What the released protocol's data switches change, on the embedded synthetic datasets (config.yaml's
generators, 120 px patches); not a timing. ``python -m benchmarks.released_switches OUT_DIR`` prints
JSON (about a minute on 2 cores); docs/deviations.md quotes it.

- LiTS filters: components kept and rejected under configs/paper.yaml's (``min_area: 50``, IoU 0.4)
  and the released ones (``min_area: 1``, ``min_hull_vertices: 5``, IoU 0.4).
- HAM10000 split by image (``split_by: image_released``): lesions whose images land in several
  splits, test images whose lesion is also in train.
- DeepLesion ellipse and GrabCut: released (matplotlib, 3 pt, JPEG, red > 0.9; GrabCut on
  ``uint8(patch / 255)``) against ours (exact fill; seeded GrabCut): area ratio, IoU, fallbacks,
  median Dice against the synthetic truth.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from lesionmtl.datasets.ingest import ingest
from lesionmtl.datasets.synthetic import write_synthetic
from lesionmtl.metrics import iou
from lesionmtl.paths import dataset_file
from lesionmtl.pseudolabels import make_pseudolabels

GENERATORS = {  # config.yaml's synthetic datasets
    "deeplesion": dict(n_cases=120, image_size=160, seed=11, split_fractions=[0.6, 0.2, 0.2]),
    "lits": dict(n_cases=18, image_size=128, seed=12),
    "ham": dict(n_cases=170, image_size=[150, 200], seed=13),
}
PATCH = 120
LITS_FILTERS = {
    "paper_yaml": dict(min_area=50, min_ellipse_iou=0.4),
    "released": dict(min_area=1, min_hull_vertices=5, min_ellipse_iou=0.4),
}
RELEASED_ELLIPSE = {"draw": "matplotlib", "linewidth": 3, "jpeg": True, "threshold": 0.9}
RELEASED_GRABCUT = {"method": "released", "box_shrink": 2, "min_pixels": 1, "input": "div255"}


def spread(values: np.ndarray) -> list[float]:
    return [float(np.min(values)), float(np.median(values)), float(np.max(values))]


def measure(root: Path) -> dict:
    for fmt, generator in GENERATORS.items():
        write_synthetic(fmt, root / f"raw_{fmt}", **generator)
    out: dict = {}
    for name, options in LITS_FILTERS.items():
        table = ingest("lits", root / "raw_lits", root / f"lits_{name}", patch_size=PATCH, seed=0, **options)
        rejected = pd.read_parquet(dataset_file(root / f"lits_{name}", "rejected"))
        out[f"lits_{name}"] = {"kept": len(table), "rejected": rejected["kind"].value_counts().to_dict()}
    ham = ingest(
        "ham", root / "raw_ham", root / "ham", patch_size=PATCH, seed=1, split_by="image_released", min_hull_vertices=5
    )
    several = ham.groupby("group_id").filter(lambda g: len(g) > 1)
    test = ham[ham["split"] == "test"]
    out["ham_image_split"] = {
        "images": len(ham),
        "lesions": int(ham["group_id"].nunique()),
        "lesions_with_several_images": int(several["group_id"].nunique()),
        "of_those_in_several_splits": int((several.groupby("group_id")["split"].nunique() > 1).sum()),
        "test_images": len(test),
        "test_images_whose_lesion_is_in_train": int(
            test["group_id"].isin(ham.loc[ham["split"] == "train", "group_id"]).sum()
        ),
    }
    lesions = ingest("deeplesion", root / "raw_deeplesion", root / "deeplesion", patch_size=PATCH, seed=0)
    lesions = lesions.sort_values("patch_index", ignore_index=True)
    images = np.load(dataset_file(root / "deeplesion", "images"))
    truth = np.load(dataset_file(root / "deeplesion", "gt_masks"))
    exact, _, ours = make_pseudolabels(images, lesions, truth)
    drawn, _, released = make_pseudolabels(
        images, lesions, truth, ellipse_drawing=RELEASED_ELLIPSE, grabcut=RELEASED_GRABCUT
    )
    area = drawn.reshape(len(drawn), -1).sum(1) / exact.reshape(len(exact), -1).sum(1)
    out["deeplesion"] = {
        "lesions": len(lesions),
        "released_ellipse_area_over_exact_min_median_max": spread(area),
        "released_ellipse_iou_with_exact_min_median_max": spread(np.array([iou(a, b) for a, b in zip(drawn, exact)])),
        "grabcut_fell_back": {
            "ours": float(ours["grabcut_fell_back"].mean()),
            "released": float(released["grabcut_fell_back"].mean()),
        },
        "median_dice_vs_truth": {
            "exact_ellipse": float(ours["dice_ellipse_gt"].median()),
            "released_ellipse": float(released["dice_ellipse_gt"].median()),
            "ours_grabcut": float(ours["dice_grabcut_gt"].median()),
            "released_grabcut": float(released["dice_grabcut_gt"].median()),
        },
    }
    return out


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1])), indent=1))
