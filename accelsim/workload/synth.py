"""Synthetic traces: uniform (dlrm random data), Zipf (FBGEMM TBE requests) and LRU stack distance (dlrm).

Every generator draws per table from its own random stream (seeded by (seed, table)), writes batch by batch
through TraceWriter, and keeps only one batch in memory. Bag sizes come from the ModelSpec; duplicate rows
inside a bag are removed, keeping the first occurrence in draw order, so bags can be shorter than asked.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator, Literal, Sequence

import numpy as np

from accelsim.config.workload import ModelSpec, Table
from accelsim.errors import InputError
from accelsim.workload.stackdist import StackDistanceGenerator, read_distribution
from accelsim.workload.trace import DEFAULT_CHUNK_LOOKUPS, Batch, TableBags, TraceWriter

Dist = Literal["uniform", "zipf", "stackdist"]
DISTS = ("uniform", "zipf", "stackdist")
ZIPF_OVERSAMPLE = 3  # FBGEMM generate_requests: zipf_oversample_ratio=3 draws per wanted distinct row
_FEISTEL_ROUNDS = 4


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a cheap, well-mixed 64-bit hash (array arithmetic wraps mod 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class HashPermutation:
    """A keyed bijection of [0, n): a Feistel network on 2h >= log2(n) bits, cycle-walked back into range.

    Stands in for FBGEMM's random permutation of row ids without an O(n) table (40M rows would need 320 MB).
    """

    def __init__(self, n: int, key: int | Sequence[int]):
        self.n = int(n)
        bits = max(2, (self.n - 1).bit_length())
        self._half = np.uint64((bits + 1) // 2)
        self._mask = np.uint64((1 << int(self._half)) - 1)
        self._keys = np.random.SeedSequence(key).generate_state(_FEISTEL_ROUNDS, np.uint64)

    def _feistel(self, x: np.ndarray) -> np.ndarray:
        left, right = x >> self._half, x & self._mask
        for k in self._keys:
            left, right = right, left ^ (_mix64(right ^ k) & self._mask)
        return (left << self._half) | right

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Permuted ids (int64) of ids in [0, n)."""
        y = self._feistel(np.asarray(x, dtype=np.uint64))
        out = y >= self.n
        while out.any():  # each walk stays on x's cycle, so it ends inside [0, n) and stays a bijection
            y[out] = self._feistel(y[out])
            out = y >= self.n
        return y.astype(np.int64)


