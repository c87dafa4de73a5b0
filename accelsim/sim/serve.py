"""Query serving: arrivals, query sizes and a batching policy on top of the timeline; per-query tail latency.

The load generator follows DeepRecSys (Gupta et al., ISCA 2020; harvard-acc/DeepRecSys loadGenerator.py):
queries arrive by a Poisson process (or at given timestamps, or from closed-loop clients), each with a size
(samples, i.e. candidate items to rank) drawn from a fixed, normal or log-normal (heavy-tailed) distribution
clipped to [1, max_size]. A batching policy turns the query stream into batches: `fixed` (every `batch_size`
samples), `dynamic` (up to `batch_size` samples or `timeout_us` after the oldest queued one, whichever first),
or `split` (each query cut into sub-batches of at most `batch_size` samples at its arrival, as DeepRecSys
splits queries into per-core tasks; queries of at least `offload_threshold` samples go whole to
`offload_mapping`, as its scheduler offloads large queries to the accelerator). Batches enter the timeline at
their dispatch time, `in_flight` of them at once; a query's latency runs from its arrival to the end of the
last batch holding any of its samples (queueing + service).

Each batch's samples come from one stream of the point's synthetic trace (the same popularity for every
batch, so caches warm as in a long run). `detailed` times every batch on its own samples. `analytic` times
the first batch of each (size, mapping) and reuses that profile for every later batch of the same size: the
closed forms depend on a batch's size and the trace's statistics, which the stream keeps stationary.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from accelsim.config.base import Model
from accelsim.errors import InputError
from accelsim.hw.lookups import part_layout
from accelsim.sim.engine import check_resources, counters_frame, new_machine, sharing_model
from accelsim.sim.mapping import STAGES, Mapping, resolve_mapping
from accelsim.sim.pipeline import Timeline, run_pipeline
from accelsim.sim.stages import BatchWork, batch_work, check_devices
from accelsim.workload.trace import Batch, TableBags


class PoissonArrivals(Model):
    """Open loop: exponential gaps at `qps` queries per second."""

    kind: Literal["poisson"] = "poisson"
    qps: PositiveFloat


class FileArrivals(Model):
    """Open loop: one arrival time per line, in microseconds, non-decreasing."""

    kind: Literal["file"] = "file"
    path: str


class ClosedLoopArrivals(Model):
    """`clients` users, each sending its next query `think_us` after its previous one is answered."""

    kind: Literal["closed"] = "closed"
    clients: PositiveInt
    think_us: NonNegativeFloat = 0.0


class FixedSize(Model):
    dist: Literal["fixed"] = "fixed"
    size: PositiveInt = 1


class NormalSize(Model):
    """DeepRecSys's `normal` query sizes, rounded and clipped to [1, max_size]."""

    dist: Literal["normal"] = "normal"
    mean: PositiveFloat
    std: NonNegativeFloat
    max_size: PositiveInt = 1024


class LognormalSize(Model):
    """Heavy-tailed sizes: exp(N(log median, sigma)), rounded and clipped to [1, max_size] (DeepRecSys's
    `lognormal`, parameterised by its median rather than the log-mean)."""

    dist: Literal["lognormal"] = "lognormal"
    median: PositiveFloat
    sigma: PositiveFloat
    max_size: PositiveInt = 1024


class ServeSpec(Model):
    """A serving experiment: `queries` queries through a batching policy, `in_flight` batches at once."""

    arrivals: PoissonArrivals | FileArrivals | ClosedLoopArrivals = Field(discriminator="kind")
    query_size: FixedSize | NormalSize | LognormalSize = Field(FixedSize(), discriminator="dist")
    queries: PositiveInt = 1000
    policy: Literal["fixed", "dynamic", "split"] = "dynamic"
    timeout_us: NonNegativeFloat = 100.0  # dynamic: dispatch this long after the oldest queued sample arrived
    offload_threshold: PositiveInt | None = None  # split: queries of at least this many samples go whole to ...
    offload_mapping: str | None = None  # ... this mapping (a built-in name)
    in_flight: PositiveInt = 2
    percentiles: tuple[float, ...] = (50.0, 95.0, 99.0, 99.9)


@dataclass
class ServeBatch:
    """A batch handed to the timeline: its samples' owners, its mapping and when it was dispatched."""

    release_ns: float
    size: int
    mapping: Mapping
    members: list[tuple[int, int]]  # (query, samples of it in this batch)


