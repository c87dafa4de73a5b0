"""Accesses per second of the detailed caches (single levels, LRU and SRRIP, and a 3-level hierarchy) and of the
analytic twin, on 1M-line traces of 256 B embedding rows: uniform and Zipf(1.09) over 1M rows.

Run: .venv/bin/python benchmarks/bench_cache.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from accelsim.config.cache import CacheConfig
from accelsim.hw.cache import AnalyticCache, Cache, CacheHierarchy, row_addresses

ROWS = 1_000_000
ROW_BYTES = 256
LINE_BYTES = 64
LINE_ACCESSES = 1_000_000
ZIPF_EXPONENT = 1.09
REPEATS = 3

# Broadwell-EP geometry; the LLC is 2.5 MB per core x 14 cores (reference/platforms.md). Hit latencies do not
# affect throughput; they are ASSUMPTIONS (load-to-use cycles at 2.4 GHz).
_SRC = {"size_bytes": "Broadwell-EP (platforms.md)", "ways": "Broadwell-EP (platforms.md)",
        "hit_latency_ns": "ASSUMPTION"}
L1 = CacheConfig(name="L1", size_bytes=32 * 1024, ways=8, hit_latency_ns=1.7, sources=_SRC)
L2 = CacheConfig(name="L2", size_bytes=256 * 1024, ways=8, hit_latency_ns=5.0, sources=_SRC)
LLC = CacheConfig(name="LLC", size_bytes=35 * 1024 * 1024, ways=20, hit_latency_ns=18.0, sources=_SRC)


def zipf_rows(n: int, rows: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Row ids with P(rank r) ~ r^-exponent, ranks scattered over the table by a fixed permutation."""
    cdf = np.cumsum(1.0 / np.arange(1, rows + 1) ** exponent)
    ranks = np.searchsorted(cdf / cdf[-1], rng.random(n))
    return rng.permutation(rows)[ranks]


def traces() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n_rows = LINE_ACCESSES // (ROW_BYTES // LINE_BYTES)
    return {
        "uniform": row_addresses(0, rng.integers(0, ROWS, n_rows), ROW_BYTES, LINE_BYTES),
        f"zipf{ZIPF_EXPONENT}": row_addresses(0, zipf_rows(n_rows, ROWS, ZIPF_EXPONENT, rng), ROW_BYTES, LINE_BYTES),
    }


def best_rate(model, addr: np.ndarray) -> float:
    """Accesses per second, best of REPEATS cold runs."""
    best = np.inf
    for _ in range(REPEATS):
        model.reset()
        t = time.perf_counter()
        model.access(addr)
        best = min(best, time.perf_counter() - t)
    return addr.size / best


def main() -> None:
    models = {
        "Cache L1 32K/8 lru": lambda: Cache(L1),
        "Cache L1 32K/8 srrip": lambda: Cache(L1.model_copy(update={"policy": "srrip"})),
        "Cache LLC 35M/20 lru": lambda: Cache(LLC),
        "Cache LLC 35M/20 srrip": lambda: Cache(LLC.model_copy(update={"policy": "srrip"})),
        "Hierarchy L1+L2+LLC lru": lambda: CacheHierarchy([L1, L2, LLC]),
        "Hierarchy L1+L2+LLC lru incl.": lambda: CacheHierarchy([L1, L2, LLC], inclusive=True),
        "AnalyticCache LLC 35M/20": lambda: AnalyticCache(LLC),
    }
    Cache(L1).access(np.arange(8, dtype=np.int64))  # compile (or load the numba cache) outside the timing
    AnalyticCache(L1).access(np.arange(8, dtype=np.int64))
    print(f"{'model':32s} {'trace':10s} {'Maccess/s':>10s}  hit rate (per level)")
    for trace_name, addr in traces().items():
        for name, make in models.items():
            model = make()
            rate = best_rate(model, addr)
            if isinstance(model, CacheHierarchy):
                hits = " ".join(f"{c.hit_rate:.3f}" for c in model.counters)
            elif isinstance(model, Cache):
                hits = f"{model.counters.hit_rate:.3f}"
            else:
                hits = f"{model.hit_rate:.3f} (expected)"
            print(f"{name:32s} {trace_name:10s} {rate / 1e6:10.2f}  {hits}")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__).parse_args()  # --help, and no stray arguments
    main()
