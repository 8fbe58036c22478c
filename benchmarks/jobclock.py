"""Run one workflow job's script by itself and say where its time went: imports, data load, work, write.

``python benchmarks/jobclock.py SCRIPT OUT.json`` (run from the job's working directory). SCRIPT is
a script Snakemake left in ``.snakemake/scripts/`` (``--skip-script-cleanup``): the workflow script
behind its preamble, which unpickles the job's real ``snakemake`` object (inputs, outputs, params).

Each moment of the run is charged to one phase, the innermost one open (so the import of pyarrow
inside ``pd.read_parquet`` counts as imports, not load):

* imports: inside ``import`` statements (``builtins.__import__``);
* load: inside the readers the jobs use (``np.load``, ``pd.read_parquet``, ``pd.read_csv``,
  ``torch.load``, ``cv2.imread``, ``nibabel.load``), patched as their modules arrive;
* write: inside ``lesionmtl.io.atomic_path``, through which every output is written;
* work: the rest.

Deliberately standard library only: whatever this file imported would not be charged to the job.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import runpy
import sys
import time
from collections import defaultdict

# (module, attribute, phase): wrapped as soon as the module is imported
HOOKS = [
    ("numpy", "load", "load"),
    ("pandas", "read_parquet", "load"),
    ("pandas", "read_csv", "load"),
    ("torch", "load", "load"),
    ("cv2", "imread", "load"),
    ("nibabel", "load", "load"),
    ("lesionmtl.io", "atomic_path", "write"),
]


class PhaseClock:
    """Wall-clock seconds per phase; the innermost open phase gets the time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.open = ["work"]
        self.mark = time.perf_counter()

    def _switch(self) -> None:
        now = time.perf_counter()
        self.seconds[self.open[-1]] += now - self.mark
        self.mark = now

    def enter(self, phase: str) -> None:
        self._switch()
        self.open.append(phase)

    def leave(self) -> None:
        self._switch()
        self.open.pop()

    @contextlib.contextmanager
    def phase(self, phase: str):
        self.enter(phase)
        try:
            yield
        finally:
            self.leave()


def _timed(clock: PhaseClock, phase: str, fn):
    if phase == "write":  # a context manager: the time inside its block is the write

        @contextlib.contextmanager
        def wrapped(*args, **kwargs):
            with clock.phase("write"), fn(*args, **kwargs) as value:
                yield value

    else:

        def wrapped(*args, **kwargs):
            with clock.phase(phase):
                return fn(*args, **kwargs)

    return functools.wraps(fn)(wrapped)


def install(clock: PhaseClock) -> None:
    """Charge imports to ``imports`` and wrap each hook once its module is in ``sys.modules``."""
    pending = list(HOOKS)
    original_import = builtins.__import__

    def timed_import(name, globals=None, locals=None, fromlist=(), level=0):
        with clock.phase("imports"):
            module = original_import(name, globals, locals, fromlist, level)
        for hook in list(pending):
            owner = sys.modules.get(hook[0])
            if owner is not None and hasattr(owner, hook[1]):
                setattr(owner, hook[1], _timed(clock, hook[2], getattr(owner, hook[1])))
                pending.remove(hook)
        return module

    builtins.__import__ = timed_import


def main(script: str, out: str) -> None:
    clock = PhaseClock()
    install(clock)
    runpy.run_path(script, run_name="__main__")
    clock._switch()
    with open(out, "w") as f:
        json.dump(clock.seconds, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
