"""The timeline: batches flow through the DLRM stage graph; phases hold exclusive parts, and share bandwidth.

Exclusive parts (an engine, the CPU running an operator, the copy queue on the links) are granted first come
first served by batch arrival: batches are placed in arrival order, and a later batch only takes a part in a
gap that an earlier batch's reservation leaves, so an earlier batch never waits for a part a later one holds
(conservative backfilling, as batch schedulers place jobs). A batch takes one of `pipeline_depth` in-flight
slots, in arrival order, from its release time.

Shared parts (host DRAM, the CPU-accelerator links) are not held: phases that overlap in time share them.
`share` maps a schedule (start and end of every phase) to each phase's duration under that overlap; the
timeline reschedules with those durations until they stop changing (a fixed point), so that no phase keeps a
duration computed alone when something overlapped it. Each phase reports `contention_ns`, how much longer it
took than alone.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right, insort
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from accelsim.sim.mapping import DEPENDS_ON, STAGES

MAX_SHARING_PASSES = 8
CONVERGED_RTOL = 0.005  # durations that change by less than this between passes are a fixed point


@dataclass(frozen=True)
class Phase:
    """A span of work holding `device` (and any `also_holds` parts) for `duration_ns` when run alone.

    `traffic` is what it moves through the shared parts when alone: (part, bytes) pairs.
    """

    stage: str
    name: str
    device: str
    duration_ns: float
    also_holds: tuple[str, ...] = ()
    traffic: tuple[tuple[str, float], ...] = ()
    retime: Callable | None = field(default=None, compare=False, repr=False)  # detailed re-timing, see engine


BatchPlan = dict[str, Sequence[Phase]]  # stage -> its phases, run in order


@dataclass
class Schedule:
    """Flat arrays over every phase of every batch, in batch, stage, phase order."""

    batch: np.ndarray
    phases: list[Phase]
    start_ns: np.ndarray
    end_ns: np.ndarray


Share = Callable[[Schedule], np.ndarray]  # schedule -> each phase's duration under the schedule's overlap


class _Part:
    """Busy intervals of one exclusive part, sorted and disjoint."""

    __slots__ = ("starts", "ends")

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []

    def fit(self, t: float, d: float) -> float:
        """Earliest start >= t of a gap at least `d` long."""
        i = bisect_right(self.ends, t)
        # (an interval starting at t conflicts with any d > 0, even one so small that t + d == t)
        while i < len(self.starts) and (self.starts[i] < t + d or (d > 0 and self.starts[i] <= t)):
            t = max(t, self.ends[i])
            i += 1
        return t

    def reserve(self, s: float, e: float) -> None:
        i = bisect_right(self.starts, s)
        self.starts.insert(i, s)
        self.ends.insert(i, e)


def _flatten(plans: Sequence[BatchPlan]) -> tuple[np.ndarray, list[Phase], list[list[list[int]]]]:
    batch, phases, index = [], [], []
    for b, plan in enumerate(plans):
        per_stage = []
        for stage in STAGES:
            ids = []
            for ph in plan.get(stage, ()):
                ids.append(len(phases))
                phases.append(ph)
                batch.append(b)
            per_stage.append(ids)
        index.append(per_stage)
    return np.array(batch, dtype=np.int64), phases, index


class Timeline:
    """Exclusive parts and in-flight slots; batches are added in arrival order and placed at once."""

    def __init__(self, pipeline_depth: int):
        self.parts: dict[str, _Part] = {}
        self.slots = [0.0] * pipeline_depth
        self.deps = [[STAGES.index(d) for d in DEPENDS_ON[s]] for s in STAGES]

    def add(self, per_stage: Sequence[Sequence[Phase]], durations: Sequence[float], release_ns: float = 0.0
            ) -> tuple[list[float], list[float]]:
        """Place one batch (its phases per stage in STAGES order, durations flat in that order)."""
        t_batch = max(heapq.heappop(self.slots), release_ns)
        stage_end = [t_batch] * len(STAGES)
        starts, ends = [], []
        k = 0
        for si, phases in enumerate(per_stage):
            t = max([t_batch] + [stage_end[d] for d in self.deps[si]])
            for ph in phases:
                d = float(durations[k])
                k += 1
                held = [self.parts.setdefault(p, _Part()) for p in sorted({ph.device, *ph.also_holds})]
                while True:
                    t_fit = max(p.fit(t, d) for p in held)
                    if t_fit == t:
                        break
                    t = t_fit
                if d > 0:
                    for p in held:
                        p.reserve(t, t + d)
                starts.append(t)
                ends.append(t + d)
                t += d
            stage_end[si] = t
        heapq.heappush(self.slots, max(stage_end))
        return starts, ends


def place(plans: Sequence[BatchPlan], durations: np.ndarray, pipeline_depth: int,
          release_ns: Sequence[float] | None = None) -> Schedule:
    """Place every phase with the given durations: batches in arrival order, exclusive parts FIFO."""
    batch, phases, index = _flatten(plans)
    start = np.zeros(len(phases))
    end = np.zeros(len(phases))
    line = Timeline(pipeline_depth)
    for b, per_stage in enumerate(index):
        ids = [i for stage_ids in per_stage for i in stage_ids]
        s, e = line.add([[phases[i] for i in stage_ids] for stage_ids in per_stage], durations[ids],
                        0.0 if release_ns is None else float(release_ns[b]))
        start[ids], end[ids] = s, e
    return Schedule(batch, phases, start, end)


def run_pipeline(plans: Sequence[BatchPlan], pipeline_depth: int, *, release_ns: Sequence[float] | None = None,
                 share: Share | None = None) -> pd.DataFrame:
    """Schedule every batch's phases; one row per phase with start/end, alone and contention times."""
    _, phases, _ = _flatten(plans)
    alone = np.array([ph.duration_ns for ph in phases], dtype=np.float64)
    durations = alone
    sched = place(plans, durations, pipeline_depth, release_ns)
    passes = 1
    if share is not None:
        for _ in range(MAX_SHARING_PASSES):
            shared = np.maximum(share(sched), alone)  # sharing never speeds a phase up
            if np.allclose(shared, durations, rtol=CONVERGED_RTOL, atol=1e-9):
                break
            durations = shared
            sched = place(plans, durations, pipeline_depth, release_ns)
            passes += 1
    return schedule_frame(sched, alone, passes)


