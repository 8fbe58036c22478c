"""Shared timing helper: wall-clock seconds with ``time.perf_counter``, warm-up calls untimed."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        self.seconds = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def time_calls(fn: Callable[[], Any], *, repeat: int = 1, warmup: int = 0) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeat`` times; the seconds of each timed call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        with Timer() as t:
            fn()
        times.append(t.seconds)
    return times


def median(times: list[float]) -> float:
    return float(statistics.median(times))