def query_sizes(spec: ServeSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """Samples per query."""
    q = spec.query_size
    if q.dist == "fixed":
        return np.full(n, q.size, dtype=np.int64)
    raw = rng.normal(q.mean, q.std, n) if q.dist == "normal" else np.exp(rng.normal(math.log(q.median), q.sigma, n))
    return np.clip(np.rint(raw), 1, q.max_size).astype(np.int64)


def open_arrivals_ns(spec: ServeSpec, rng: np.random.Generator) -> np.ndarray:
    """Arrival times of an open-loop stream."""
    a = spec.arrivals
    if a.kind == "poisson":
        return np.cumsum(rng.exponential(1e9 / a.qps, spec.queries))
    path = Path(a.path)
    try:
        values = np.loadtxt(path, dtype=np.float64, ndmin=1, comments="#")
    except (OSError, ValueError) as e:
        raise InputError(f"arrival timestamps: expected one number (microseconds) per line: {e}", source=str(path))
    if values.ndim != 1 or values.size == 0:
        raise InputError("arrival timestamps: expected one number (microseconds) per line", source=str(path))
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        raise InputError(f"line {bad[0] + 1}: {values[bad[0]]} is not a time >= 0", source=str(path))
    back = np.flatnonzero(np.diff(values) < 0)
    if back.size:
        raise InputError(f"line {back[0] + 2}: timestamps must not decrease", source=str(path))
    return values[:spec.queries] * 1e3


class SampleStream:
    """Consecutive samples of one synthetic trace, cut into batches of any size."""

    def __init__(self, chunks, chunk_size: int):
        self._chunks = chunks
        self._chunk_size = chunk_size
        self._cur: Batch | None = None
        self._pos = 0

    def take(self, n: int) -> Batch:
        """The next `n` samples (a batch never spans two chunks: a short remainder is skipped)."""
        if n > self._chunk_size:
            raise InputError(f"a batch of {n} samples exceeds the stream's chunk of {self._chunk_size}")
        if self._cur is None or self._pos + n > self._cur.batch_size:
            self._cur, self._pos = next(self._chunks), 0
        lo, hi = self._pos, self._pos + n
        self._pos = hi
        tables = []
        for t in self._cur.tables:
            a, b = int(t.offsets[lo]), int(t.offsets[hi])
            tables.append(TableBags(t.indices[a:b], t.offsets[lo:hi + 1] - a,
                                    None if t.weights is None else t.weights[a:b]))
        return Batch(tuple(tables))


class _Batcher:
    """Turns queries into batches as they arrive (online, so closed-loop arrivals can follow completions)."""

    def __init__(self, spec: ServeSpec, batch_size: int, mapping: Mapping, offload: Mapping | None):
        self.spec, self.B, self.mapping, self.offload = spec, batch_size, mapping, offload
        self.queue: list[list[int]] = []  # [query, samples not yet batched], oldest first
        self.arrivals: dict[int, float] = {}
        self.out: list[ServeBatch] = []

    def _cut(self, t: float, limit: int) -> None:
        members, size = [], 0
        while self.queue and size < limit:
            q = self.queue[0]
            take = min(q[1], limit - size)
            members.append((q[0], take))
            size += take
            q[1] -= take
            self.queued -= take
            if q[1] == 0:
                self.queue.pop(0)
        self.out.append(ServeBatch(t, size, self.mapping, members))

    def deadline(self) -> float:
        """When the dynamic policy dispatches a partial batch if nothing else comes."""
        if self.spec.policy != "dynamic" or not self.queue:
            return math.inf
        return self.arrivals[self.queue[0][0]] + self.spec.timeout_us * 1e3

    def on_timeout(self, t: float) -> None:
        self._cut(t, self.B)

    def arrive(self, t: float, query: int, size: int) -> None:
        spec = self.spec
        if spec.policy == "split":
            if self.offload is not None and size >= (spec.offload_threshold or math.inf):
                self.out.append(ServeBatch(t, size, self.offload, [(query, size)]))
                return
            for lo in range(0, size, self.B):
                n = min(self.B, size - lo)
                self.out.append(ServeBatch(t, n, self.mapping, [(query, n)]))
            return
        self.queue.append([query, size])
        self.arrivals[query] = t
        self.queued += size
        while self.queued >= self.B:
            self._cut(t, self.B)

    def flush(self, t: float) -> None:
        """Nothing more is coming for now: what is queued goes out as it is."""
        while self.queue:
            self._cut(t, self.B)

    queued = 0  # samples waiting


def _check(spec: ServeSpec) -> Mapping | None:
    if spec.policy != "split" and (spec.offload_threshold is not None or spec.offload_mapping is not None):
        raise InputError("serve: offload_threshold and offload_mapping apply to the split policy only")
    if (spec.offload_threshold is None) != (spec.offload_mapping is None):
        raise InputError("serve: give both offload_threshold and offload_mapping, or neither")
    return resolve_mapping(spec.offload_mapping) if spec.offload_mapping else None


@dataclass
class Served:
    """What a serving run produced: the schedule, counters, per-query table and the machine."""

    stages: pd.DataFrame
    counters: pd.DataFrame
    queries: pd.DataFrame
    machine: object


def serve_queries(p, stream_factory) -> Served:
    """Run the point's serving experiment (p: a parsed api.Point with `serve` set)."""
    spec: ServeSpec = p.serve
    offload = _check(spec)
    rng = np.random.default_rng([p.seed, 0x5E5E])
    n = spec.queries
    sizes = query_sizes(spec, n, rng)
    from accelsim.budget import check_serve_loop, check_serve_work, serve_batches  # budget imports config only
    check_serve_work(p.workload, n, int(sizes.sum()), p.fidelity, where="serve")
    n_batches = serve_batches(sizes.tolist(), p.batch_size, spec.policy, spec.offload_threshold)
    machine = new_machine(p.hw, p.workload, p.fidelity)
    mappings = [p.mapping] + ([offload] if offload is not None else [])
    for m in mappings:
        check_devices(m, machine)
        check_resources(machine, p.workload, m)
    if any(m.embedding == "sparse_engine" for m in mappings) and machine.sparse is not None \
            and machine.sparse.wants_profile:
        raise InputError("serve: a scratchpad hot-row store needs a profile of the whole trace; use "
                         "hot_cache_kind: cache for serving")
    layout = part_layout(p.workload)
    # no batch holds more samples than all the queries: a batch_size above that need not be generated
    largest = int(min(max(int(sizes.max()), p.batch_size), int(sizes.sum())))
    stream = SampleStream(stream_factory(largest), largest)
    memo: dict[tuple[int, str], BatchWork] = {}
    works: list[BatchWork] = []

    def work_of(b: ServeBatch) -> BatchWork:
        key = (b.size, b.mapping.name)
        if p.fidelity == "analytic" and key in memo:
            return memo[key]
        w = batch_work(machine, p.workload, b.mapping, stream.take(b.size), layout)
        if not memo:  # the first batch shows what each one records: the loop's cost, before it runs
            check_serve_loop(p.workload, int(sizes.sum()), n_batches, len(w.counts), p.fidelity, where="serve")
        memo.setdefault(key, w)
        return w

    batcher = _Batcher(spec, p.batch_size, p.mapping, offload)
    arrival = np.full(n, np.nan)
    line = Timeline(spec.in_flight)  # placement without sharing: when closed-loop clients see answers
    done_alone = np.zeros(n)
    unplaced = np.zeros(n, dtype=np.int64)
    closed = spec.arrivals.kind == "closed"
    events: list[tuple[float, int]] = []  # (time, query), a heap
    if closed:
        issued = min(spec.arrivals.clients, n)
        events = [(0.0, q) for q in range(issued)]
    else:
        events = [(float(t), q) for q, t in enumerate(open_arrivals_ns(spec, rng))]
        issued = len(events)
    heapq.heapify(events)
    placed = 0
    now = 0.0

    def place_new() -> None:
        nonlocal placed, issued
        while placed < len(batcher.out):
            b = batcher.out[placed]
            w = work_of(b)
            works.append(w)
            per_stage = [list(w.plan.get(s, [])) for s in STAGES]
            _, ends = line.add(per_stage, [ph.duration_ns for phs in per_stage for ph in phs], b.release_ns)
            end = max(ends, default=b.release_ns)
            for q, take in b.members:
                unplaced[q] -= take
                done_alone[q] = max(done_alone[q], end)
                if unplaced[q] == 0 and closed and issued < n:
                    heapq.heappush(events, (done_alone[q] + spec.arrivals.think_us * 1e3, issued))
                    issued += 1
            placed += 1

    while events or batcher.queue:
        nxt = events[0][0] if events else math.inf
        dl = batcher.deadline()
        if dl <= nxt and dl < math.inf:
            now = dl
            batcher.on_timeout(dl)
        elif not events:
            batcher.flush(now)
        else:
            now, q = heapq.heappop(events)
            arrival[q] = now
            unplaced[q] = sizes[q]
            batcher.arrive(now, q, int(sizes[q]))
        place_new()
    n = int(np.isfinite(arrival).sum())
    plans = [w.plan for w in works]
    release = [b.release_ns for b in batcher.out]
    stages = run_pipeline(plans, spec.in_flight, release_ns=release, share=sharing_model(machine, p.sharing))
    batch_end = stages.groupby("batch")["end_ns"].max().reindex(range(len(plans))).fillna(0.0).to_numpy()
    batch_start = stages.groupby("batch")["start_ns"].min().reindex(range(len(plans))).fillna(0.0).to_numpy()
    done = np.zeros(n)
    first_start = np.full(n, np.inf)
    for bi, b in enumerate(batcher.out):
        for q, _ in b.members:
            done[q] = max(done[q], batch_end[bi])
            first_start[q] = min(first_start[q], batch_start[bi])
    queries = pd.DataFrame({"query": np.arange(n), "size": sizes[:n], "arrival_ns": arrival[:n], "done_ns": done,
                            "latency_ns": done - arrival[:n],
                            "wait_ns": np.maximum(first_start - arrival[:n], 0.0)})
    return Served(stages, counters_frame(works), queries, machine)