def schedule_frame(sched: Schedule, alone: np.ndarray, passes: int = 1) -> pd.DataFrame:
    """The schedule as one row per phase, in batch and start order (ties by stage, then phase name)."""
    ph = sched.phases
    stage, name = [p.stage for p in ph], [p.name for p in ph]
    # One stable lexsort over the keys (names by their sorted rank), as DataFrame.sort_values orders them,
    # and the frame built once in that order.
    order = np.lexsort((_sorted_rank(name), _sorted_rank(stage), sched.start_ns, sched.batch))
    start, end, alone = sched.start_ns[order], sched.end_ns[order], alone[order]
    duration = end - start
    df = pd.DataFrame({
        "batch": sched.batch[order], "stage": [stage[i] for i in order], "phase": [name[i] for i in order],
        "device": [ph[i].device for i in order], "also_holds": [",".join(ph[i].also_holds) for i in order],
        "start_ns": start, "end_ns": end, "duration_ns": duration, "alone_ns": alone,
        "contention_ns": np.maximum(duration - alone, 0.0)})
    df.attrs["sharing_passes"] = passes
    return df


def _sorted_rank(values: list[str]) -> np.ndarray:
    """Each string's rank among the distinct values, sorted."""
    rank = {v: i for i, v in enumerate(sorted(set(values)))}
    return np.array([rank[v] for v in values], dtype=np.int64)