def first_distinct(values: np.ndarray, bag_of: np.ndarray, limit: np.ndarray, batch_size: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indices, offsets) keeping, per bag, the first `limit[bag]` distinct values in draw order.

    `bag_of` gives each value's bag and must be non-decreasing (draws are grouped bag by bag).
    """
    n = len(values)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(batch_size + 1, np.int64)
    repeat = np.zeros(n, np.bool_)
    span = int(values.max()) + 1
    if int(bag_of[-1]) < np.iinfo(np.int64).max // span:
        key = bag_of * span + values  # one int64 sort key: ~5x faster than lexsort
        order = np.argsort(key, kind="stable")  # stable: equal (bag, value) pairs stay in draw order
        sk = key[order]
        repeat[1:] = sk[1:] == sk[:-1]
    else:
        order = np.lexsort((values, bag_of))
        sv, sb = values[order], bag_of[order]
        repeat[1:] = (sv[1:] == sv[:-1]) & (sb[1:] == sb[:-1])
    keep = np.ones(n, np.bool_)
    keep[order[repeat]] = False
    kv, kb = values[keep], bag_of[keep]
    rank = np.arange(len(kb)) - np.searchsorted(kb, kb, side="left")
    sel = rank < limit[kb]
    lengths = np.bincount(kb[sel], minlength=batch_size)
    offsets = np.zeros(batch_size + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return kv[sel].astype(np.int64), offsets


class _TableSource:
    """One table's random stream: bag sizes, row draws, inter-batch reuse."""

    def __init__(self, table: Table, *, dist: Dist, alpha: float, reuse: float, seed: int,
                 stackdist: tuple[np.ndarray, np.ndarray, np.ndarray] | None):
        self.table = table
        self.rows = table.rows
        self.dist = effective_dist(dist, alpha)
        self.alpha = alpha
        self.reuse = reuse
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, table.index]))
        self.perm = HashPermutation(self.rows, key=[seed, table.index, 1]) if self.dist == "zipf" else None
        self.gen = StackDistanceGenerator(*stackdist, self.rng) if self.dist == "stackdist" else None
        self.prev: np.ndarray | None = None

    def bag_lengths(self, batch_size: int) -> np.ndarray:
        k = self.table.lookups_per_sample
        if self.table.bag_size_dist == "fixed":
            return np.full(batch_size, k, np.int64)
        return self.rng.integers(1, k + 1, batch_size)

    def bags(self, batch_size: int) -> TableBags:
        lengths = self.bag_lengths(batch_size)
        draws = lengths * (ZIPF_OVERSAMPLE if self.dist == "zipf" else 1)
        bag_of = np.repeat(np.arange(batch_size), draws)
        if self.dist == "uniform":
            values = self.rng.integers(0, self.rows, len(bag_of))
        elif self.dist == "zipf":
            values = (self.rng.zipf(self.alpha, len(bag_of)) - 1) % self.rows
        else:
            assert self.gen is not None
            values = self.gen.draw(len(bag_of))
        idx, off = first_distinct(values, bag_of, lengths, batch_size)
        if self.perm is not None:
            idx = self.perm(idx)  # a bijection keeps bags distinct; it scatters the hot head across the table
        if self.reuse > 0 and self.prev is not None and len(self.prev) and len(idx):
            idx, off = self._reuse(idx, off, lengths, batch_size)
        self.prev = idx
        return TableBags(idx, off)

    def _reuse(self, idx: np.ndarray, off: np.ndarray, lengths: np.ndarray, batch_size: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """Replace a `reuse` share of lookups by rows of the previous batch (FBGEMM's inter-batch reuse)."""
        assert self.prev is not None
        k = int(round(self.reuse * len(idx)))
        pos = self.rng.choice(len(idx), k, replace=False)
        idx = idx.copy()
        idx[pos] = self.prev[self.rng.integers(0, len(self.prev), k)]
        bag_of = np.repeat(np.arange(batch_size), np.diff(off))
        return first_distinct(idx, bag_of, lengths, batch_size)


def _stackdist_inputs(spec: ModelSpec, stackdist_file: str | Path | None
                      ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One distribution per table; a file name holding "{table}" names one file per table."""
    if stackdist_file is None:
        raise InputError("--dist stackdist needs a distribution file (--stackdist-file)")
    pattern, cache, out = str(stackdist_file), {}, []
    for t in spec.table_list:
        path = pattern.replace("{table}", str(t.index))
        if path not in cache:
            cache[path] = read_distribution(path)
        unique = cache[path][0]
        if len(unique) and int(unique.max()) >= t.rows:
            raise InputError(f"{path}: row {int(unique.max())} in the unique accesses is out of range for "
                             f"table {t.index} ({t.rows} rows)")
        out.append(cache[path])
    return out


def effective_dist(dist: str, alpha: float) -> str:
    """FBGEMM's rule: Zipf with alpha <= 1 is uniform."""
    return "uniform" if dist == "zipf" and alpha <= 1.0 else dist


def synth_batches(spec: ModelSpec, *, dist: Dist, batches: int, batch_size: int, seed: int, alpha: float = 1.09,
                  reuse: float = 0.0, stackdist_file: str | Path | None = None) -> Iterator[Batch]:
    """Generate `batches` synthetic batches for `spec` in memory, one at a time."""
    if dist not in DISTS:
        raise InputError(f"unknown distribution {dist!r}; expected one of {', '.join(DISTS)}")
    if batches < 1 or batch_size < 1:
        raise InputError(f"batches and batch size must be >= 1, got {batches} and {batch_size}")
    if seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")
    if not 0.0 <= reuse <= 1.0:
        raise InputError(f"reuse must be a fraction in [0, 1], got {reuse}")
    if not math.isfinite(alpha):
        raise InputError(f"alpha must be finite, got {alpha}")
    if stackdist_file is not None and dist != "stackdist":
        raise InputError("a stack-distance file is only used with --dist stackdist")
    dists = _stackdist_inputs(spec, stackdist_file) if dist == "stackdist" else [None] * spec.num_tables
    sources = [_TableSource(t, dist=dist, alpha=alpha, reuse=reuse, seed=seed, stackdist=d)
               for t, d in zip(spec.table_list, dists)]
    for _ in range(batches):
        yield Batch(tuple(s.bags(batch_size) for s in sources))


def synthesize(spec: ModelSpec, *, dist: Dist, batches: int, batch_size: int, seed: int, out: str | Path,
               alpha: float = 1.09, reuse: float = 0.0, stackdist_file: str | Path | None = None,
               chunk_lookups: int = DEFAULT_CHUNK_LOOKUPS) -> Path:
    """Generate a synthetic trace for `spec` and write it to `out`; returns the trace path."""
    generated = synth_batches(spec, dist=dist, batches=batches, batch_size=batch_size, seed=seed, alpha=alpha,
                              reuse=reuse, stackdist_file=stackdist_file)
    first = next(generated)  # checks the arguments before anything is written
    extra = dict(dist=dist, reuse=reuse, batch_size=batch_size)
    if dist == "zipf":
        extra.update(alpha=alpha, zipf_oversample=ZIPF_OVERSAMPLE, effective_dist=effective_dist(dist, alpha))
    if dist == "stackdist":
        extra.update(stackdist_file=str(stackdist_file))
    out = Path(out)
    with TraceWriter(out, source=f"synth:{dist}", table_rows=[t.rows for t in spec.table_list], spec=spec,
                     seed=seed, extra=extra, chunk_lookups=chunk_lookups) as writer:
        writer.write(first)
        for batch in generated:
            writer.write(batch)
    return out
