"""numba kernels for set-associative caches: a multi-level lookup/fill state machine and LRU stack distances.

State of every level lives in flat arrays (one slot per way of every set, levels packed one after another),
so a single kernel serves a lone cache and a hierarchy alike. Replacement policies are selected by an int
code; `POLICY_CODES` maps the config name to it.

The lookup kernel allocates nothing and runs without numba's reference counting (`_nrt=False`): with it, every
call of a helper that takes the state arrays costs an atomic incref and decref per array, most of a lookup's time.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np
from numba import njit

LRU = 0
SRRIP = 1
POLICY_CODES = MappingProxyType({"lru": LRU, "srrip": SRRIP})

# Columns of the per-level counter matrix.
ACCESSES, HITS, MISSES, EVICTIONS, WRITEBACKS, BACK_INVALIDATIONS = range(6)
N_COUNTERS = 6

INVALID = -1


@njit(cache=True, inline="always", _nrt=False)
def _find(tags, base, ways, line):
    for w in range(ways):
        if tags[base + w] == line:
            return w
    return -1


@njit(cache=True, inline="always", _nrt=False)
def _on_hit(policy, meta, slot, stamp):
    if policy == LRU:
        meta[slot] = stamp
    else:
        meta[slot] = 0  # SRRIP-HP: a hit predicts a near-immediate re-reference


@njit(cache=True, inline="always", _nrt=False)
def _on_fill(policy, meta, slot, stamp, max_rrpv):
    if policy == LRU:
        meta[slot] = stamp
    else:
        meta[slot] = max_rrpv - 1  # SRRIP inserts with a "long" re-reference prediction


@njit(cache=True, inline="always", _nrt=False)
def _victim(policy, tags, meta, base, ways, max_rrpv):
    for w in range(ways):
        if tags[base + w] == INVALID:
            return w
    if policy == LRU:
        best = 0
        for w in range(1, ways):
            if meta[base + w] < meta[base + best]:
                best = w
        return best
    # SRRIP ages the whole set until a line reaches the distant value; one step of `gap` equals that loop.
    oldest = 0
    for w in range(ways):
        oldest = max(oldest, meta[base + w])
    gap = max_rrpv - oldest
    for w in range(ways):
        meta[base + w] += gap
    for w in range(ways):
        if meta[base + w] == max_rrpv:
            return w
    return 0


@njit(cache=True, inline="always", _nrt=False)
def _write_back(line, from_level, tags, dirty, base, sets, ways, memory_writebacks):
    """A dirty line leaving `from_level` dirties the nearest lower level holding it, else goes to memory."""
    for lvl in range(from_level + 1, sets.shape[0]):
        b = base[lvl] + (line % sets[lvl]) * ways[lvl]
        w = _find(tags, b, ways[lvl], line)
        if w >= 0:
            dirty[b + w] = 1
            return
    memory_writebacks[0] += 1


@njit(cache=True, inline="always", _nrt=False)
def _fill(lvl, b, line, stamp, tags, meta, dirty, base, sets, ways, policy, max_rrpv, inclusive, counters,
          memory_writebacks):
    """Install `line` in the set starting at slot b of level lvl; returns its slot."""
    slot = b + _victim(policy[lvl], tags, meta, b, ways[lvl], max_rrpv[lvl])
    old = tags[slot]
    if old != INVALID:
        counters[lvl, EVICTIONS] += 1
        was_dirty = dirty[slot] == 1
        if inclusive:
            for up in range(lvl):
                ub = base[up] + (old % sets[up]) * ways[up]
                uw = _find(tags, ub, ways[up], old)
                if uw >= 0:
                    counters[up, BACK_INVALIDATIONS] += 1
                    was_dirty = was_dirty or dirty[ub + uw] == 1
                    tags[ub + uw] = INVALID
                    dirty[ub + uw] = 0
        if was_dirty:
            counters[lvl, WRITEBACKS] += 1
            _write_back(old, lvl, tags, dirty, base, sets, ways, memory_writebacks)
    tags[slot] = line
    dirty[slot] = 0
    _on_fill(policy[lvl], meta, slot, stamp, max_rrpv[lvl])
    return slot


@njit(cache=True, _nrt=False)
def access_lines(lines, is_write, tags, meta, dirty, base, sets, ways, policy, max_rrpv, inclusive, clock,
                 counters, memory_writebacks, served_by, set_base):
    """Look up each line level by level; fill every missed level above the one that served it.

    `set_base` is scratch space of one int64 per level (the kernel allocates nothing, see the module doc).
    """
    n_levels = sets.shape[0]
    for i in range(lines.shape[0]):
        line = lines[i]
        clock[0] += 1
        stamp = clock[0]
        served = n_levels
        top_slot = -1
        for lvl in range(n_levels):
            counters[lvl, ACCESSES] += 1
            b = base[lvl] + (line % sets[lvl]) * ways[lvl]
            set_base[lvl] = b
            w = _find(tags, b, ways[lvl], line)
            if w >= 0:
                counters[lvl, HITS] += 1
                _on_hit(policy[lvl], meta, b + w, stamp)
                served = lvl
                top_slot = b + w
                break
            counters[lvl, MISSES] += 1
        # Deepest first, so that an inclusive level's back-invalidations precede the fills above it.
        for lvl in range(served - 1, -1, -1):
            top_slot = _fill(lvl, set_base[lvl], line, stamp, tags, meta, dirty, base, sets, ways, policy, max_rrpv,
                             inclusive, counters, memory_writebacks)
        if is_write[i]:
            dirty[top_slot] = 1
        served_by[i] = served


@njit(cache=True)
def _fenwick_add(tree, pos, delta):
    i = pos + 1
    while i < tree.shape[0]:
        tree[i] += delta
        i += i & (-i)


@njit(cache=True)
def _fenwick_prefix(tree, pos):
    """Sum of positions 0..pos."""
    total = 0
    i = pos + 1
    while i > 0:
        total += tree[i]
        i -= i & (-i)
    return total


@njit(cache=True)
def stack_distances(ids, n_ids):
    """LRU stack distance of each access (distinct other ids since its last use); -1 for a first use."""
    n = ids.shape[0]
    last = np.full(n_ids, -1, dtype=np.int64)
    tree = np.zeros(n + 1, dtype=np.int64)  # 1 at each position that is the latest use of its id
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        p = last[ids[i]]
        if p >= 0:
            out[i] = _fenwick_prefix(tree, i - 1) - _fenwick_prefix(tree, p)
            _fenwick_add(tree, p, -1)
        else:
            out[i] = -1
        _fenwick_add(tree, i, 1)
        last[ids[i]] = i
    return out


@njit(cache=True)
def lru_hit_probability(distances, sets, ways):
    """P(hit) of an access at each stack distance d when lines map to sets at random.

    It hits when fewer than `ways` of the d lines touched since its last use fall in its set:
    P = P[Binomial(d, 1/sets) <= ways - 1]. With one set this is the fully-associative d < ways.
    """
    out = np.zeros(distances.shape[0])
    if sets == 1:
        for i in range(distances.shape[0]):
            out[i] = 1.0 if 0 <= distances[i] < ways else 0.0
        return out
    p = 1.0 / sets
    log_p = math.log(p)
    log_q = math.log1p(-p)
    for i in range(distances.shape[0]):
        d = distances[i]
        if d < 0:
            continue
        if d < ways:
            out[i] = 1.0
            continue
        total = 0.0
        for k in range(ways):
            total += math.exp(math.lgamma(d + 1) - math.lgamma(k + 1) - math.lgamma(d - k + 1)
                              + k * log_p + (d - k) * log_q)
        out[i] = min(total, 1.0)
    return out
