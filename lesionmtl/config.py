"""Configuration schema and the experiment matrix: which runs exist, and which study uses them.

A *study* is one block of the paper's evidence (Table 1, the supervision ablation, the K sweep,
...). It names its models and, optionally, its datasets (default: all), supervision, seeds,
alpha_seg values and whether it sweeps K. The runs of all studies are pooled (a run shared by two studies is trained once), so
removing an ablation is deleting its study from the config.
"""

from __future__ import annotations

from pathlib import Path

from lesionmtl.architectures import needs_clusters

SCHEMA_PATH = Path(__file__).resolve().parent / "config.schema.yaml"


def run_id(arch: str, supervision: str, k: int, alpha_seg: float, seed: int) -> str:
    """Directory name of one training run; every parameter that varies is in it."""
    return f"{arch}-{supervision}-k{k}-a{alpha_seg:g}-s{seed}"


def study_runs(config: dict, dataset: str, study: str) -> list[str]:
    """Run ids of one study on one dataset, in a stable order.

    Models without a cluster head are named with ``k0`` so that changing K does not rerun them.
    """
    exp = config["experiment"]
    spec = exp["studies"][study]
    if dataset not in spec.get("datasets", config["datasets"]):
        return []
    ds = config["datasets"][dataset]
    k_values = ds.get("k_sweep", [ds["k"]]) if spec.get("sweep_k") else [ds["k"]]
    runs = []
    for arch in spec["models"]:
        for supervision in spec.get("supervision", ["ellipse"]):
            for k in k_values if needs_clusters(arch) else [0]:
                for alpha in spec.get("alpha_seg", [exp["alpha_seg"]]):
                    for seed in spec.get("seeds", exp["seeds"]):
                        runs.append(run_id(arch, supervision, k, alpha, seed))
    return list(dict.fromkeys(runs))


def experiment_runs(config: dict, dataset: str) -> list[str]:
    """Every run any study needs on ``dataset``, each once."""
    runs = [run for study in config["experiment"]["studies"] for run in study_runs(config, dataset, study)]
    return list(dict.fromkeys(runs))
