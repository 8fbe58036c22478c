"""Configuration schema and the experiment matrix (which runs exist for which dataset)."""

from __future__ import annotations

from pathlib import Path

from lesionmtl.models import needs_clusters

SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


def run_id(arch: str, supervision: str, k: int, alpha_seg: float, seed: int) -> str:
    """Directory name of one training run; every parameter that varies is in it."""
    return f"{arch}-{supervision}-k{k}-a{alpha_seg:g}-s{seed}"


def experiment_runs(config: dict, dataset: str) -> list[str]:
    """Run ids of the experiment matrix for ``dataset``.

    Models without a cluster head are named with ``k0`` so that changing K does not rerun them.
    """
    exp = config["experiment"]
    k = config["datasets"][dataset]["k"]
    return [
        run_id(arch, supervision, k if needs_clusters(arch) else 0, exp["alpha_seg"], seed)
        for arch in exp["models"]
        for supervision in exp["supervision"]
        for seed in exp["seeds"]
    ]
