"""Closed-loop requesters: in-order issuers with a bounded number of outstanding requests over a memory path.

The memory path (caches, links, DRAM) is an open-loop model: it maps arrival times to completion times. A
requester with W outstanding slots closes the loop: request i cannot issue before request i-W is back. We
solve for the mean round-trip latency L that is self-consistent: issuing with W slots and latency L (rate
W/L per requester, or slower when the requester itself is the bottleneck) must not make the path's measured
mean latency exceed L. The measured latency falls as L grows (less offered load), so the least consistent L
is found by bisection; below it queues grow without bound, at it the path runs at its sustainable rate.
The analytic twin (closed_loop_bound) starts from the asymptotic bounds of a closed system instead: Little's
law against the path's capacity, and the path's latency at the rate that offers; two or three passes, more
only where the first queues at the path's capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from accelsim.kernels.window import windowed_issue_ns

Serve = Callable[[np.ndarray], np.ndarray]  # arrival_ns -> completion_ns, same order


@dataclass(frozen=True)
class ClosedLoopResult:
    """Issue and completion of every request; `latency_ns` is the round trip the window ran at (self-consistent
    for closed_loop; from Little's law and the loaded latency for closed_loop_bound)."""

    issue_ns: np.ndarray
    done_ns: np.ndarray
    latency_ns: float
    passes: int


def closed_loop(ready_ns: np.ndarray, requester: np.ndarray, n_requesters: int, window: int, serve: Serve,
                unloaded_latency_ns: float, *, rtol: float = 0.02, max_passes: int = 16) -> ClosedLoopResult:
    """Completion times of requests from `n_requesters` in-order issuers with `window` slots each."""
    attempt = _Passes(ready_ns, requester, n_requesters, window, serve)
    ready, req = attempt.ready, attempt.req
    if ready.size == 0:
        return ClosedLoopResult(ready.copy(), ready.copy(), float(unloaded_latency_ns), 0)
    lo = max(float(unloaded_latency_ns), 1e-3)
    best = attempt(lo)
    if best[2] <= lo * (1 + rtol):
        return ClosedLoopResult(best[0], best[1], lo, attempt.count)
    # The unloaded pass over-issues, so the path ran at its sustainable throughput X; with every slot of the
    # active requesters busy, Little's law puts the consistent round trip near W * R / X. Start there.
    active = int(np.unique(req).size)
    throughput = ready.size / max(float(best[1].max() - ready.min()), 1e-9)
    hi = max(window * active / throughput, lo * (1 + rtol))
    trial = attempt(hi)
    while trial[2] > hi and attempt.count < max_passes:
        lo, hi = hi, 2 * hi
        trial = attempt(hi)
    hi, best = _least_consistent(attempt, lo, hi, trial, rtol, max_passes)
    return ClosedLoopResult(best[0], best[1], hi, attempt.count)


class _Passes:
    """One pass of a closed loop at a given round trip: issue by the window law, serve, measure the latency."""

    def __init__(self, ready_ns: np.ndarray, requester: np.ndarray, n_requesters: int, window: int,
                 serve: Serve, count: int = 0):
        self.ready = np.ascontiguousarray(ready_ns, dtype=np.float64)
        self.req = np.ascontiguousarray(requester, dtype=np.int64)
        self.n_requesters, self.window, self.serve, self.count = n_requesters, window, serve, count

    def __call__(self, lat: float) -> tuple[np.ndarray, np.ndarray, float]:
        """(issue, completion, mean round trip) of the requests issued at round trip `lat`."""
        self.count += 1
        issue = windowed_issue_ns(self.ready, lat, self.req, self.n_requesters, self.window)
        done = self.serve(issue)
        return issue, done, float(np.mean(done - issue))


def _least_consistent(attempt: _Passes, lo: float, hi: float, best, rtol: float, max_passes: int):
    """Narrow [lo (inconsistent), hi (consistent, its pass `best`)] to the least consistent round trip within
    rtol by geometric bisection; returns (round trip, its pass)."""
    probe = hi / (1 + rtol)  # usually infeasible at once, closing the bracket in one pass
    while hi > lo * (1 + rtol) and attempt.count < max_passes:
        trial = attempt(probe)
        if trial[2] <= probe:
            hi, best = probe, trial
        else:
            lo = probe
        probe = float(np.sqrt(lo * hi))
    return hi, best


def closed_loop_bound(ready_ns: np.ndarray, requester: np.ndarray, n_requesters: int, window: int, serve: Serve,
                      unloaded_latency_ns: float, *, rtol: float = 0.02, max_passes: int = 8) -> ClosedLoopResult:
    """Analytic twin of closed_loop: the round trip from the asymptotic bounds of a closed system.

    With N requests in flight (each requester's `window`, or its whole stream if shorter) the round trip L
    obeys Little's law against the path's capacity X (requests/ns with every request waiting, which the
    closed-form path gives in one pass: bus, banks, activates, links): L >= N / X, and L >= the latency of
    the path at the rate the loop then offers it (row conflicts of the stream, refresh, on-chip hits), itself
    at least the unloaded latency. Requests issue by the same window law as closed_loop (one per L / W per
    requester, never before ready), at L = max(unloaded, N / X). If the path's latency at that rate exceeds L,
    the loop issues once more at that latency, which offers less load: when the latency stays there (the loop
    is latency-bound) that is the answer; when it falls away (the first pass queued at the path's capacity),
    the least consistent round trip between the two is searched as closed_loop does.
    """
    attempt = _Passes(ready_ns, requester, n_requesters, window, serve, count=1)  # the capacity pass below
    ready, req = attempt.ready, attempt.req
    if ready.size == 0:
        return ClosedLoopResult(ready.copy(), ready.copy(), float(unloaded_latency_ns), 0)
    in_flight = float(np.minimum(np.bincount(req, minlength=n_requesters), window).sum())
    capacity = ready.size / max(float(serve(np.zeros(ready.size)).max()), 1e-9)
    lo = max(float(unloaded_latency_ns), in_flight / capacity, 1e-3)
    best = attempt(lo)
    if best[2] <= lo * (1 + rtol):
        return ClosedLoopResult(best[0], best[1], lo, attempt.count)
    hi = best[2]
    trial = attempt(hi)
    while trial[2] > hi and attempt.count < max_passes:
        lo, hi = hi, 2 * hi
        trial = attempt(hi)
    if trial[2] >= hi / (1 + rtol):
        return ClosedLoopResult(trial[0], trial[1], hi, attempt.count)
    hi, best = _least_consistent(attempt, lo, hi, trial, rtol, max_passes)
    return ClosedLoopResult(best[0], best[1], hi, attempt.count)
