"""Choosing the device a job trains on, and sharing a workstation's GPUs between jobs.

Snakemake never sets ``CUDA_VISIBLE_DEVICES``: ``snakemake --resources gpu=4`` only lets four GPU
jobs run at once, and each would pick GPU 0. So every job claims a free GPU by taking an
exclusive ``flock`` on a lock file named after the GPU's UUID (unique per physical card, also
when SLURM renumbers the visible devices). The kernel drops the lock when the process ends,
killed or not, so no stale lock is ever left behind.

A job that finds every GPU claimed waits for one (logging why) rather than failing: a local run
starts at most as many GPU jobs as there are GPUs (see rules/train.smk), so it only waits while
another run or user holds a card, and a GPU job on a cluster gets its own card anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from pathlib import Path

import torch

log = logging.getLogger(__name__)

DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "lesionmtl-gpu-locks"
_held: dict[tuple[str, str], int] = {}  # (lock dir, name) -> lock file descriptor, open for the process's life


def _open_lock(path: Path) -> int:
    """A lock file anyone may lock: flock needs no write access, and other users share the folder."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    with contextlib.suppress(PermissionError):  # another user's file: already shared
        os.fchmod(fd, 0o666)
    return fd


def claim_free(
    names: list[str],
    lock_dir: Path = DEFAULT_LOCK_DIR,
    wait_seconds: float | None = None,
    log_every: float = 600.0,
) -> int:
    """Index of the first of ``names`` whose lock this process could take, waiting until one frees
    (``wait_seconds``: at most that long, then ``TimeoutError``; ``None``: as long as it takes,
    saying so in the log every ``log_every`` seconds).

    A process that already holds one of the locks gets that device again (flock would otherwise
    make it wait for itself).
    """
    for index, name in enumerate(names):
        if (str(lock_dir), name) in _held:
            return index
    lock_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        lock_dir.chmod(0o1777)  # shared like /tmp, whoever created it
    start = time.monotonic()
    next_log = start
    while True:
        for index, name in enumerate(names):
            fd = _open_lock(lock_dir / f"{name}.lock")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _held[(str(lock_dir), name)] = fd
            return index
        waited = time.monotonic() - start
        if wait_seconds is not None and waited > wait_seconds:
            raise TimeoutError(f"no free device among {names} after {wait_seconds:.0f} s (locks in {lock_dir})")
        if time.monotonic() >= next_log:
            log.warning(
                "all %d GPUs are in use by other jobs (locks in %s); waited %.0f s so far, waiting on",
                len(names),
                lock_dir,
                waited,
            )
            next_log += log_every
        time.sleep(1.0)


def select_device(request: str = "auto", lock_dir: Path = DEFAULT_LOCK_DIR) -> torch.device:
    """``auto``: a free CUDA device when there is one (claimed with a lock), else the CPU.
    ``cuda``: the same, but an error without CUDA. ``cuda:N`` or ``cpu``: exactly that, unlocked."""
    if request in ("auto", "cuda"):
        if not torch.cuda.is_available():
            if request == "cuda":
                raise RuntimeError("device 'cuda' requested but CUDA is not available")
            return torch.device("cpu")
        uuids = [str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]
        index = claim_free(uuids, lock_dir)
        log.info("claimed GPU %d (%s)", index, torch.cuda.get_device_name(index))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    device = torch.device(request)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {request!r} requested but CUDA is not available")
    return device
