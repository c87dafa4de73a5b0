"""Repeat a timing until its spread is small or its time budget ends, and say which of the two happened.

Timings use the calling thread's CPU clock by default, not the wall clock: on a machine shared with other work
a descheduled probe would otherwise count other processes' time slices (3-4x on this project's 2-core guest
under load). A function that runs its own threads returns the time it measured instead (e.g. the slowest of its
threads' CPU times).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Repeated wall times of one measurement; `spread` = (max - min) / median of the last `window` runs."""

    median_ns: float
    spread: float
    runs: int
    converged: bool   # spread fell below the tolerance before the budget ended
    min_ns: float = 0.0  # fastest run of all

    def per(self, n: float) -> float:
        """Median time per unit of work (e.g. per hop, per call), ns."""
        return self.median_ns / n


def repeat(fn: Callable[[], object], *, tol: float = 0.05, window: int = 5, min_runs: int = 3,
           budget_s: float = 1.0, warmup: int = 1, clock: Callable[[], int] = time.thread_time_ns) -> Timing:
    """Time fn() after `warmup` runs until the last `window` runs agree within `tol`, or `budget_s` is spent.

    A float returned by fn() is taken as the run's time in ns; otherwise `clock` measures it."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    t_end = time.perf_counter() + budget_s
    while True:
        t0 = clock()
        got = fn()
        t1 = clock()
        times.append(float(got) if isinstance(got, float) else float(t1 - t0))
        last = np.array(times[-window:])
        med = float(np.median(last))
        spread = float((last.max() - last.min()) / med) if med > 0 else 0.0
        if len(times) >= min_runs and spread <= tol:
            return Timing(med, spread, len(times), True, min(times))
        if time.perf_counter() > t_end and len(times) >= min_runs:
            return Timing(med, spread, len(times), False, min(times))


def load_average() -> str:
    """`uptime`'s load averages (1, 5, 15 min), recorded with every measurement on a shared machine."""
    try:
        return "load average %.2f, %.2f, %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"
