"""Synthetic DeepLesion data shared by the ingest and GrabCut benchmarks (written untimed)."""

from __future__ import annotations

from pathlib import Path

from lesionmtl.paths import dataset_file

PATCH_SIZE = 120  # the paper's DeepLesion patch


def synthetic_sizes(quick: bool) -> dict:
    # real DeepLesion slices are 512x512; the quick run uses fewer, smaller ones
    return {"n_cases": 6, "image_size": 256} if quick else {"n_cases": 60, "image_size": 512}


def deeplesion_raw(workdir: Path, quick: bool) -> Path:
    """Write (once per session) a synthetic DeepLesion folder in the official layout."""
    from lesionmtl.datasets.synthetic import write_synthetic

    raw = Path(workdir) / "deeplesion_raw"
    if not (raw / "generator.json").exists():
        write_synthetic("deeplesion", raw, seed=0, **synthetic_sizes(quick))
    return raw


def deeplesion_ingested(workdir: Path, quick: bool) -> Path:
    """Ingested patches of the synthetic DeepLesion folder (lesions.parquet, patches/*.npy)."""
    from lesionmtl.datasets.ingest import ingest

    out = Path(workdir) / "deeplesion_ingested"
    if not dataset_file(out, "lesions").exists():
        ingest("deeplesion", deeplesion_raw(workdir, quick), out, patch_size=PATCH_SIZE, seed=0)
    return out
