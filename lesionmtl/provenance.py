"""Content hashes of the package code each workflow stage runs.

Snakemake does not track code imported by scripts. Passing these hashes as rule params makes an
edit to, say, the clustering code rerun clustering and everything downstream of it, and nothing
else.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

# Package modules (files or subpackages, relative to lesionmtl/) each stage executes.
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "synthesize": ("datasets", "recist.py", "patches.py", "io.py"),
    "ingest": ("datasets", "recist.py", "patches.py", "io.py"),
    "pseudolabels": ("pseudolabels.py", "recist.py", "metrics.py", "io.py"),
    "cluster": ("clustering.py", "io.py"),
    "train": (
        "training.py",
        "checkpoints.py",
        "models.py",
        "architectures.py",
        "tensors.py",
        "devices.py",
        "io.py",
    ),
    "evaluate": (
        "evaluation.py",
        "metrics.py",
        "inference.py",
        "checkpoints.py",
        "devices.py",
        "models.py",
        "architectures.py",
        "clustering.py",
        "tensors.py",
        "io.py",
    ),
    "report": ("report", "io.py"),
}


def _files(entry: str) -> list[Path]:
    path = PACKAGE_DIR / entry
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    if not path.exists():
        raise FileNotFoundError(f"stage code {entry!r} not found under {PACKAGE_DIR}")
    return [path]


def code_hash(stage: str) -> str:
    """Short SHA-256 over the source of the modules ``stage`` uses."""
    digest = hashlib.sha256()
    for entry in STAGE_CODE[stage]:
        for file in _files(entry):
            digest.update(file.relative_to(PACKAGE_DIR).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
