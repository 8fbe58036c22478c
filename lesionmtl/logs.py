"""Logging set-up for workflow scripts: everything a job says goes to its Snakemake log file,
and a known error (:mod:`lesionmtl.errors`) or SIGTERM ends the job with one plain line."""

from __future__ import annotations

import atexit
import gc
import logging
import signal
import sys
import traceback
from types import FrameType, TracebackType

from lesionmtl.errors import LesionmtlError, one_line

# The last line of a job that SIGTERM stopped: SLURM sends it at a job's time limit (and on scancel),
# and otherwise the log would end mid-epoch, with no word of why.
STOPPED = (
    "lesionmtl: stopped by SIGTERM (under SLURM: the job's time limit, or scancel); "
    "a rerun resumes a training run from its last complete epoch"
)


def log_to(path: str) -> None:
    """Send stderr (tracebacks, tqdm) and the logging module to ``path``, and end a job that
    fails with a known error with its one-line message as the last line of the log and on the
    console (Snakemake's own stderr); the exit status stays 1.  Other errors keep the usual
    traceback, in the log.  A job stopped by SIGTERM ends with :data:`STOPPED` in both places and
    exit status 143 (128 + SIGTERM).  The process exits without a final garbage collection."""
    console = sys.stderr
    sys.stderr = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )

    def excepthook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        traceback.print_exception(kind, error, tb, file=sys.stderr)
        if isinstance(error, LesionmtlError):
            for stream in (sys.stderr, console):
                print(one_line(error), file=stream, flush=True)

    def stopped(signum: int, frame: FrameType | None) -> None:
        # SLURM signals both the job and its step: say it once, and let the exit finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for stream in (sys.stderr, console):
            print(f"\n{STOPPED}", file=stream, flush=True)
        raise SystemExit(128 + signum)

    sys.excepthook = excepthook
    signal.signal(signal.SIGTERM, stopped)
    skip_collection_at_exit()


def skip_collection_at_exit() -> None:
    """Freeze every live object at exit (``gc.freeze``), so that the interpreter's final garbage
    collection does not walk them: with torch loaded that walk took 1.5-4 s per process
    (benchmarks/README.md, ``jobs``). Outputs are written and closed before (lesionmtl.io), and
    the standard streams and logging still flush."""
    atexit.register(gc.freeze)
