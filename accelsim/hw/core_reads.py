"""How a core's cache misses reach it: which lines take a fill buffer, and the read bandwidth of each interface.

Two mechanisms a pointer chase cannot see but a gather of multi-line rows does (docs/configs.md, the CPU):
- **The L2 streamer.** Once the first line of a row misses, the hardware prefetcher fetches the row's following
  lines into L2 by itself, so they do not wait for one of the core's L1 fill buffers (`stream_prefetch`): a
  1 KiB row costs one demand miss and a burst of prefetches, not sixteen independent misses.
- **Page walkers.** A line whose translation missed the TLB waits for one of the core's page walkers; a core
  finishes at most one walk per `walk_interval_ns` (the rate its walkers sustain, measured by k chains that each
  touch a new 4 KiB page with data that stays in cache). Unloaded, a walk costs its latency (`tlb.walk_ns`);
  a gather of random rows over a table far beyond the TLB's reach is held to the walkers' rate.
- **Interface bandwidth.** A line served by level j crosses every interface between the core and level j (L1-L2,
  L2-L3, L3-memory), and each interface moves at most `core_read_gbps` of its lower level per core (one core's
  sequential-read bandwidth at a working set inside that level). Each interface is a FIFO server of lines in
  issue order: a line is admitted no earlier than the previous line through it plus line_bytes / bandwidth.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def later_lines(owner: np.ndarray) -> np.ndarray:
    """Per line (lines of a read are consecutive): True for every line of a read after its first."""
    out = np.zeros(owner.size, dtype=np.bool_)
    out[1:] = owner[1:] == owner[:-1]
    return out


def streamed_lines(owner: np.ndarray, miss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Over the lines that miss L1 (`miss`, indices into every line): which are demand misses (a read's first
    line) and, per line, the position in `miss` of its read's first line (-1 where that line hit L1)."""
    later = later_lines(owner)
    at = np.full(owner.size, -1, dtype=np.int64)
    at[miss] = np.arange(miss.size)
    lead = at[np.flatnonzero(~later)[np.cumsum(~later) - 1][miss]]
    return ~later[miss], lead


def issue_with_streams(ready_ns: np.ndarray, demand: np.ndarray, lead: np.ndarray,
                       issue_demand: np.ndarray) -> np.ndarray:
    """Issue time of every missing line: the solver's for demand misses; a streamed line's read's first line's
    (its own readiness where that line hit L1)."""
    issue = ready_ns.copy()
    issue[demand] = issue_demand
    return np.where(demand | (lead < 0), issue, issue[np.maximum(lead, 0)])


def interface_line_ns(level_gbps: list[float | None], line_bytes: int) -> np.ndarray:
    """ns per line through interface k (above level k + 1, k = 0 being L1-L2); 0 where unlimited."""
    return np.array([line_bytes / g if g else 0.0 for g in level_gbps], dtype=np.float64)


@njit(cache=True)
def _admit(issue: np.ndarray, core: np.ndarray, served: np.ndarray, walk: np.ndarray, order: np.ndarray,
           line_ns: np.ndarray, walk_interval_ns: float, n_cores: int) -> np.ndarray:
    n_if = line_ns.size
    free = np.zeros((n_cores, n_if + 1))  # the last column: the core's page walkers
    out = np.empty_like(issue)
    for j in order:
        c = core[j]
        t = issue[j]
        if walk[j] and walk_interval_ns > 0.0:
            if free[c, n_if] > t:
                t = free[c, n_if]
            free[c, n_if] = t + walk_interval_ns
        for k in range(min(served[j], n_if)):
            if line_ns[k] > 0.0:
                if free[c, k] > t:
                    t = free[c, k]
                free[c, k] = t + line_ns[k]
        out[j] = t
    return out


def admit_ns(issue_ns: np.ndarray, core: np.ndarray, served: np.ndarray, line_ns: np.ndarray,
             n_cores: int, walk: np.ndarray | None = None, walk_interval_ns: float = 0.0) -> np.ndarray:
    """When each line leaves the page walkers (where its translation missed) and the interfaces it crosses (its
    issue time where nothing limits it)."""
    walks = walk is not None and walk_interval_ns > 0.0 and bool(walk.any())
    if (not line_ns.any() and not walks) or issue_ns.size == 0:
        return issue_ns
    order = np.lexsort((np.arange(issue_ns.size), issue_ns, core))
    w = np.ascontiguousarray(walk, np.bool_) if walks else np.zeros(issue_ns.size, np.bool_)
    return _admit(np.ascontiguousarray(issue_ns, np.float64), np.ascontiguousarray(core, np.int64),
                  np.ascontiguousarray(served, np.int64), w, order, line_ns,
                  float(walk_interval_ns) if walks else 0.0, n_cores)
