"""LRU stack distances (Hassan et al., AINAM'07, as used by facebookresearch/dlrm): profile, file, generation.

Convention (dlrm `trace_profile`): distance 0 marks a first touch; otherwise the distance is 1 + the number of
distinct rows accessed since the previous access to the same row (an immediate repeat has distance 1).
Both directions keep the LRU stack in a Fenwick tree over "time slots" (one live slot per distinct row, at
its last access), so a distance or a depth look-up costs O(log n) instead of dlrm's O(stack depth) list scan.
Slots are renumbered when they run out, which keeps memory at O(distinct rows + one chunk of accesses).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import numpy as np
from numba import njit

from accelsim.atomic import write_text_atomic
from accelsim.errors import InputError

_MIN_SLOTS = 1024  # floor on the Fenwick tree size so tiny streams do not compact on every call


@njit(cache=True)
def _fw_add(tree, slot, v):
    i = slot + 1
    n = len(tree) - 1
    while i <= n:
        tree[i] += v
        i += i & -i


@njit(cache=True)
def _fw_prefix(tree, end):
    """Sum over slots [0, end)."""
    s = 0
    i = end
    while i > 0:
        s += tree[i]
        i -= i & -i
    return s


@njit(cache=True)
def _fw_build(tree, marked):
    """Linear-time build: tree over slots with 1 where marked."""
    n = len(tree) - 1
    tree[:] = 0
    for i in range(1, n + 1):
        if marked[i - 1]:
            tree[i] += 1
        j = i + (i & -i)
        if j <= n:
            tree[j] += tree[i]


@njit(cache=True)
def _fw_find(tree, k):
    """Slot of the k-th marked slot (k >= 1), counting from slot 0."""
    n = len(tree) - 1
    step = 1
    while step * 2 <= n:
        step *= 2
    pos = 0
    while step > 0:
        if pos + step <= n and tree[pos + step] < k:
            pos += step
            k -= tree[pos]
        step //= 2
    return pos


@njit(cache=True)
def _hash_slot(hkeys, k):
    """Open-addressing (linear probing) slot holding key k, or the empty slot where it belongs."""
    mask = len(hkeys) - 1
    x = np.uint64(k)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)  # murmur3 fmix64 step: spreads clustered row ids
    x ^= x >> np.uint64(33)
    i = np.int64(x & np.uint64(mask))
    while hkeys[i] != k and hkeys[i] != -1:
        i = (i + 1) & mask
    return i


@njit(cache=True)
def _rehash(hkeys, hvals, key_of, n_unique):
    hkeys[:] = -1
    for d in range(n_unique):
        i = _hash_slot(hkeys, key_of[d])
        hkeys[i] = key_of[d]
        hvals[i] = d


@njit(cache=True)
def _profile_kernel(keys, hkeys, hvals, key_of, counts, slot_of, tree, next_slot, n_unique, out):
    for j in range(len(keys)):
        k = keys[j]
        h = _hash_slot(hkeys, k)
        if hkeys[h] == -1:
            d = n_unique
            hkeys[h] = k
            hvals[h] = d
            key_of[d] = k
            n_unique += 1
            out[j] = 0
        else:
            d = hvals[h]
            s = slot_of[d]
            # rows touched since = live rows whose last access is after slot s
            out[j] = n_unique - _fw_prefix(tree, s + 1) + 1
            _fw_add(tree, s, -1)
        counts[d] += 1
        slot_of[d] = next_slot
        _fw_add(tree, next_slot, 1)
        next_slot += 1
    return next_slot, n_unique


class StackDistanceProfiler:
    """Streaming LRU stack distances of a stream of row ids; also counts accesses per distinct row."""

    def __init__(self) -> None:
        self._hkeys = np.full(2, -1, np.int64)  # hash table row id -> dense id (first-touch order)
        self._hvals = np.zeros(2, np.int64)
        self._key_of = np.empty(0, np.int64)
        self._counts = np.empty(0, np.int64)
        self._slot_of = np.empty(0, np.int64)
        self._tree = np.zeros(1, np.int64)
        self._next = 0
        self._n = 0

    def _reserve(self, m: int) -> None:
        need = self._n + m
        if len(self._key_of) < need:
            size = max(need, 2 * len(self._key_of), _MIN_SLOTS)
            grown = [np.zeros(size, np.int64) for _ in range(3)]
            for new, old in zip(grown, (self._key_of, self._counts, self._slot_of)):
                new[:len(old)] = old
            self._key_of, self._counts, self._slot_of = grown
        if 2 * need > len(self._hkeys):  # keep the load factor <= 1/2
            size = 1 << (4 * need - 1).bit_length()
            self._hkeys, self._hvals = np.full(size, -1, np.int64), np.zeros(size, np.int64)
            _rehash(self._hkeys, self._hvals, self._key_of, self._n)
        if self._next + m > len(self._tree) - 1:
            n = self._n
            cap = max(2 * n + m, _MIN_SLOTS)
            order = np.argsort(self._slot_of[:n], kind="stable")
            self._slot_of[order] = np.arange(n)
            marked = np.zeros(cap, np.bool_)
            marked[:n] = True
            self._tree = np.zeros(cap + 1, np.int64)
            _fw_build(self._tree, marked)
            self._next = n

    def feed(self, keys: np.ndarray) -> np.ndarray:
        """Stack distances (int64) of `keys` (row ids >= 0), continuing the stream fed so far."""
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        if len(keys) and keys.min() < 0:
            raise InputError(f"stack-distance profile: negative row id {int(keys.min())}")
        self._reserve(len(keys))
        out = np.empty(len(keys), np.int64)
        self._next, self._n = _profile_kernel(keys, self._hkeys, self._hvals, self._key_of, self._counts,
                                              self._slot_of, self._tree, self._next, self._n, out)
        return out

    @property
    def unique_keys(self) -> np.ndarray:
        """Distinct rows in first-touch order."""
        return self._key_of[:self._n].copy()

    @property
    def access_counts(self) -> np.ndarray:
        """Accesses per distinct row, aligned with `unique_keys`."""
        return self._counts[:self._n].copy()


def _streams(source, table: int) -> Iterable[np.ndarray]:
    from accelsim.workload.trace import TraceReader

    if isinstance(source, TraceReader):
        if not 0 <= table < source.meta.num_tables:
            raise InputError(f"{source.path}: table {table} out of range (trace has {source.meta.num_tables})")
        return (b.tables[table].indices for b in source)
    if isinstance(source, np.ndarray):
        return (source,)
    return source


def profile_trace(source, *, table: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique rows in first-touch order, sorted distinct stack distances, their CDF) of one index stream.

    `source` is a TraceReader (profiles `table`), one index array, or an iterable of index arrays.
    """
    prof = StackDistanceProfiler()
    hist = np.zeros(1, np.int64)
    for chunk in _streams(source, table):
        bc = np.bincount(prof.feed(chunk))
        if len(bc) > len(hist):
            hist = np.concatenate([hist, np.zeros(len(bc) - len(hist), np.int64)])
        hist[:len(bc)] += bc
    total = int(hist.sum())
    if total == 0:
        raise InputError("stack-distance profile: the index stream is empty")
    distances = np.flatnonzero(hist)
    return prof.unique_keys, distances, np.cumsum(hist[distances]) / total


