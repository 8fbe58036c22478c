"""What the workflow's jobs ask of the machine: the GPUs a local run may share, and wall time that
grows with each attempt.

Torch-free, because the Snakefile imports it before any job runs (importing torch costs seconds
and must not be needed to plan the workflow).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")


def _installed_gpus(proc_dir: Path) -> int:
    """NVIDIA GPUs the driver lists (one folder per card), else those `nvidia-smi -L` lists, else 0."""
    if proc_dir.is_dir():
        return sum(1 for _ in proc_dir.iterdir())
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(line.startswith("GPU ") for line in listing.splitlines())


def visible_gpus(environ: Mapping[str, str] = os.environ, proc_dir: Path = NVIDIA_PROC) -> int:
    """How many NVIDIA GPUs a job started here can use, found without CUDA or torch.

    The installed cards, narrowed by ``CUDA_VISIBLE_DEVICES`` when it is set (as CUDA reads it: the
    list ends at the first empty or negative entry, so ``""`` and ``-1`` hide every GPU).
    """
    installed = _installed_gpus(proc_dir)
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return installed
    count = 0
    for entry in listed.split(","):
        if not entry.strip() or entry.strip().startswith("-"):
            break
        count += 1
    return min(count, installed)


def runtime_per_attempt(minutes: int) -> Callable[..., int]:
    """A ``runtime`` resource that grows with each attempt (``retries``): a job that ran out of time
    gets ``minutes`` more at every try. Training resumes from its last epoch, so a retry loses at
    most one epoch."""

    def runtime(wildcards, attempt: int) -> int:
        return minutes * attempt

    return runtime
