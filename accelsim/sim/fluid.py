"""Analytic sharing of bandwidth: overlapping phases as fluid flows, max-min fair, each capped by its own rate.

A phase with traffic is a flow: `bytes[r]` through each shared part r (host DRAM, each link direction), and
an isolated duration, so alone it moves at its own rate (whatever bounded it alone: issue, latency, credits).
While several flows are active, their rates are the max-min fair allocation (progressive filling, as
flow-level network simulators share links): every unfrozen flow's rate on its largest demand rises together
until it reaches its own cap or a part it uses is full. Rates are recomputed whenever a flow starts or ends.
A flow alone never slows down, so a phase that overlaps nothing keeps its isolated duration.
"""

from __future__ import annotations

import numpy as np

from accelsim.sim.pipeline import Schedule

EPS = 1e-12


def max_min_rates(caps: np.ndarray, demand: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Byte rates (per flow, on its largest demand) of the max-min fair allocation.

    caps: [flow] bytes/ns alone; demand: [flow, part] bytes moved on each part per byte of the flow's largest
    demand (1 on that part, <= 1 elsewhere); capacity: [part] bytes/ns.
    """
    n = caps.size
    rate = np.zeros(n)
    level = 0.0
    residual = capacity.astype(np.float64).copy()
    free = np.ones(n, dtype=bool)
    while free.any():
        load = demand[free].sum(axis=0)
        step = float((caps[free] - level).min())
        used = load > EPS
        if used.any():
            step = min(step, float((residual[used] / load[used]).min()))
        step = max(step, 0.0)
        level += step
        residual -= step * load
        full = residual <= EPS * np.maximum(capacity, 1.0)
        done = free & ((caps <= level * (1 + 1e-12) + EPS) | (demand[:, full] > EPS).any(axis=1))
        rate[done] = level
        free &= ~done
    return rate


def fluid_durations(sched: Schedule, alone_ns: np.ndarray, capacity_gbps: dict[str, float]) -> np.ndarray:
    """Durations of every phase when the flows of the schedule's overlapping phases share the parts."""
    parts = list(capacity_gbps)
    out = alone_ns.astype(np.float64).copy()
    flows = [i for i, ph in enumerate(sched.phases) if ph.traffic and alone_ns[i] > 0
             and any(b > 0 for _, b in ph.traffic)]
    if len(flows) < 2:
        return out
    flows.sort(key=lambda i: (sched.start_ns[i], i))
    n = len(flows)
    size = np.zeros(n)
    demand = np.zeros((n, len(parts)))
    for k, i in enumerate(flows):
        for part, b in sched.phases[i].traffic:
            demand[k, parts.index(part)] += b
        size[k] = demand[k].max()
        demand[k] /= max(size[k], EPS)
    caps = size / alone_ns[flows]
    # Capacity is never below one flow's own rate: a flow alone runs at the rate its isolated timing found.
    capacity = np.array([capacity_gbps[p] for p in parts])
    capacity = np.maximum(capacity, (caps[:, None] * demand).max(axis=0))
    start = sched.start_ns[flows]
    remaining = size.copy()
    active: list[int] = []
    nxt = 0
    t = float(start[0])
    while nxt < n or active:
        if not active:
            t = max(t, float(start[nxt]))
        while nxt < n and start[nxt] <= t:
            active.append(nxt)
            nxt += 1
        idx = np.array(active)
        rate = caps[idx] if idx.size == 1 else max_min_rates(caps[idx], demand[idx], capacity)
        finish = remaining[idx] / np.maximum(rate, EPS)
        dt = float(finish.min())
        if nxt < n:
            dt = min(dt, float(start[nxt]) - t)
        remaining[idx] -= rate * dt
        t += dt
        done = remaining[idx] <= size[idx] * 1e-9
        for k in idx[done]:
            out[flows[k]] = t - start[k]
        active = [k for k, d in zip(active, done) if not d]
    return out
