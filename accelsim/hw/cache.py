"""Caches over real trace addresses: a stateful set-associative cache, a multi-level hierarchy, an analytic twin.

What is modelled: write-back, write-allocate levels with LRU or SRRIP replacement; lookups by 64 B (configurable)
line. A hierarchy is non-inclusive non-exclusive by default: a miss fills every level above the one that served
it, and an eviction leaves the other levels alone. With `inclusive=True`, an eviction also removes the line
from every level above (back-invalidation). A dirty line leaving a level dirties the nearest lower level that
holds it, or is written to memory; write-backs never count as accesses, so hits + misses = accesses at every
level and the misses of level i are the accesses of level i + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from accelsim.config.cache import MAX_MACHINE_CACHE_LINES, CacheConfig
from accelsim.errors import InputError
from accelsim.kernels import cache_sim as k


@dataclass(frozen=True)
class CacheCounters:
    """Action counts of one level since the last reset."""

    name: str
    accesses: int
    hits: int
    misses: int
    evictions: int
    writebacks: int
    back_invalidations: int

    @property
    def hit_rate(self) -> float:
        return self.hits / self.accesses if self.accesses else 0.0


def row_addresses(table_base_bytes: int, row_ids: np.ndarray, row_bytes: int, line_bytes: int) -> np.ndarray:
    """Byte address of every line each row touches (row by row, lines in order), for rows at base + id x bytes."""
    rows = as_index_array(row_ids, "row_ids")
    if row_bytes <= 0 or line_bytes <= 0 or table_base_bytes < 0:
        raise InputError(f"row_addresses: need row_bytes > 0, line_bytes > 0, base >= 0; got "
                         f"{row_bytes}, {line_bytes}, {table_base_bytes}")
    return row_lines(table_base_bytes + rows * row_bytes, row_bytes, line_bytes)[0]


def row_lines(start_bytes: np.ndarray, row_bytes: int, line_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """(byte address of every line, index of the row it belongs to) for rows starting at `start_bytes`."""
    first = start_bytes // line_bytes
    counts = (start_bytes + row_bytes - 1) // line_bytes - first + 1
    owner = np.repeat(np.arange(first.size, dtype=np.int64), counts)
    within = np.arange(owner.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return (first[owner] + within) * line_bytes, owner


def as_index_array(values: np.ndarray, what: str) -> np.ndarray:
    """A 1-D int64 array of non-negative values (addresses, row ids); InputError naming `what` otherwise."""
    arr = np.asarray(values)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"{what}: expected a 1-D integer array, got {arr.dtype} with shape {arr.shape}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise InputError(f"{what}: negative value {int(arr.min())} at position {int(np.argmin(arr))}")
    return arr


def _write_flags(is_write: np.ndarray | None, n: int) -> np.ndarray:
    if is_write is None:
        return np.zeros(n, dtype=np.bool_)
    flags = np.asarray(is_write)
    if flags.shape != (n,) or flags.dtype != np.bool_:
        raise InputError(f"is_write: expected {n} booleans, got {flags.dtype} with shape {flags.shape}")
    return flags


class _LevelArrays:
    """Packed tag / replacement / dirty state of one or more levels, driven by the numba kernel."""

    def __init__(self, levels: Sequence[CacheConfig], inclusive: bool):
        if not levels:
            raise InputError("cache hierarchy: at least one level is required")
        line_bytes = {c.line_bytes for c in levels}
        if len(line_bytes) != 1:
            raise InputError(f"cache hierarchy: all levels must share one line size, got {sorted(line_bytes)}")
        self.levels = tuple(levels)
        self.line_bytes = levels[0].line_bytes
        self.inclusive = inclusive
        self.sets = np.array([c.sets for c in levels], dtype=np.int64)
        self.ways = np.array([c.ways for c in levels], dtype=np.int64)
        if int((self.sets * self.ways).sum()) > MAX_MACHINE_CACHE_LINES:  # MemoryError otherwise (2^62 B caches)
            raise InputError(f"cache hierarchy: {int((self.sets * self.ways).sum())} lines exceed the simulator's "
                             f"limit of {MAX_MACHINE_CACHE_LINES}")
        self.base = np.concatenate([[0], np.cumsum(self.sets * self.ways)[:-1]]).astype(np.int64)
        self.policy = np.array([k.POLICY_CODES[c.policy] for c in levels], dtype=np.int64)
        self.max_rrpv = np.array([(1 << c.rrpv_bits) - 1 for c in levels], dtype=np.int64)
        slots = int((self.sets * self.ways).sum())
        self.tags = np.empty(slots, dtype=np.int64)
        self.meta = np.empty(slots, dtype=np.int64)
        self.dirty = np.empty(slots, dtype=np.uint8)
        self.counters = np.empty((len(levels), k.N_COUNTERS), dtype=np.int64)
        self.clock = np.empty(1, dtype=np.int64)
        self.memory_writebacks = np.empty(1, dtype=np.int64)
        self.set_base = np.empty(len(levels), dtype=np.int64)  # the kernel's scratch space
        self.reset()

    def reset(self) -> None:
        self.tags.fill(k.INVALID)
        self.meta.fill(0)
        self.dirty.fill(0)
        self.counters.fill(0)
        self.clock.fill(0)
        self.memory_writebacks.fill(0)

    def run(self, addr_bytes: np.ndarray, is_write: np.ndarray | None) -> np.ndarray:
        addr = as_index_array(addr_bytes, "addr_bytes")
        flags = _write_flags(is_write, addr.shape[0])
        served = np.empty(addr.shape[0], dtype=np.int8)
        k.access_lines(addr // self.line_bytes, flags, self.tags, self.meta, self.dirty, self.base, self.sets,
                       self.ways, self.policy, self.max_rrpv, self.inclusive, self.clock, self.counters,
                       self.memory_writebacks, served, self.set_base)
        return served

    def level_counters(self) -> tuple[CacheCounters, ...]:
        return tuple(CacheCounters(c.name, *(int(x) for x in row)) for c, row in zip(self.levels, self.counters))


class Cache:
    """One stateful cache level; state persists across access() calls until reset()."""

    def __init__(self, cfg: CacheConfig):
        self.cfg = cfg
        self._state = _LevelArrays([cfg], inclusive=False)

    def access(self, addr_bytes: np.ndarray, is_write: np.ndarray | None = None) -> np.ndarray:
        """Look up byte addresses in order; True where the line was present. Misses allocate."""
        return self._state.run(addr_bytes, is_write) == 0

    @property
    def counters(self) -> CacheCounters:
        return self._state.level_counters()[0]

    def reset(self) -> None:
        """Empty the cache and zero the counters."""
        self._state.reset()


class CacheHierarchy:
    """Levels probed in order (index 0 nearest the core); state persists across access() calls until reset()."""

    def __init__(self, levels: Sequence[CacheConfig], inclusive: bool = False):
        self.levels = tuple(levels)
        self._state = _LevelArrays(self.levels, inclusive)
        self._probe_ns = np.cumsum([c.hit_latency_ns for c in self.levels])

    def access(self, addr_bytes: np.ndarray, is_write: np.ndarray | None = None) -> np.ndarray:
        """Level that served each access: 0..L-1, or L for memory (int8)."""
        return self._state.run(addr_bytes, is_write)

    def latency_ns(self, served_by: np.ndarray, memory_latency_ns: float) -> np.ndarray:
        """Per-access latency with serial probing: every level looked up until the one that served it."""
        table = np.append(self._probe_ns, self._probe_ns[-1] + memory_latency_ns)
        return table[np.asarray(served_by, dtype=np.int64)]

    @property
    def counters(self) -> tuple[CacheCounters, ...]:
        return self._state.level_counters()

    @property
    def memory_accesses(self) -> int:
        """Line reads that reached memory (misses of the last level)."""
        return int(self._state.counters[-1, k.MISSES])

    @property
    def memory_writebacks(self) -> int:
        """Dirty lines written back to memory."""
        return int(self._state.memory_writebacks[0])

    def reset(self) -> None:
        """Empty every level and zero the counters."""
        self._state.reset()


@dataclass(frozen=True)
class ReuseProfile:
    """LRU stack-distance histogram in lines: `distance_counts[d]` accesses at distance d, `cold` first uses."""

    distance_counts: np.ndarray
    cold: int

    @property
    def accesses(self) -> int:
        return int(self.distance_counts.sum()) + self.cold


def reuse_profile(addr_bytes: np.ndarray, line_bytes: int) -> ReuseProfile:
    """Stack-distance histogram of a byte-address trace at line granularity."""
    dist = _line_distances(as_index_array(addr_bytes, "addr_bytes") // line_bytes)
    warm = dist[dist >= 0]
    return ReuseProfile(np.bincount(warm).astype(np.int64), int(dist.size - warm.size))


def _line_distances(lines: np.ndarray) -> np.ndarray:
    uniq, ids = np.unique(lines, return_inverse=True)
    return k.stack_distances(ids.astype(np.int64), uniq.size)


def analytic_hit_rate(trace: ReuseProfile | np.ndarray, cfg: CacheConfig) -> float:
    """Expected LRU hit rate from stack distances (sets chosen at random; exact for one set and LRU)."""
    profile = trace if isinstance(trace, ReuseProfile) else reuse_profile(trace, cfg.line_bytes)
    if profile.accesses == 0:
        return 0.0
    p_hit = k.lru_hit_probability(np.arange(profile.distance_counts.size, dtype=np.int64), cfg.sets, cfg.ways)
    return float(p_hit @ profile.distance_counts) / profile.accesses


class AnalyticCache:
    """Stack-distance twin of Cache: access() returns each access's hit probability; state persists.

    Models LRU whatever `cfg.policy` says, with lines assigned to sets at random: exact for one set; a footprint
    only a few times the capacity, spread evenly over few-way sets, comes out several points low (a 2x footprint
    on a direct-mapped cache: about -0.06). Across calls it keeps the most recent distinct lines up to the
    distance at which the hit probability falls below `_NEGLIGIBLE_HIT_PROBABILITY`, so a warm cache stays warm.
    """

    _NEGLIGIBLE_HIT_PROBABILITY = 1e-9

    def __init__(self, cfg: CacheConfig):
        self.cfg = cfg
        self._history_lines = self._reach_lines(cfg)
        self.reset()

    @classmethod
    def _reach_lines(cls, cfg: CacheConfig) -> int:
        d = cfg.lines
        while k.lru_hit_probability(np.array([d], dtype=np.int64), cfg.sets, cfg.ways)[0] \
                > cls._NEGLIGIBLE_HIT_PROBABILITY:
            d *= 2
        return d

    def access(self, addr_bytes: np.ndarray) -> np.ndarray:
        """Hit probability (float64) of each access in order; their sum is the expected hit count."""
        lines = as_index_array(addr_bytes, "addr_bytes") // self.cfg.line_bytes
        seq = np.concatenate([self._recent, lines])
        dist = _line_distances(seq)[self._recent.size:]
        p_hit = k.lru_hit_probability(dist, self.cfg.sets, self.cfg.ways)
        self._recent = _most_recent_distinct(seq, self._history_lines)
        self.accesses += lines.size
        self.expected_hits += float(p_hit.sum())
        return p_hit

    @property
    def hit_rate(self) -> float:
        return self.expected_hits / self.accesses if self.accesses else 0.0

    def reset(self) -> None:
        """Forget history and zero the counts."""
        self._recent = np.empty(0, dtype=np.int64)
        self.accesses = 0
        self.expected_hits = 0.0


def _most_recent_distinct(lines: np.ndarray, limit: int) -> np.ndarray:
    """Up to `limit` distinct lines, least recently used first (an LRU stack, bottom to top)."""
    rev_uniq, rev_first = np.unique(lines[::-1], return_index=True)
    last_pos = lines.size - 1 - rev_first
    order = np.argsort(last_pos)[-limit:]
    return rev_uniq[order]
