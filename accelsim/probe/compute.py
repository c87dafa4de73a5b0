"""Compute probe: torch SGEMM time at DLRM layer shapes, as an efficiency over the CPU model's tiled peak.

The CPU model times a GEMM as micro-tiles over cores at `simd x fma` lanes per cycle (accelsim.hw.cpu); the
efficiency of a shape is that model's time with efficiency 1 over the measured time minus the framework's
dispatch cost. So the model, given the table, reproduces the probe at the probed shapes and interpolates between.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.probe.repeat import Timing, best, repeat

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


def shapes() -> list[tuple[int, int, int]]:
    """(m, k, n) of square layers k = n = width, as DLRM MLPs are, up to MAX_FLOPS."""
    return [(m, w, w) for m in BATCHES for w in WIDTHS if 2 * m * w * w <= MAX_FLOPS]


def gemm_probe(budget_s: float, threads: int = 1) -> list[GemmPoint]:
    """Time torch.nn.functional.linear at every shape on one thread (its CPU time; the model spreads tiles over
    cores itself, and a one-thread timing is not disturbed by a descheduled OpenMP peer)."""
    import torch
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    out = []
    try:
        todo = shapes()
        with torch.no_grad():
            for m, k, n in todo:
                x, w, b = torch.randn(m, k), torch.randn(n, k), torch.randn(n)
                t = repeat(lambda: torch.nn.functional.linear(x, w, b), budget_s=budget_s / len(todo), warmup=2)
                out.append(GemmPoint(m, k, n, t))
    finally:
        torch.set_num_threads(prev)
    return out


def merge(rounds: list[list[GemmPoint]]) -> list[GemmPoint]:
    """Rounds of the GEMM probe (the same shapes in the same order) as one: each shape's best round."""
    return [GemmPoint(p[0].m, p[0].k, p[0].n, best([q.timing for q in p])) for p in zip(*rounds)]


PARALLEL_SPEEDUP = 1.1  # a shape counts as threaded when N threads beat one by more than this


def parallel_threshold_flops(sizes: list[tuple[int, int, int]], budget_s: float, threads: int
                             ) -> tuple[int, list[float]]:
    """The FLOPs from which torch's BLAS runs a Linear on `threads` threads, read off the speed-up of each
    probed shape on `threads` threads over one (both on the wall clock, fastest run: the same clock on both
    sides, as a thread's CPU clock costs more per reading than a tiny call takes): the smallest size above which
    every shape is threaded (0: all are; beyond the largest: none is); and the speed-ups."""
    import time

    import torch
    prev = torch.get_num_threads()
    speedups = []
    share = budget_s / (2 * max(len(sizes), 1))
    try:
        with torch.no_grad():
            for m, k, n in sizes:
                x, w, b = torch.randn(m, k), torch.randn(n, k), torch.randn(n)
                best = []
                for n in (1, threads):
                    torch.set_num_threads(n)
                    best.append(repeat(lambda: torch.nn.functional.linear(x, w, b), budget_s=share, warmup=3,
                                       clock=time.perf_counter_ns).min_ns)
                speedups.append(best[0] / best[1])
    finally:
        torch.set_num_threads(prev)
    return threshold_from(sizes, speedups), speedups


def threshold_from(sizes: list[tuple[int, int, int]], speedups: list[float]) -> int:
    """Smallest 2mkn from which every larger probed shape (m, k, n) ran faster on several threads."""
    by_size = sorted(zip((2 * m * k * n for m, k, n in sizes), speedups))
    threshold = 2 * by_size[-1][0] if by_size else 0
    for flops, s in reversed(by_size):
        if s <= PARALLEL_SPEEDUP:
            break
        threshold = flops
    return threshold