def write_distribution(path: str | Path, unique: np.ndarray, distances: np.ndarray, cdf: np.ndarray, *,
                       kind: str | None = None) -> None:
    """Write the dlrm distribution file: three lines of ", "-separated values (unique, distances, CDF)."""
    lines = [", ".join(str(int(x)) for x in unique), ", ".join(str(int(x)) for x in distances),
             ", ".join(repr(float(x)) for x in cdf)]
    write_text_atomic(path, "\n".join(lines) + "\n", kind=kind)


def _parse_line(text: str, dtype: type, path: Path, lineno: int, what: str) -> np.ndarray:
    tokens = [t.strip() for t in text.split(",")]
    try:
        return np.array(tokens).astype(dtype)
    except (ValueError, OverflowError):
        for p, tok in enumerate(tokens):
            try:
                np.array([tok]).astype(dtype)
            except (ValueError, OverflowError):
                raise InputError(f"{path}: line {lineno} ({what}), position {p}: {tok!r} is not "
                                 f"{'an integer' if dtype is np.int64 else 'a number'}") from None
        raise


def read_distribution(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read and check a dlrm stack-distance distribution file."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read ({err})") from None
    lines = [ln for ln in re.split(r"\r?\n", text.strip())]
    if len(lines) != 3 or not all(ln.strip() for ln in lines):
        raise InputError(f"{path}: expected 3 non-empty lines (unique accesses, stack distances, CDF), "
                         f"got {len(lines) if text.strip() else 0}")
    unique = _parse_line(lines[0], np.int64, path, 1, "unique accesses")
    distances = _parse_line(lines[1], np.int64, path, 2, "stack distances")
    cdf = _parse_line(lines[2], np.float64, path, 3, "CDF")
    if (unique < 0).any():
        raise InputError(f"{path}: line 1, position {int(np.flatnonzero(unique < 0)[0])}: negative row id")
    if len(np.unique(unique)) != len(unique):
        raise InputError(f"{path}: line 1: unique accesses repeat a row id")
    if distances[0] != 0 or (np.diff(distances) <= 0).any():
        raise InputError(f"{path}: line 2: stack distances must start at 0 and increase strictly")
    if distances[-1] > len(unique):
        raise InputError(f"{path}: line 2: stack distance {int(distances[-1])} exceeds the {len(unique)} "
                         f"unique accesses")
    if len(cdf) != len(distances):
        raise InputError(f"{path}: line 3: {len(cdf)} CDF values for {len(distances)} stack distances")
    if not np.isfinite(cdf).all() or (cdf <= 0).any() or (np.diff(cdf) < 0).any() or abs(cdf[-1] - 1) > 1e-6:
        raise InputError(f"{path}: line 3: CDF must be positive, non-decreasing and end at 1")
    return unique, distances, cdf


