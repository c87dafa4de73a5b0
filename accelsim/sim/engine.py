"""One simulated run: build the machine, time every stage of every batch alone, then place them on a timeline
where overlapping phases share host DRAM and the links.

Stage timings come from the component models (request-level caches, DRAM and links for `detailed`; their
closed-form twins and one-pass bounds for `analytic`). Exclusive parts are granted in batch-arrival order
(sim.pipeline). Overlapping phases then share bandwidth: in `detailed` their request streams meet in the same
DRAM and link models (sim.shared); in `analytic` as max-min fair fluid flows (sim.fluid).
The real outputs of the same inputs come from the functional model (accelsim.sim.functional).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from accelsim.config.system import SystemConfig
from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.hw.fpga_resources import check_fits, resource_usage
from accelsim.hw.lookups import Lookups, PartLayout, expand_lookups, part_layout, scratch_base
from accelsim.sim.fluid import fluid_durations
from accelsim.sim.machine import Machine
from accelsim.sim.mapping import Mapping
from accelsim.sim.pipeline import CONVERGED_RTOL, Schedule, Share, run_pipeline
from accelsim.sim.shared import Stream
from accelsim.sim.stages import BatchWork, batch_work, check_devices
from accelsim.workload.trace import Batch

# A phase whose overlapping traffic is under this fraction of its own requests keeps its alone timing: what
# so little background changes is below what re-simulating it resolves.
MIN_BACKGROUND_FRACTION = 0.01
# Background requests further than this before a phase starts, or past twice its length, cannot queue with it.
BACKGROUND_MARGIN_NS = 2000.0


def check_capacity(hw: SystemConfig, spec: ModelSpec, where: str | None = None) -> None:
    """The host DRAM holds the workload's tables; `where` is the workload file an error names."""
    need = scratch_base(spec)
    if need > hw.dram.capacity_bytes:
        raise InputError(f"tables: workload {spec.name!r} needs {need / 2**30:.1f} GiB for its tables, host DRAM "
                         f"of {hw.name} holds {hw.dram.capacity_bytes / 2**30:.1f} GiB", source=where)


def new_machine(hw: SystemConfig, spec: ModelSpec, fidelity: str) -> Machine:
    """The machine of a run, checked to hold the workload's tables."""
    check_capacity(hw, spec)
    return Machine(hw, fidelity, scratch_base(spec))


def capacity_gbps(hw: SystemConfig) -> dict[str, float]:
    """Peak bandwidth of every shared part (what the fluid model divides)."""
    caps = {"dram": hw.dram.peak_bandwidth_gbps}
    if hw.links is not None:
        caps["links_to_device"] = caps["links_to_host"] = sum(ch.bandwidth_gbps for ch in hw.links.channels)
    return caps


def detailed_share() -> Share:
    """Re-time every phase that overlaps others' traffic with their latest request streams as background."""
    streams: dict[int, Stream] = {}
    version: dict[int, int] = {}
    last: dict[int, tuple[tuple, float]] = {}  # phase -> (what its background was made of, its duration)

    def share(sched: Schedule) -> np.ndarray:
        dur = np.array([ph.duration_ns for ph in sched.phases], dtype=np.float64)
        idx = np.array([i for i, ph in enumerate(sched.phases) if ph.retime is not None
                        and ph.retime.stream.requests and dur[i] > 0], dtype=np.int64)
        if idx.size < 2:
            return dur
        order = idx[np.argsort(sched.start_ns[idx], kind="stable")]
        starts = sched.start_ns[order]
        ends = sched.end_ns[order]
        longest = float((ends - starts).max())
        for k, i in enumerate(order):
            i = int(i)
            s, e = starts[k], ends[k]
            lo = int(np.searchsorted(starts, s - longest, side="left"))
            hi = int(np.searchsorted(starts, e, side="left"))
            others = [int(order[j]) for j in range(lo, hi) if j != k and ends[j] > s]
            key = tuple((j, version.get(j, 0), round(float(sched.start_ns[j] - s), 1)) for j in others)
            if i in last and last[i][0] == key:
                dur[i] = last[i][1]
                continue
            own = streams.get(i, sched.phases[i].retime.stream)
            bg = Stream.concat([streams.get(j, sched.phases[j].retime.stream).shifted(sched.start_ns[j] - s)
                                for j in others]).within(-BACKGROUND_MARGIN_NS, 2 * (e - s) + BACKGROUND_MARGIN_NS)
            if bg.requests >= MIN_BACKGROUND_FRACTION * max(own.requests, 1):
                d, stream = sched.phases[i].retime(bg)
                # A stream that barely moved keeps its version, so phases it overlaps need no new timing.
                if abs(d - last.get(i, ((), sched.phases[i].duration_ns))[1]) > CONVERGED_RTOL * d:
                    streams[i], version[i] = stream, version.get(i, 0) + 1
                dur[i] = d
            last[i] = (key, dur[i])
        return dur

    return share


