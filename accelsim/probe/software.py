"""Software probes: what the installed PyTorch costs per operator and how it spreads one EmbeddingBag over threads.

- dispatch: a DLRM layer (Linear + ReLU) of 1 x 16 -> 16 and an EmbeddingBag of one bag of one row take almost no work, so their
  call time is the framework's per-operator cost (Python binding, dispatcher, allocation, OpenMP fork/join).
- gather cycles: an EmbeddingBag whose table fits in L1 (64 rows x 64 fp32 = 16 KiB) on one thread is
  issue-bound, so (time - dispatch) x clock / lookups is the kernel's per-lookup core cost.
- threads: the same kind of call on a 1 MiB table with all threads, for a while: the share of the process's CPU
  time (/proc/self/task/*/stat) that threads other than the calling one spend. It is about (N-1)/N when the
  installed stack splits one EmbeddingBag call over N threads (PyTorch does since pytorch/pytorch#27477) and
  near 0 when it does not (no parallel region opens, so the pool's threads sleep). Unlike a speed-up, this does
  not depend on the other threads getting a core on a loaded machine.
Everything is timed on the calling thread's CPU clock (accelsim.probe.repeat) but the all-thread call (the wall
clock), each call in runs of back-to-back calls (`repeat_calls`; the dispatch pair DISPATCH_CALLS a run), per call.
`accelsim probe` runs this probe in several rounds spread over its run and keeps each quantity's best round
(`merge`; accelsim.probe.repeat.best says why).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.probe.canary import canary
from accelsim.probe.repeat import Timing, best, repeat_calls

CYCLE_ROWS, CYCLE_DIM, CYCLE_BAG, CYCLE_BATCH = 64, 64, 50, 512
THREAD_ROWS, THREAD_DIM, THREAD_BAG, THREAD_BATCH = 4096, 64, 20, 2048
THREAD_TURNS = 3   # one-thread and all-thread calls alternate this many times
BAGS_BATCH = 2048  # the same L1 table, one lookup a bag: the per-bag cost against the per-lookup one
DISPATCH_CALLS = 100  # calls a timed run of the dispatch pair strings together
INDEX_FEATURES, INDEX_BATCHES = 24, (32, 512)  # z[:, li, lj] over B x 24 x 24: the slope per element


@dataclass(frozen=True)
class SoftwareProbe:
    """The installed framework as measured."""

    torch_version: str
    linear_dispatch: Timing
    embedding_dispatch: Timing
    cycles_dim: int
    cycles_lookups: int
    cycles_run: Timing            # one thread, table in L1
    bags_run: Timing              # the same table, BAGS_BATCH bags of one lookup
    thread_lookups: int
    one_thread: Timing
    all_threads: Timing
    threads: int
    other_threads_cpu_share: float   # of the process's CPU time during the all-thread calls
    index_runs: tuple[Timing, ...] = ()   # the lower-triangle gather at each of INDEX_BATCHES, one thread

    @property
    def index_ns_per_element(self) -> float:
        """Slope of the lower-triangle gather's fastest runs between the two batches (dispatch cancels)."""
        if len(self.index_runs) != 2:
            return 0.0
        per_sample = INDEX_FEATURES * (INDEX_FEATURES - 1) // 2
        elements = (INDEX_BATCHES[1] - INDEX_BATCHES[0]) * per_sample
        return max((self.index_runs[1].min_ns - self.index_runs[0].min_ns) / elements, 0.0)


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
            linear = repeat_calls(lambda: lin(x), budget_s=share, warmup=2 * DISPATCH_CALLS, canary=canary(),
                                  calls=DISPATCH_CALLS)[0]
            tiny, ti, to = _bag(16, 16, 1, 1, seed)
            emb = repeat_calls(lambda: tiny(ti, to), budget_s=share, warmup=2 * DISPATCH_CALLS, canary=canary(),
                               calls=DISPATCH_CALLS)[0]
            eb, idx, off = _bag(CYCLE_ROWS, CYCLE_DIM, CYCLE_BAG, CYCLE_BATCH, seed)
            cyc = repeat_calls(lambda: eb(idx, off), budget_s=share, warmup=3, canary=canary())[0]
            idx1, off1 = idx[:BAGS_BATCH].clone(), torch.arange(BAGS_BATCH)
            bags = repeat_calls(lambda: eb(idx1, off1), budget_s=share / 2, warmup=3, canary=canary())[0]
            index = tuple(_index_run(b, share / 4, seed) for b in INDEX_BATCHES)
            eb2, idx2, off2 = _bag(THREAD_ROWS, THREAD_DIM, THREAD_BAG, THREAD_BATCH, seed)
            # The fork/join cost is the difference of these two: they are timed in turns, so both see the host
            # in the same states. A fork/join call ends with its slowest thread: the wall clock, as validate
            # times multi-thread cases.
            ones, manys = [], []
            for _ in range(THREAD_TURNS):
                torch.set_num_threads(1)
                ones.append(repeat_calls(lambda: eb2(idx2, off2), budget_s=share / THREAD_TURNS, warmup=3,
                                         canary=canary())[0])
                torch.set_num_threads(threads)
                manys.append(repeat_calls(lambda: eb2(idx2, off2), budget_s=share / THREAD_TURNS, warmup=3,
                                          clock=time.perf_counter_ns, canary=canary())[0])
            one, many = best(ones), best(manys)
            before = task_cpu_ticks()
            t_end = time.perf_counter() + share
            while time.perf_counter() < t_end:
                eb2(idx2, off2)
            after = task_cpu_ticks()
    finally:
        torch.set_num_threads(prev)
    me = threading.get_native_id()
    spent = {k: after[k] - before.get(k, 0) for k in after}
    total = sum(spent.values())
    others = (total - spent.get(me, 0)) / total if total else 0.0
    return SoftwareProbe(torch.__version__, linear, emb, CYCLE_DIM,
                         int(np.int64(CYCLE_BAG * CYCLE_BATCH)), cyc, bags, THREAD_BAG * THREAD_BATCH, one, many, threads,
                         others, index)


