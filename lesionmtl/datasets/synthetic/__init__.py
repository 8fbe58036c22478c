"""Synthetic stand-ins written in the official on-disk formats, so they take the real readers' path.

``n_cases`` counts images: DeepLesion key slices (1-3 lesions each), LiTS volumes (1-3 tumours,
each several 2-D components), HAM10000 images.  ``generator.json`` (format, seed, every
parameter) is written last, so its presence marks a complete dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ... import __version__
from ...formats import dataset_format
from ...io import save_json


def write_synthetic(
    fmt: str, out_dir: str | os.PathLike, *, n_cases: int, seed: int, image_size: int | tuple[int, int], **kw
) -> None:
    """Write a synthetic ``fmt`` dataset of ``n_cases`` images of ``image_size`` (int or (h, w)).

    Deterministic given the arguments.  ``kw`` overrides generator parameters (see each
    writer's ``DEFAULTS``; ``irregularity`` scales every departure of the outlines from an ellipse).
    """
    writer = dataset_format(fmt).load_writer()
    write, defaults = writer.write, writer.DEFAULTS
    unknown = sorted(set(kw) - set(defaults))
    if unknown:
        raise TypeError(f"unknown {fmt} generator parameter(s) {unknown}; known: {sorted(defaults)}")
    params = {**defaults, **kw}
    hw = (int(image_size), int(image_size)) if np.isscalar(image_size) else tuple(int(v) for v in image_size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "generator.json").unlink(missing_ok=True)
    write(out, np.random.default_rng(seed), int(n_cases), hw, params)
    save_json(
        out / "generator.json",
        {
            "format": fmt,
            "n_cases": int(n_cases),
            "seed": seed,
            "image_size_hw": list(hw),
            "parameters": params,
            "lesionmtl_version": __version__,
        },
    )
