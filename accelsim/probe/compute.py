"""Compute probe: torch SGEMM time at DLRM layer shapes, as an efficiency over the CPU model's tiled peak.

The CPU model times a GEMM as micro-tiles over cores at `simd x fma` lanes per cycle (accelsim.hw.cpu); the
efficiency of a shape is that model's time with efficiency 1 over the measured time minus the framework's
dispatch cost. So the model, given the table, reproduces the probe at the probed shapes and interpolates between.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.probe.canary import canary
from accelsim.probe.repeat import Timing, best, repeat_calls

BATCHES = (1, 16, 128, 512, 2048)
WIDTHS = (16, 64, 256, 1024, 4096)
MAX_FLOPS = 2 ** 31  # larger shapes take too long for a 3-minute probe; the table clamps to its edge


@dataclass(frozen=True)
class GemmPoint:
    """One probed shape: out[m, n] = x[m, k] @ W[k, n]."""

    m: int
    k: int
    n: int
    timing: Timing


def _layer(k: int, n: int):
    """A DLRM layer, Linear(k, n) + ReLU, as the dispatch probe times it (accelsim.probe.software) and the
    validation's MLPs and the PyTorch DLRM run it: the measured time less that probe's dispatch is then the
    GEMM's own (a bare functional.linear call costs less than the module pair: 9.1 us at 1 x 13 x 512 and 5.1 us
    at 1 x 256 x 64, GEMM included, against 13.8 us for Linear(16, 16) + ReLU, EPYC guest 2026-12-03, which read
    as efficiencies of 1 at small shapes)."""
    import torch
    return torch.nn.Sequential(torch.nn.Linear(k, n), torch.nn.ReLU())


def shapes() -> list[tuple[int, int, int]]:
    """(m, k, n) of square layers k = n = width, as DLRM MLPs are, up to MAX_FLOPS; then the one-output layers
    that end a DLRM's top MLP (k = width, n = 1), which BLAS runs as a matrix-vector product."""
    return ([(m, w, w) for m in BATCHES for w in WIDTHS if 2 * m * w * w <= MAX_FLOPS]
            + [(m, w, 1) for m in BATCHES for w in WIDTHS])


def squares(points: list[GemmPoint]) -> list[GemmPoint]:
    """The probed shapes of more than one output column (the ones the threading size is read off)."""
    return [g for g in points if g.n > 1]


def gemm_probe(budget_s: float, threads: int = 1) -> list[GemmPoint]:
    """Time a Linear + ReLU layer at every shape on one thread (its CPU time; the model spreads tiles over
    cores itself, and a one-thread timing is not disturbed by a descheduled OpenMP peer), per call in runs of
    back-to-back calls (accelsim.probe.repeat.repeat_calls)."""
    import torch
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    out = []
    try:
        todo = shapes()
        with torch.no_grad():
            for m, k, n in todo:
                x, layer = torch.randn(m, k), _layer(k, n)
                t = repeat_calls(lambda: layer(x), budget_s=budget_s / len(todo), warmup=2, canary=canary())[0]
                out.append(GemmPoint(m, k, n, t))
    finally:
        torch.set_num_threads(prev)
    return out


def merge(rounds: list[list[GemmPoint]]) -> list[GemmPoint]:
    """Rounds of the GEMM probe (the same shapes in the same order) as one: each shape's best round."""
    return [GemmPoint(p[0].m, p[0].k, p[0].n, best([q.timing for q in p])) for p in zip(*rounds)]


PARALLEL_SPEEDUP = 1.1  # a shape counts as threaded when N threads beat one by more than this


def thread_timings(sizes: list[tuple[int, int, int]], budget_s: float, threads: int) -> list[tuple[float, float]]:
    """One round of (fastest ns on one thread, on `threads` threads) of a Linear + ReLU at each shape (m, k, n),
    both on the wall clock (the same clock on both sides, as a thread's CPU clock costs more per reading than a
    tiny call takes)."""
    import time

    import torch
    prev = torch.get_num_threads()
    out = []
    share = budget_s / (2 * max(len(sizes), 1))
    try:
        with torch.no_grad():
            for m, k, n in sizes:
                x, layer = torch.randn(m, k), _layer(k, n)
                pair = []
                for t in (1, threads):
                    torch.set_num_threads(t)
                    pair.append(repeat_calls(lambda: layer(x), budget_s=share, warmup=3,
                                             clock=time.perf_counter_ns, canary=canary())[0].min_ns)
                out.append((pair[0], pair[1]))
    finally:
        torch.set_num_threads(prev)
    return out


def parallel_threshold_flops(sizes: list[tuple[int, int, int]], rounds: list[list[tuple[float, float]]]
                             ) -> tuple[int, list[float]]:
    """The FLOPs from which torch's BLAS runs a Linear on all threads, from rounds of `thread_timings` spread
    over the probe run: each shape's speed-up is its fastest one-thread run over its fastest all-thread run of
    all rounds (noise only adds time, on either side), then the size that best splits one-thread shapes from
    threaded ones (`threshold_from`). One round alone read 1x256x256 at 0.65x and moved the size from 4.2M to
    67M FLOP between two runs (docs/calibrate.md, run 34)."""
    speedups = [min(p[0] for p in per) / min(p[1] for p in per) for per in zip(*rounds)]
    return threshold_from(sizes, speedups), speedups


def threshold_from(sizes: list[tuple[int, int, int]], speedups: list[float]) -> int:
    """The 2mkn that best splits the probed shapes (m, k, n) into one-thread ones below and threaded ones above:
    fewest shapes on the wrong side, the smallest such size on a tie (beyond the largest: none is threaded).
    One noisy shape moves the split by at most one place, where "every larger shape faster" jumped to the
    largest size on it (runs 19-21: 4.2M, 67M, 268M FLOP from one host within 30 minutes; now 4.2M, 1.0M, 4.2M)."""
    by_size = sorted(zip((2 * m * k * n for m, k, n in sizes), speedups))
    if not by_size:
        return 0
    best_err, best = len(by_size) + 1, 2 * by_size[-1][0]
    for t in [f for f, _ in by_size] + [2 * by_size[-1][0]]:
        err = sum((f < t) == (s > PARALLEL_SPEEDUP) for f, s in by_size)
        if err < best_err:
            best_err, best = err, t
    return best
