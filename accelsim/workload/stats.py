"""Trace statistics: lookups, uniqueness, bag sizes, LRU reuse distances, hot-set coverage, bytes gathered.

One streaming pass over the batches; memory is O(distinct rows) (the per-table LRU profilers).
"""

from __future__ import annotations

import math

import numpy as np

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.workload.stackdist import StackDistanceProfiler
from accelsim.workload.trace import META_FILE, TraceReader

# Hot sets reported: the hottest 0.1 %, 1 % and 10 % of a table's rows (rounded up to whole rows).
HOT_SET_FRACTIONS = (0.001, 0.01, 0.1)


def _hot_key(frac: float) -> str:
    return f"top_{frac * 100:g}pct_rows"


def _reuse_histogram(hist: np.ndarray) -> dict:
    """First touches, and stack distances in log2 buckets [2^k, 2^(k+1) - 1]."""
    counts = np.zeros(0, np.int64)
    if len(hist) > 1:
        bucket = np.frexp(np.arange(1, len(hist), dtype=np.float64))[1] - 1  # floor(log2 d), exact for ints
        counts = np.zeros(int(bucket[-1]) + 1, np.int64)
        np.add.at(counts, bucket, hist[1:])
    return {"first_touch": int(hist[0]) if len(hist) else 0,
            "log2_buckets": [{"min_distance": 1 << k, "max_distance": (2 << k) - 1, "count": int(c)}
                             for k, c in enumerate(counts)]}


class _TableTally:
    def __init__(self, rows: int):
        self.rows = rows
        self.profiler = StackDistanceProfiler()
        self.hist = np.zeros(1, np.int64)
        self.lookups = self.bags = self.empty_bags = self.max_bag = 0

    def add(self, indices: np.ndarray, offsets: np.ndarray) -> None:
        lengths = np.diff(offsets)
        self.lookups += len(indices)
        self.bags += len(lengths)
        self.empty_bags += int((lengths == 0).sum())
        self.max_bag = max(self.max_bag, int(lengths.max(initial=0)))
        bc = np.bincount(self.profiler.feed(indices))
        if len(bc) > len(self.hist):
            self.hist = np.concatenate([self.hist, np.zeros(len(bc) - len(self.hist), np.int64)])
        self.hist[:len(bc)] += bc

    def hot_accesses(self) -> dict[float, int]:
        counts = np.sort(self.profiler.access_counts)[::-1]
        cum = np.concatenate([[0], np.cumsum(counts)])
        return {f: int(cum[min(math.ceil(self.rows * f), len(counts))]) for f in HOT_SET_FRACTIONS}


def _summary(lookups: int, bags: int, unique: int, empty: int, max_bag: int, hist: np.ndarray,
             hot: dict[float, int], row_bytes: float | None) -> dict:
    return {
        "lookups": lookups,
        "bags": bags,
        "unique_rows": unique,
        "unique_fraction": unique / lookups if lookups else 0.0,
        "mean_bag_lookups": lookups / bags if bags else 0.0,
        "max_bag_lookups": max_bag,
        "empty_bags": empty,
        "reuse_distance": _reuse_histogram(hist),
        "hot_set_access_share": {_hot_key(f): (hot[f] / lookups if lookups else 0.0) for f in HOT_SET_FRACTIONS},
        "gathered_bytes": lookups * row_bytes if row_bytes is not None else None,
    }


def _derived(t) -> dict:
    """The spec's per-table closed forms: scheme, storage and per-lookup gather and compute."""
    return {"name": t.name, "dim": t.dim, "dtype": t.dtype, "pooling": t.pooling, "scheme": t.scheme,
            "shared_with_table": None if t.owns_storage else t.storage,
            "bytes_stored": t.size_bytes if t.owns_storage else 0,
            "lines_per_lookup_64b": t.lines_per_lookup(64),
            "extra_flops_per_lookup": t.extra_flops_per_lookup, "extra_flops_per_bag": t.extra_flops_per_bag}


def trace_stats(reader: TraceReader) -> dict:
    """Per-table and overall statistics of a trace, JSON-ready."""
    meta = reader.meta
    row_bytes: list[float | None] = [None] * meta.num_tables
    derived: list[dict] = [{} for _ in range(meta.num_tables)]
    if meta.spec is not None:
        spec = parse_model(ModelSpec, meta.spec, source=f"{reader.path / META_FILE}: spec")
        row_bytes = [t.bytes_gathered_per_lookup for t in spec.table_list]
        derived = [_derived(t) for t in spec.table_list]
    tallies = [_TableTally(r) for r in meta.table_rows]
    for batch in reader:
        for tally, bags in zip(tallies, batch.tables):
            tally.add(bags.indices, bags.offsets)
    tables, hots = [], []
    for t, (tally, rb) in enumerate(zip(tallies, row_bytes)):
        hot = tally.hot_accesses()
        hots.append(hot)
        tables.append({"table": t, "rows": tally.rows, "row_bytes": rb, **derived[t],
                       **_summary(tally.lookups, tally.bags, len(tally.profiler.access_counts), tally.empty_bags,
                                  tally.max_bag, tally.hist, hot, rb)})
    width = max(len(x.hist) for x in tallies)
    hist = np.zeros(width, np.int64)
    for x in tallies:
        hist[:len(x.hist)] += x.hist
    overall = _summary(sum(x.lookups for x in tallies), sum(x.bags for x in tallies),
                       sum(tab["unique_rows"] for tab in tables), sum(x.empty_bags for x in tallies),
                       max(x.max_bag for x in tallies), hist, {f: sum(h[f] for h in hots) for f in HOT_SET_FRACTIONS},
                       None)
    known = all(rb is not None for rb in row_bytes)
    overall["gathered_bytes"] = sum(tab["gathered_bytes"] for tab in tables) if known else None
    out = {"trace": str(reader.path), "source": meta.source, "workload": meta.workload,
           "num_batches": meta.num_batches, "batch_size": meta.batch_size, "num_tables": meta.num_tables,
           "tables": tables, "overall": overall}
    if not known:
        out["note"] = "no model spec in the trace: row sizes unknown, gathered_bytes not reported (lookups only)"
    return out
