"""Logging set-up for workflow scripts: everything a job says goes to its Snakemake log file."""

from __future__ import annotations

import logging
import sys


def log_to(path: str) -> None:
    """Send stderr (tracebacks, tqdm) and the logging module to ``path``."""
    sys.stderr = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
