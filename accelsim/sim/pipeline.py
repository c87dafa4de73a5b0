"""The SimPy driver: batches flow through the DLRM stage graph; phases hold the device they run on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd
import simpy

from accelsim.sim.mapping import DEPENDS_ON, STAGES


@dataclass(frozen=True)
class Phase:
    """A span of work that holds one device (or the links) for `duration_ns`."""

    stage: str
    name: str
    device: str
    duration_ns: float


BatchPlan = dict[str, Sequence[Phase]]  # stage -> its phases, run in order


def run_pipeline(plans: Sequence[BatchPlan], pipeline_depth: int) -> pd.DataFrame:
    """Schedule every batch's phases on exclusive devices; returns one row per phase with start/end times."""
    env = simpy.Environment()
    devices = sorted({p.device for plan in plans for phases in plan.values() for p in phases})
    resources = {d: simpy.Resource(env, capacity=1) for d in devices}
    inflight = simpy.Resource(env, capacity=pipeline_depth)
    rows: list[tuple] = []

    def run_stage(b: int, stage: str, waits: list[simpy.Event]):
        if waits:
            yield env.all_of(waits)
        for ph in plans[b].get(stage, ()):
            with resources[ph.device].request() as req:
                yield req
                start = env.now
                yield env.timeout(ph.duration_ns)
                rows.append((b, stage, ph.name, ph.device, start, env.now))

    def run_batch(b: int):
        with inflight.request() as slot:
            yield slot
            done: dict[str, simpy.Process] = {}
            for stage in STAGES:  # STAGES is in dependency order
                done[stage] = env.process(run_stage(b, stage, [done[d] for d in DEPENDS_ON[stage]]))
            yield env.all_of(list(done.values()))

    for b in range(len(plans)):
        env.process(run_batch(b))
    env.run()
    df = pd.DataFrame(rows, columns=["batch", "stage", "phase", "device", "start_ns", "end_ns"])
    df["duration_ns"] = df["end_ns"] - df["start_ns"]
    return df.sort_values(["batch", "start_ns", "stage", "phase"], kind="stable").reset_index(drop=True)
