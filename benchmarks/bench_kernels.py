"""Embedding-bag gather speed: numba reference kernel vs torch.nn.EmbeddingBag vs a STREAM-style copy.

Table 1M x 64 fp32 (256 MB), batch 2048, 80 lookups per bag, uniform and Zipf(1.09) row ids (FBGEMM-style:
Zipf draws with the row ids permuted, so hot rows are scattered). Gathered GB/s counts lookups x 256 B.
At 2 threads numba pools two runs of bags on its worker threads (prange) and torch uses
torch.set_num_threads(2). On a machine shared with other work, 2-thread figures depend on the other core's load.
Run: .venv/bin/python benchmarks/bench_kernels.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from accelsim.kernels.reference import embedding_bag
from accelsim.workload.weights import table_rows_values

ROWS, DIM, BATCH, BAG = 1_000_000, 64, 2048, 80
ZIPF_ALPHA = 1.09
COPY_BYTES = 512 * 2**20
REPEATS = 5
ROUNDS = 4


def zipf_ids(rng: np.random.Generator, n: int, rows: int, alpha: float) -> np.ndarray:
    """n Zipf(alpha) row ids in [0, rows), ranks mapped through a random permutation of the rows."""
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        z = rng.zipf(alpha, 3 * n)
        out = np.concatenate([out, z[z <= rows] - 1])
    return rng.permutation(rows)[out[:n]]


def best_s(fn, repeats: int = REPEATS) -> float:
    """Minimum wall time of `fn()` over `repeats` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def copy_gbps() -> float:
    """STREAM copy: bytes read + written per second for a numpy copy far larger than the LLC."""
    src = np.ones(COPY_BYTES // 4, dtype=np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / best_s(lambda: np.copyto(dst, src), repeats=8) / 1e9


def main() -> None:
    rng = np.random.default_rng(0)
    table = table_rows_values(0, 0, np.arange(ROWS), DIM, ROWS)
    offsets = np.arange(BATCH + 1, dtype=np.int64) * BAG
    lookups = BATCH * BAG
    gathered_bytes = lookups * DIM * 4
    stream = copy_gbps()
    print(f"table {ROWS} x {DIM} fp32, batch {BATCH}, {BAG} lookups/bag; STREAM copy {stream:.2f} GB/s")
    bag_t = torch.nn.EmbeddingBag(ROWS, DIM, mode="sum", include_last_offset=True, _weight=torch.from_numpy(table))
    header = f"{'indices':8} {'kernel':22} {'threads':>7} {'ms/batch':>9} {'gathered GB/s':>14} {'/copy':>6}"
    print(header)
    print("-" * len(header))
    for dist in ("uniform", "zipf"):
        ids = rng.integers(0, ROWS, lookups) if dist == "uniform" else zipf_ids(rng, lookups, ROWS, ZIPF_ALPHA)
        ids_t, off_t = torch.from_numpy(ids), torch.from_numpy(offsets)
        want = bag_t(ids_t, off_t).detach().numpy()
        runs = [("torch EmbeddingBag", t, lambda: bag_t(ids_t, off_t)) for t in (1, 2)]
        runs += [("numba embedding_bag", t, lambda t=t: embedding_bag(table, ids, offsets, include_last_offset=True,
                                                                     threads=t)) for t in (1, 2)]
        best = {}
        # Rounds alternate the kernels so that load from other processes hits all of them alike.
        for _ in range(ROUNDS):
            for name, threads, fn in runs:
                torch.set_num_threads(threads)
                with torch.no_grad():
                    out = fn()
                    out = out.numpy() if isinstance(out, torch.Tensor) else out
                    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
                    best[name, threads] = min(best.get((name, threads), np.inf), best_s(fn))
        for (name, threads), s in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            gbps = gathered_bytes / s / 1e9
            print(f"{dist:8} {name:22} {threads:>7} {s * 1e3:>9.2f} {gbps:>14.2f} {gbps / stream:>6.2f}")

if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__).parse_args()  # --help, and no stray arguments
    main()
