"""Repeat a timing until its spread is small or its time budget ends, and say which of the two happened.

Timings use the calling thread's CPU clock by default, not the wall clock: on a machine shared with other work
a descheduled probe would otherwise count other processes' time slices (3-4x on this project's 2-core guest
under load). A function that runs its own threads returns the time it measured instead (e.g. the slowest of its
threads' CPU times).

What a probe reports is the **fastest run**, not the median. Everything else running on the host (another
tenant on the core's SMT sibling, a vCPU it shares) only adds time to a run, so the minimum is the estimate of the
machine's own cost that is least moved by that noise (J. Chen and J. Revels, "Robust benchmarking in noisy
environments", 2016, arXiv:1608.04295; the estimator Julia's BenchmarkTools reports). It matters on this
project's 2-core guest: there an L1-resident EmbeddingBag call took 91 or 157 us, two states that alternated
within seconds while the core clock held at 2.9-3.0 GHz (docs/calibrate.md, runs 8-13). The median of the last
runs falls into whichever state the runs ended in. `accelsim validate` times its cases the same way, so probe
and validation describe the same uncontended machine; the spread reports how far the rest moved.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from accelsim.probe.canary import Canary


@dataclass(frozen=True)
class Timing:
    """Repeated wall times of one measurement; `spread` = (max - min) / median of the last `window` runs."""

    median_ns: float
    spread: float
    runs: int
    converged: bool   # spread fell below the tolerance before the budget ended
    min_ns: float = 0.0  # fastest run of all (with a canary: of the quiet runs, if there were any)
    quiet_runs: int = -1  # runs the canary called uncontended (-1: timed without a canary)

    def per(self, n: float) -> float:
        """Fastest run's time per unit of work (e.g. per hop, per call), ns."""
        return self.min_ns / n


def repeat(fn: Callable[[], object], *, tol: float = 0.05, window: int = 5, min_runs: int = 3,
           budget_s: float = 1.0, warmup: int = 1, clock: Callable[[], int] = time.thread_time_ns,
           canary: Canary | None = None) -> Timing:
    """Time fn() after `warmup` runs until the last `window` runs agree within `tol`, or `budget_s` is spent.

    A float returned by fn() is taken as the run's time in ns; otherwise `clock` measures it. With a `canary`
    (accelsim.probe.canary) each run is bracketed by two canaries and only the runs they call quiet count:
    the loop goes on until `window` quiet runs agree, and the result is theirs (all runs' if none was quiet,
    `quiet_runs` 0)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    calm: list[float] = []      # per run: the slower of its two canaries, ns
    quiet: list[float] = []     # times of the runs quiet against the canary's best so far
    best_seen = math.inf
    t_end = time.perf_counter() + budget_s
    while True:
        c0 = canary() if canary else 0.0
        t0 = clock()
        got = fn()
        t1 = clock()
        times.append(float(got) if isinstance(got, float) else float(t1 - t0))
        if canary:
            calm.append(max(c0, canary()))
            if canary.best_ns < best_seen:  # a faster canary: every earlier run is judged again
                best_seen = canary.best_ns
                quiet = [t for t, c in zip(times, calm) if canary.quiet(c)]
            elif canary.quiet(calm[-1]):
                quiet.append(times[-1])
        use = quiet if canary and quiet else times
        last = np.array(use[-window:])
        med = float(np.median(last))
        spread = float((last.max() - last.min()) / med) if med > 0 else 0.0
        n_quiet = len(quiet) if canary else -1
        if len(use) >= min_runs and spread <= tol and (not canary or quiet):
            return Timing(med, spread, len(times), True, min(use), n_quiet)
        if time.perf_counter() > t_end and len(times) >= min_runs:
            return Timing(med, spread, len(times), False, min(use), n_quiet)


RUN_NS = 2_000_000  # a run of back-to-back calls lasts about 2 ms: a call's cold start (10-35 us, below) ~1% of it
MAX_CALLS = 100     # as many calls as the dispatch probe strings together (software.DISPATCH_CALLS)


def calls_per_run(single_ns: float) -> int:
    """Back-to-back calls in a run of a call that takes `single_ns` alone: RUN_NS of them, 1..MAX_CALLS."""
    return int(min(MAX_CALLS, max(1, math.ceil(RUN_NS / max(single_ns, 1.0)))))


def repeat_calls(fn: Callable[[], object], *, budget_s: float, warmup: int = 1,
                 clock: Callable[[], int] = time.thread_time_ns, canary: Canary | None = None,
                 calls: int | None = None) -> tuple[Timing, int]:
    """(per-call timing, calls a run): `repeat` over runs of `calls` back-to-back calls of `fn` (default:
    `calls_per_run` of the fastest of three calls timed alone), after `warmup` calls.

    A framework call timed alone, after other Python code (the canaries, the loop), pays a cold start that a
    call in a stream of calls does not: on 2026-12-03 (AMD EPYC guest) a one-row EmbeddingBag took 35 us alone
    between canaries, 16 us a call in runs of 10 and 13.5 us in runs of 100; 20 lookups of a 1M x 32 table 48,
    17 and 14 us. The CPU model predicts a call in a stream (DLRM's operators run back to back; the validation
    replays its calls' caches warm), so the probes and `accelsim validate` time calls this way."""
    for _ in range(warmup):
        fn()
    n = calls
    if n is None:
        single = math.inf
        for _ in range(3):
            t0 = clock()
            fn()
            single = min(single, clock() - t0)
        n = calls_per_run(single)
    t = repeat(lambda: [fn() for _ in range(n)], budget_s=budget_s, warmup=0, clock=clock, canary=canary)
    return replace(t, median_ns=t.median_ns / n, min_ns=t.min_ns / n), n


def best(timings: Sequence[Timing]) -> Timing:
    """Several rounds of one measurement, taken minutes or seconds apart, as one: the round that holds the
    fastest run (its median, spread and convergence), with every round's runs counted.

    A burst of repeats sees one state of the host. On the project's 2-core guests the state changes within
    seconds: an L1-resident EmbeddingBag call ran 62 us in one burst and 85-137 us in the bursts between, every
    ~9 s, while a dependent multiply-add chain held 194-212 us throughout (2026-12-03, docs/calibrate.md, run
    18): work that shares a core's issue ports slows with the sibling's load, a latency chain does not. One
    burst therefore catches the uncontended machine or not by chance; rounds spread over the run catch it far
    more often, and the probes and `accelsim validate` both use them, so both describe the same state."""
    if not timings:
        raise ValueError("best() of no timings")
    # with a canary, a round that had quiet runs beats one that had none
    fastest = min(timings, key=lambda t: (t.quiet_runs == 0, t.min_ns))
    quiet = sum(max(t.quiet_runs, 0) for t in timings) if fastest.quiet_runs >= 0 else -1
    return replace(fastest, runs=sum(t.runs for t in timings), quiet_runs=quiet)


def load_average() -> str:
    """`uptime`'s load averages (1, 5, 15 min), recorded with every measurement on a shared machine."""
    try:
        return "load average %.2f, %.2f, %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"