def merge(rounds: list[SoftwareProbe]) -> SoftwareProbe:
    """Rounds of the software probe as one: each timing's best round, the CPU-time share averaged."""
    first = rounds[0]
    return SoftwareProbe(
        first.torch_version, best([r.linear_dispatch for r in rounds]), best([r.embedding_dispatch for r in rounds]),
        first.cycles_dim, first.cycles_lookups, best([r.cycles_run for r in rounds]),
        best([r.bags_run for r in rounds]), first.thread_lookups, best([r.one_thread for r in rounds]),
        best([r.all_threads for r in rounds]), first.threads,
        float(np.mean([r.other_threads_cpu_share for r in rounds])),
        tuple(best(list(ts)) for ts in zip(*(r.index_runs for r in rounds))))


def _index_run(batch: int, budget_s: float, seed: int) -> Timing:
    """One thread taking the strict lower triangle of batch x F x F by advanced indexing, as DLRM's
    interact_features does (li, lj built once, outside the timing)."""
    import torch
    z = torch.randn(batch, INDEX_FEATURES, INDEX_FEATURES, generator=torch.Generator().manual_seed(seed))
    li = torch.tensor([i for i in range(INDEX_FEATURES) for j in range(i)], dtype=torch.long)
    lj = torch.tensor([j for i in range(INDEX_FEATURES) for j in range(i)], dtype=torch.long)
    return repeat_calls(lambda: z[:, li, lj], budget_s=budget_s, warmup=3, canary=canary())[0]


def task_cpu_ticks(task_dir: str | Path = "/proc/self/task") -> dict[int, int]:
    """utime + stime (clock ticks) of every thread of this process."""
    out = {}
    for d in Path(task_dir).iterdir():
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[int(d.name)] = int(fields[11]) + int(fields[12])
    return out
