"""Software probes: what the installed PyTorch costs per operator and how it spreads one EmbeddingBag over threads.

- dispatch: a DLRM layer (Linear + ReLU) of 1 x 16 -> 16 and an EmbeddingBag of one bag of one row take almost no work, so their
  call time is the framework's per-operator cost (Python binding, dispatcher, allocation, OpenMP fork/join).
- gather cycles: an EmbeddingBag whose table fits in L1 (64 rows x 64 fp32 = 16 KiB) on one thread is
  issue-bound, so (time - dispatch) x clock / lookups is the kernel's per-lookup core cost.
- threads: the same kind of call on a 1 MiB table with 1 and with all threads. The calling thread's CPU time
  drops to about 1/N of the one-thread call when the installed stack splits one EmbeddingBag call over N threads
  (PyTorch does since pytorch/pytorch#27477), and stays near 1 when it does not. CPU time, not wall time, so a
  peer thread descheduled by other work does not hide the split.
Everything is timed on the calling thread's CPU clock (accelsim.probe.repeat).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.probe.repeat import Timing, repeat

CYCLE_ROWS, CYCLE_DIM, CYCLE_BAG, CYCLE_BATCH = 64, 64, 50, 512
THREAD_ROWS, THREAD_DIM, THREAD_BAG, THREAD_BATCH = 4096, 64, 20, 2048


@dataclass(frozen=True)
class SoftwareProbe:
    """The installed framework as measured."""

    torch_version: str
    linear_dispatch: Timing
    embedding_dispatch: Timing
    cycles_dim: int
    cycles_lookups: int
    cycles_run: Timing            # one thread, table in L1
    thread_lookups: int
    one_thread: Timing
    all_threads: Timing
    threads: int


def _bag(rows: int, dim: int, bag: int, batch: int, seed: int):
    import torch
    g = torch.Generator().manual_seed(seed)
    eb = torch.nn.EmbeddingBag(rows, dim, mode="sum")
    idx = torch.randint(0, rows, (bag * batch,), generator=g)
    off = torch.arange(0, bag * batch, bag)
    return eb, idx, off


def software_probe(threads: int, budget_s: float, seed: int = 0) -> SoftwareProbe:
    """Dispatch costs, per-lookup cycles and the thread behaviour of torch's EmbeddingBag."""
    import torch
    prev = torch.get_num_threads()
    share = budget_s / 5
    try:
        with torch.no_grad():
            torch.set_num_threads(1)
            lin = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU())
            x = torch.randn(1, 16)
            linear = repeat(lambda: [lin(x) for _ in range(100)], budget_s=share, warmup=2)
            tiny, ti, to = _bag(16, 16, 1, 1, seed)
            emb = repeat(lambda: [tiny(ti, to) for _ in range(100)], budget_s=share, warmup=2)
            eb, idx, off = _bag(CYCLE_ROWS, CYCLE_DIM, CYCLE_BAG, CYCLE_BATCH, seed)
            cyc = repeat(lambda: eb(idx, off), budget_s=share, warmup=3)
            eb2, idx2, off2 = _bag(THREAD_ROWS, THREAD_DIM, THREAD_BAG, THREAD_BATCH, seed)
            one = repeat(lambda: eb2(idx2, off2), budget_s=share, warmup=3)
            torch.set_num_threads(threads)
            many = repeat(lambda: eb2(idx2, off2), budget_s=share, warmup=3)
    finally:
        torch.set_num_threads(prev)
    per_call = lambda t: type(t)(t.median_ns / 100, t.spread, t.runs, t.converged)  # noqa: E731
    return SoftwareProbe(torch.__version__, per_call(linear), per_call(emb), CYCLE_DIM,
                         int(np.int64(CYCLE_BAG * CYCLE_BATCH)), cyc, THREAD_BAG * THREAD_BATCH, one, many, threads)
