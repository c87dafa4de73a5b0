"""Clock probe: the frequency a busy core really runs at, from a chain of dependent multiply-adds.

sysfs and /proc/cpuinfo give a guest only the nominal (TSC) clock: on the project's KVM guest they say 2.1 GHz
while a busy core runs near 2.8-3 GHz (turbo), and every cycle-denominated model quantity (GEMM peak, cycles
per lookup) then inherits the error. Here one step of the chain is `x = x * c + (x >> 17)`: a 64-bit IMUL
(latency 3 cycles) then an ADD (1 cycle) that needs its result, so a step costs 4 cycles whatever the core's
width (Agner Fog's instruction tables and uops.info list IMUL r64,r64 at 3 cycles and ADD r,r at 1 on Intel
since Nehalem and AMD since Zen). The shift runs in parallel with the multiply and the loop counter off the
chain. Steps / time of the fastest run x 4 is the clock.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import numpy as np
from numba import njit

CYCLES_PER_STEP = 4        # IMUL r64 (3) + dependent ADD (1)
STEPS = 20_000_000         # ~30 ms a run at 3 GHz


@njit(cache=True, nogil=True)
def mul_add_chain(steps: int, x: np.uint64) -> np.uint64:
    """`steps` dependent steps x = x * c + (x >> 17); returns x so the chain cannot be dropped."""
    c = np.uint64(0x9E3779B97F4A7C15)
    s = np.uint64(17)
    for _ in range(steps):
        x = x * c + (x >> s)
    return x


@dataclass(frozen=True)
class Clock:
    """Measured clock: GHz from the fastest run, and the spread of all runs' GHz."""

    ghz: float
    spread: float
    runs: int


def measure_clock(budget_s: float = 2.0, steps: int = STEPS) -> Clock | None:
    """The core clock from the dependent chain (fastest of as many runs as fit in the budget, at least 5); None
    off x86-64, where the chain's cycle count is not the one above."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    mul_add_chain(1000, np.uint64(3))
    ghz = []
    t_end = time.perf_counter() + budget_s
    while len(ghz) < 5 or time.perf_counter() < t_end:
        t0 = time.thread_time_ns()
        mul_add_chain(steps, np.uint64(len(ghz) + 3))
        ghz.append(CYCLES_PER_STEP * steps / max(time.thread_time_ns() - t0, 1))
    g = np.array(ghz)
    return Clock(float(g.max()), float((g.max() - g.min()) / g.max()), len(ghz))