def check_resources(machine: Machine, spec: ModelSpec, mapping: Mapping) -> None:
    """The sparse engine is built for the workload's tables (dequantisers, index units): check that it fits."""
    hw = machine.hw
    if hw.accelerator is not None and mapping.embedding == "sparse_engine":
        machine.resources = resource_usage(hw.accelerator, spec)
        check_fits(machine.resources, hw.accelerator.device)


def time_batches(machine: Machine, spec: ModelSpec, mapping: Mapping, batches: Sequence[Batch],
                 layout: PartLayout) -> list[BatchWork]:
    """Every batch's phases timed alone, in order (caches carry their contents from batch to batch)."""
    check_devices(mapping, machine)
    check_resources(machine, spec, mapping)
    if machine.sparse is not None and mapping.embedding == "sparse_engine" and machine.sparse.wants_profile:
        # The profile is the replayed trace itself: an upper bound on what profiling past traffic achieves.
        machine.sparse.pin_hot_rows(_part_streams(spec, layout, batches), layout.row_bytes)
    return [batch_work(machine, spec, mapping, b, layout) for b in batches]


def sharing_model(machine: Machine, sharing: bool) -> Share | None:
    """How overlapping phases share bandwidth at this machine's fidelity (None: they do not)."""
    if not sharing:
        return None
    if machine.fidelity == "detailed":
        return detailed_share()
    caps = capacity_gbps(machine.hw)
    return lambda sched: fluid_durations(sched, np.array([p.duration_ns for p in sched.phases]), caps)


def counters_frame(work: Sequence[BatchWork]) -> pd.DataFrame:
    """Action counts of every batch, long format."""
    rows = [(b, *c) for b, w in enumerate(work) for c in w.counts]
    columns = ("batch", "device", "component", "counter", "value")
    return pd.DataFrame({c: [r[i] for r in rows] for i, c in enumerate(columns)})


def simulate_batches(hw: SystemConfig, spec: ModelSpec, mapping: Mapping, batches: Sequence[Batch],
                     fidelity: str, sharing: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, Machine]:
    """(stage schedule, counters) of running `batches` back to back."""
    machine = new_machine(hw, spec, fidelity)
    check_devices(mapping, machine)
    work = time_batches(machine, spec, mapping, batches, part_layout(spec))
    stages = run_pipeline([w.plan for w in work], mapping.pipeline_depth, share=sharing_model(machine, sharing))
    return stages, counters_frame(work), machine


def _part_streams(spec: ModelSpec, layout, batches: Sequence[Batch]) -> list[np.ndarray]:
    """Row ids read from each stored part over all batches (compressed lookups expanded into part reads)."""
    table = np.concatenate([np.full(b.tables[t].indices.size, t, np.int64) for b in batches
                            for t in range(spec.num_tables)])
    row = np.concatenate([b.tables[t].indices for b in batches for t in range(spec.num_tables)]).astype(np.int64)
    zeros = np.zeros(row.size, np.int64)
    reads = expand_lookups(Lookups(table, row, zeros, zeros, 1), spec, layout).reads
    return [reads.row[reads.table == p] for p in range(layout.bases.size)]