@njit(cache=True)
def _generate_kernel(u, distances, cdf, slot_key, tree, next_slot, new_refs, n_unique, out):
    max_sd = distances[-1]
    last = len(cdf) - 1
    for j in range(len(u)):
        uj = u[j]
        if new_refs < max_sd:
            # as dlrm: only distances up to the number of rows touched so far may be drawn
            uj *= cdf[np.searchsorted(distances, new_refs, side="right") - 1]
        sd = distances[min(np.searchsorted(cdf, uj, side="left"), last)]
        if sd == 0:
            rank = 1  # bottom of the stack: the next untouched row, later the least recently used
            new_refs += 1
        else:
            rank = n_unique - sd + 1
        s = _fw_find(tree, rank)
        key = slot_key[s]
        slot_key[s] = -1
        _fw_add(tree, s, -1)
        slot_key[next_slot] = key
        _fw_add(tree, next_slot, 1)
        next_slot += 1
        out[j] = key
    return next_slot, new_refs


class StackDistanceGenerator:
    """Draws rows from a distribution, continuing one LRU stack across calls (dlrm `trace_generate_lru`)."""

    def __init__(self, unique: np.ndarray, distances: np.ndarray, cdf: np.ndarray, rng: np.random.Generator):
        self._distances = np.ascontiguousarray(distances, np.int64)
        self._cdf = np.ascontiguousarray(cdf, np.float64)
        self._rng = rng
        self._n = len(unique)
        cap = max(2 * self._n, _MIN_SLOTS)
        self._slot_key = np.full(cap, -1, np.int64)
        self._slot_key[:self._n] = unique  # first-touch order, first row at the bottom
        self._tree = np.zeros(cap + 1, np.int64)
        _fw_build(self._tree, self._slot_key >= 0)
        self._next = self._n
        self._new_refs = 0

    def _compact(self) -> None:
        live = self._slot_key[:self._next]
        live = live[live >= 0]
        self._slot_key[:] = -1
        self._slot_key[:self._n] = live
        _fw_build(self._tree, self._slot_key >= 0)
        self._next = self._n

    def draw(self, n: int) -> np.ndarray:
        """The next `n` rows of the stream."""
        u = self._rng.random(n)
        out = np.empty(n, np.int64)
        done = 0
        while done < n:
            if self._next == len(self._slot_key):
                self._compact()
            end = min(n, done + len(self._slot_key) - self._next)
            self._next, self._new_refs = _generate_kernel(u[done:end], self._distances, self._cdf, self._slot_key,
                                                          self._tree, self._next, self._new_refs, self._n,
                                                          out[done:end])
            done = end
        return out
