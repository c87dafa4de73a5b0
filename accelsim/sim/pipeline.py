"""The SimPy driver: batches flow through the DLRM stage graph; phases hold the device they run on.

A phase may also hold other shared parts for its whole span (a gather on the accelerator keeps the CPU-FPGA
links busy). A phase takes its parts one at a time in one global order, so two phases never wait on each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd
import simpy

from accelsim.sim.mapping import DEPENDS_ON, STAGES


@dataclass(frozen=True)
class Phase:
    """A span of work that holds one device (or the links), and any `also_holds` parts, for `duration_ns`."""

    stage: str
    name: str
    device: str
    duration_ns: float
    also_holds: tuple[str, ...] = ()


BatchPlan = dict[str, Sequence[Phase]]  # stage -> its phases, run in order


def run_pipeline(plans: Sequence[BatchPlan], pipeline_depth: int) -> pd.DataFrame:
    """Schedule every batch's phases on exclusive devices; returns one row per phase with start/end times."""
    env = simpy.Environment()
    devices = sorted({d for plan in plans for phases in plan.values() for p in phases
                      for d in (p.device, *p.also_holds)})
    resources = {d: simpy.Resource(env, capacity=1) for d in devices}
    inflight = simpy.Resource(env, capacity=pipeline_depth)
    rows: list[tuple] = []

    def run_stage(b: int, stage: str, waits: list[simpy.Event]):
        if waits:
            yield env.all_of(waits)
        for ph in plans[b].get(stage, ()):
            held = []
            try:
                for d in sorted({ph.device, *ph.also_holds}):  # one global order: no circular waits
                    req = resources[d].request()
                    held.append((d, req))
                    yield req
                start = env.now
                yield env.timeout(ph.duration_ns)
                rows.append((b, stage, ph.name, ph.device, ",".join(ph.also_holds), start, env.now))
            finally:
                for d, req in held:
                    resources[d].release(req)

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
    df = pd.DataFrame(rows, columns=["batch", "stage", "phase", "device", "also_holds", "start_ns", "end_ns"])
    df["duration_ns"] = df["end_ns"] - df["start_ns"]
    return df.sort_values(["batch", "start_ns", "stage", "phase"], kind="stable").reset_index(drop=True)
