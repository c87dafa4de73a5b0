"""One simulated run: build the machine, time every stage of every batch on its device, schedule them in SimPy.

Stage timings come from the component models (request-level caches, DRAM and links for `detailed`; their
closed-form twins and one-pass bounds for `analytic`). Devices are exclusive resources in the SimPy pipeline,
so stages that share a device serialise and stages on different devices overlap, across batches too.
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
from accelsim.hw.lookups import Lookups, expand_lookups, part_layout, scratch_base
from accelsim.sim.machine import Machine
from accelsim.sim.mapping import Mapping
from accelsim.sim.pipeline import run_pipeline
from accelsim.sim.stages import batch_work, check_devices
from accelsim.workload.trace import Batch


def simulate_batches(hw: SystemConfig, spec: ModelSpec, mapping: Mapping, batches: Sequence[Batch],
                     fidelity: str) -> tuple[pd.DataFrame, pd.DataFrame, Machine]:
    """(stage schedule, counters) of running `batches` back to back."""
    machine = Machine(hw, fidelity, scratch_base(spec))
    check_devices(mapping, machine)
    if hw.accelerator is not None and mapping.embedding == "sparse_engine":
        # the engine is built for the workload's tables: dequantisers and index units for compressed ones
        machine.resources = resource_usage(hw.accelerator, spec)
        check_fits(machine.resources, hw.accelerator.device)
    if machine.scratch_base_addr > hw.dram.capacity_bytes:
        raise InputError(f"workload {spec.name!r}: tables need {machine.scratch_base_addr / 2**30:.1f} GiB, "
                         f"host DRAM of {hw.name} holds {hw.dram.capacity_bytes / 2**30:.1f} GiB")
    layout = part_layout(spec)
    if machine.sparse is not None and mapping.embedding == "sparse_engine" and machine.sparse.wants_profile:
        # The profile is the replayed trace itself: an upper bound on what profiling past traffic achieves.
        machine.sparse.pin_hot_rows(_part_streams(spec, layout, batches), layout.row_bytes)
    work = [batch_work(machine, spec, mapping, b, layout) for b in batches]
    stages = run_pipeline([w.plan for w in work], mapping.pipeline_depth)
    counters = pd.DataFrame(
        [(b, *c) for b, w in enumerate(work) for c in w.counts],
        columns=["batch", "device", "component", "counter", "value"])
    return stages, counters, machine


def _part_streams(spec: ModelSpec, layout, batches: Sequence[Batch]) -> list[np.ndarray]:
    """Row ids read from each stored part over all batches (compressed lookups expanded into part reads)."""
    table = np.concatenate([np.full(b.tables[t].indices.size, t, np.int64) for b in batches
                            for t in range(spec.num_tables)])
    row = np.concatenate([b.tables[t].indices for b in batches for t in range(spec.num_tables)]).astype(np.int64)
    zeros = np.zeros(row.size, np.int64)
    reads = expand_lookups(Lookups(table, row, zeros, zeros, 1), spec, layout).reads
    return [reads.row[reads.table == p] for p in range(layout.bases.size)]
