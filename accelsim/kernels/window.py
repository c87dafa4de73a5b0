"""Issue times of requesters that keep at most `window` requests outstanding (line fill buffers, engine slots)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def windowed_issue_ns(ready_ns, latency_ns, requester, n_requesters, window):
    """In-order issue at most `window` per `latency_ns` per requester, never before a request is ready.

    The window is applied as a rate (one issue per latency/window), the fluid form of "request i waits for
    request i-W": it has the same steady state without the start-up bursts a fixed latency would create.
    """
    n = ready_ns.shape[0]
    issue = np.empty(n, dtype=np.float64)
    gap = latency_ns / window
    last = np.full(n_requesters, -np.inf)
    for i in range(n):
        r = requester[i]
        t = ready_ns[i]
        if last[r] + gap > t:
            t = last[r] + gap
        issue[i] = t
        last[r] = t
    return issue


@njit(cache=True)
def repeats_within_window(addr, unit, window):
    """True where a unit's line repeats one of its own previous `window` lines (`unit` in runs, one per unit)."""
    n = addr.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    run_start = 0
    for i in range(n):
        if i > 0 and unit[i] != unit[i - 1]:
            run_start = i
        lo = max(run_start, i - window)
        for j in range(i - 1, lo - 1, -1):
            if addr[j] == addr[i]:
                out[i] = True
                break
    return out
