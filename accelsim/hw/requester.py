"""Closed-loop requesters: in-order issuers with a bounded number of outstanding requests over a memory path.

The memory path (caches, links, DRAM) is an open-loop model: it maps arrival times to completion times. A
requester with W outstanding slots closes the loop: request i cannot issue before request i-W is back. We
solve for the mean round-trip latency L that is self-consistent: issuing with W slots and latency L (rate
W/L per requester, or slower when the requester itself is the bottleneck) must not make the path's measured
mean latency exceed L. The measured latency falls as L grows (less offered load), so the least consistent L
is found by bisection; below it queues grow without bound, at it the path runs at its sustainable rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from accelsim.kernels.window import windowed_issue_ns

Serve = Callable[[np.ndarray], np.ndarray]  # arrival_ns -> completion_ns, same order


@dataclass(frozen=True)
class ClosedLoopResult:
    """Issue and completion of every request; `latency_ns` is the self-consistent mean round trip."""

    issue_ns: np.ndarray
    done_ns: np.ndarray
    latency_ns: float
    passes: int


def closed_loop(ready_ns: np.ndarray, requester: np.ndarray, n_requesters: int, window: int, serve: Serve,
                unloaded_latency_ns: float, *, rtol: float = 0.01, max_passes: int = 16) -> ClosedLoopResult:
    """Completion times of requests from `n_requesters` in-order issuers with `window` slots each."""
    ready = np.ascontiguousarray(ready_ns, dtype=np.float64)
    req = np.ascontiguousarray(requester, dtype=np.int64)
    if ready.size == 0:
        return ClosedLoopResult(ready.copy(), ready.copy(), float(unloaded_latency_ns), 0)
    passes = 0

    def attempt(lat: float):
        nonlocal passes
        passes += 1
        issue = windowed_issue_ns(ready, lat, req, n_requesters, window)
        done = serve(issue)
        return issue, done, float(np.mean(done - issue))

    lo = max(float(unloaded_latency_ns), 1e-3)
    best = attempt(lo)
    if best[2] <= lo * (1 + rtol):
        return ClosedLoopResult(best[0], best[1], lo, passes)
    hi = best[2]
    best = attempt(hi)
    while best[2] > hi and passes < max_passes:
        lo, hi = hi, 2 * hi
        best = attempt(hi)
    while hi > lo * (1 + rtol) and passes < max_passes:
        mid = float(np.sqrt(lo * hi))
        trial = attempt(mid)
        if trial[2] <= mid:
            hi, best = mid, trial
        else:
            lo = mid
    return ClosedLoopResult(best[0], best[1], hi, passes)


def closed_loop_bound(ready_ns: np.ndarray, requester: np.ndarray, n_requesters: int, window: int, serve: Serve,
                      unloaded_latency_ns: float) -> ClosedLoopResult:
    """Analytic twin of closed_loop: one pass, each request at the latest of three lower bounds on its return.

    (a) its own readiness plus the unloaded latency; (b) Little's law for its requester, which cannot have
    more than `window` requests in flight, so its k-th request returns no earlier than ceil((k+1)/W) round
    trips; (c) the path's own throughput limit, seen by offering every request as soon as it is ready.
    """
    ready = np.ascontiguousarray(ready_ns, dtype=np.float64)
    req = np.ascontiguousarray(requester, dtype=np.int64)
    if ready.size == 0:
        return ClosedLoopResult(ready.copy(), ready.copy(), float(unloaded_latency_ns), 0)
    order = np.argsort(req, kind="stable")
    starts = np.searchsorted(req[order], np.arange(n_requesters))
    k = np.empty(ready.size, dtype=np.int64)
    k[order] = np.arange(ready.size) - np.repeat(starts, np.diff(np.r_[starts, ready.size]))
    little = np.ceil((k + 1) / window) * unloaded_latency_ns
    done = np.maximum.reduce([ready + unloaded_latency_ns, little, serve(ready)])
    return ClosedLoopResult(ready, done, float(unloaded_latency_ns), 1)
