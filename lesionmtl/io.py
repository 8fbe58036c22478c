"""Atomic file writing: a killed job never leaves a half-written file that looks complete.

Test hook: with the environment variable ``LESIONMTL_TEST_KILL_AFTER`` set to a glob
(``fnmatch``, matched against the written file's absolute path), the process group (the job and the Snakemake
that started it) is killed with SIGKILL right after the first matching file is in place, as a
power cut would; ``tests/test_faults.py`` uses it to interrupt each kind of job at a chosen point.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

KILL_AFTER = "LESIONMTL_TEST_KILL_AFTER"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    kill_after = os.environ.get(KILL_AFTER)
    if kill_after and fnmatch(target.absolute().as_posix(), kill_after):
        os.killpg(os.getpgrp(), signal.SIGKILL)


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        np.save(tmp, array)


def save_parquet(path: str | os.PathLike, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)


def save_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
