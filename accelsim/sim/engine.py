"""One simulated run: build the machine, time every stage of every batch on its device, schedule them in SimPy.

Stage timings come from the component models (request-level caches, DRAM and links for `detailed`; their
closed-form twins and one-pass bounds for `analytic`). Devices are exclusive resources in the SimPy pipeline,
so stages that share a device serialise and stages on different devices overlap, across batches too.
Every engine also computes the real outputs with the reference kernels (functional model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from accelsim.config.system import SystemConfig
from accelsim.config.workload import ModelSpec
from accelsim.hw.cpu import Cpu
from accelsim.hw.dense_engine import DenseEngine
from accelsim.hw.fpga_resources import ResourceReport, check_fits, resource_usage
from accelsim.hw.host_memory import counter_dict, make_dram
from accelsim.hw.dram import DramModel
from accelsim.hw.link import AnalyticLinkSet, LinkSet, request_line_addresses, split_requests
from accelsim.hw.sparse_engine import HostReadPath, SparseEngine
from accelsim.errors import InputError
from accelsim.kernels import reference
from accelsim.hw.lookups import scratch_base, split_lookups, table_bases
from accelsim.sim.mapping import STAGES, Mapping
from accelsim.sim.pipeline import Phase, run_pipeline
from accelsim.workload.trace import Batch
from accelsim.workload.weights import DlrmParams, dense_inputs


@dataclass
class Machine:
    """The instantiated hardware of one run; caches keep their contents from batch to batch."""

    hw: SystemConfig
    fidelity: str
    cpu: Cpu = field(init=False)
    dram: DramModel = field(init=False)
    scratch_base_addr: int = 0
    sparse: SparseEngine | None = field(init=False, default=None)
    dense: DenseEngine | None = field(init=False, default=None)
    resources: ResourceReport | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        hw = self.hw
        self.cpu = Cpu(hw.cpu)
        self.dram = make_dram(hw.dram, self.fidelity)
        acc = hw.accelerator
        if acc is not None:
            self.resources = resource_usage(acc)
            check_fits(self.resources, acc.device)
            if acc.sparse_engine is not None:
                self.sparse = SparseEngine(acc.sparse_engine, acc.clock_ghz, hw.link_cache)
            if acc.dense_engine is not None:
                self.dense = DenseEngine(acc.dense_engine, acc.clock_ghz)

    def new_links(self):
        """Idle links of this run's fidelity."""
        return LinkSet(self.hw.links) if self.fidelity == "detailed" else AnalyticLinkSet(self.hw.links)

    def bulk_transfer(self, nbytes: int, to_host: bool, base_addr: int) -> tuple[float, float, dict]:
        """(time, wire bits, DRAM counters) to copy `nbytes` between host DRAM at `base_addr` and the accelerator.

        A copy to the device reads host DRAM and sends each request when its lines are in; a copy to the host
        sends the data and writes it to DRAM as it arrives. Requests are the largest every channel accepts.
        """
        if nbytes <= 0:
            return 0.0, 0.0, {}
        line = self.hw.links.channels[0].line_bytes
        allowed = set.intersection(*(set(ch.request_lines) for ch in self.hw.links.channels))
        first, lines = split_requests(base_addr + np.arange(math.ceil(nbytes / line), dtype=np.int64) * line,
                                      tuple(sorted(allowed)), line)
        line_addr, owner = request_line_addresses(first, lines, line)
        links = self.new_links()
        direction = np.full(first.size, int(to_host), dtype=np.int8)
        if to_host:
            sent = links.transfer(np.zeros(first.size), lines * line, direction).completion_ns
            dram = self.dram.simulate(sent[owner], line_addr, np.ones(owner.size, dtype=np.bool_))
            end = float(dram.completion_ns.max())
        else:
            dram = self.dram.simulate(np.zeros(owner.size), line_addr, np.zeros(owner.size, dtype=np.bool_))
            ready = np.zeros(first.size)
            np.maximum.at(ready, owner, dram.completion_ns)
            end = float(links.transfer(ready, lines * line, direction).completion_ns.max())
        return end, float(links.counters.wire_bits.sum()), counter_dict(dram.counters)


@dataclass
class BatchWork:
    """Phases and action counts of one batch."""

    plan: dict[str, list[Phase]]
    counts: list[tuple[str, str, str, float]]  # device, component, counter, value


def _device_check(mapping: Mapping, machine: Machine) -> None:
    for stage in STAGES:
        dev = mapping.device_of(stage)
        if dev == "sparse_engine" and machine.sparse is None:
            raise InputError(f"mapping {mapping.name!r}: {stage} needs a sparse engine, {machine.hw.name} has none")
        if dev == "dense_engine" and machine.dense is None:
            raise InputError(f"mapping {mapping.name!r}: {stage} needs a dense engine, {machine.hw.name} has none")


def _mlp_on_cpu(machine: Machine, layers, batch: int, stage: str, counts: list) -> list[Phase]:
    total = 0.0
    for fan_in, fan_out in layers:
        g = machine.cpu.gemm(batch, fan_in, fan_out)
        total += g.time_ns
        counts.append(("cpu", stage, "flops", float(g.flops)))
        counts.append(("cpu", stage, "core_ns", g.time_ns * g.cores_used))
    return [Phase(stage, "gemm", "cpu", total)]


def _mlp_on_dense(machine: Machine, layers, batch: int, stage: str, counts: list) -> list[Phase]:
    timings = machine.dense.mlp(list(layers), batch, weights_resident=True)
    total = sum(t.time_ns for t in timings)
    offchip = sum(t.offchip_bytes_read + t.offchip_bytes_written for t in timings)
    counts.append(("dense_engine", stage, "macs", float(sum(t.macs for t in timings))))
    counts.append(("dense_engine", stage, "sram_bytes", float(sum(
        t.ifmap_sram_read_bytes + t.ifmap_sram_write_bytes + t.filter_sram_read_bytes + t.filter_sram_write_bytes
        + t.ofmap_sram_read_bytes + t.ofmap_sram_write_bytes for t in timings))))
    phases = [Phase(stage, "gemm", "dense_engine", total)]
    # Operands that do not fit the engine's buffers stream over the links while it computes.
    if offchip:
        xfer, bits, dram = machine.bulk_transfer(offchip, False, machine.scratch_base_addr)
        counts.append(("links", stage, "wire_bits", bits))
        counts.extend(("dram", stage, k, v) for k, v in dram.items())
        phases.append(Phase(stage, "xfer_operands", "links", max(0.0, xfer - total)))
    return phases


def _copy(machine: Machine, stage: str, name: str, nbytes: int, to_host: bool, counts: list) -> Phase:
    """A bulk copy between host memory and the accelerator, as a phase holding the links."""
    # Activations live in a buffer past the tables; the exact place only matters for DRAM row locality.
    t, bits, dram = machine.bulk_transfer(nbytes, to_host, machine.scratch_base_addr)
    counts.append(("links", stage, "wire_bits", bits))
    counts.append(("links", stage, "payload_bytes", float(nbytes)))
    counts.extend(("dram", stage, k, v) for k, v in dram.items())
    return Phase(stage, name, "links", t)


def batch_work(machine: Machine, spec: ModelSpec, mapping: Mapping, batch: Batch, bases: np.ndarray) -> BatchWork:
    """Time every stage of one batch on the device the mapping puts it on, and count its actions."""
    B = batch.batch_size
    counts: list[tuple[str, str, str, float]] = []
    plan: dict[str, list[Phase]] = {s: [] for s in STAGES}
    elem = spec.elem_bytes
    row_bytes, dim = spec.row_bytes, spec.embedding_dim
    analytic = machine.fidelity == "analytic"
    counts.append(("workload", "embedding", "lookups", float(batch.num_lookups)))
    counts.append(("workload", "embedding", "bytes_gathered", float(batch.num_lookups * row_bytes)))

    # embedding
    if mapping.embedding == "cpu":
        g = machine.cpu.gather(batch, bases, row_bytes, dim, machine.dram, analytic=analytic)
        plan["embedding"].append(Phase("embedding", "gather", "cpu", g.time_ns))
        counts += [("cpu", "embedding", "core_ns", g.core_busy_ns), ("cpu", "embedding", "lines", float(g.lines)),
                   ("cpu", "embedding", "miss_latency_avg_ns", g.mean_miss_latency_ns)]
        for lvl, cfg in enumerate(machine.cpu.cfg.caches):
            counts.append(("cpu", "embedding", f"{cfg.name}_accesses", float((g.served_by >= lvl).sum())))
        counts += [("dram", "embedding", k, v) for k, v in g.dram_counters.items()]
        if mapping.interaction != "cpu":
            plan["embedding"].append(_copy(machine, "embedding", "xfer_pooled_to_device",
                                                spec.num_tables * B * dim * elem, False, counts))
    else:
        eng = machine.sparse
        lk = split_lookups(batch, eng.cfg.gather_units)
        path = HostReadPath(machine.new_links, machine.dram, eng.cfg.line_bytes, machine.scratch_base_addr)
        g = eng.gather(lk, bases, row_bytes, dim, path, analytic=analytic)
        plan["embedding"].append(Phase("embedding", "gather", "sparse_engine", g.time_ns))
        counts += [("sparse_engine", "embedding", k, v) for k, v in g.counters()]
        counts += [("sparse_engine", "embedding", "sram_bytes", float(g.lines * eng.cfg.line_bytes)),
                   ("links", "embedding", "payload_bytes", float(g.link_payload_bytes)),
                   ("links", "embedding", "wire_bits", g.link_bits)]
        counts += [("dram", "embedding", k, v) for k, v in g.dram_counters.items()]
        if mapping.interaction == "cpu":
            plan["embedding"].append(_copy(machine, "embedding", "xfer_pooled_to_host",
                                                spec.num_tables * B * dim * elem, True, counts))

    # bottom MLP (its dense input lives in host memory)
    if mapping.bottom_mlp == "cpu":
        plan["bottom_mlp"] += _mlp_on_cpu(machine, spec.bottom_layers, B, "bottom_mlp", counts)
    else:
        plan["bottom_mlp"].append(_copy(machine, "bottom_mlp", "xfer_dense_to_device",
                                             B * spec.dense_features * elem, False, counts))
        plan["bottom_mlp"] += _mlp_on_dense(machine, spec.bottom_layers, B, "bottom_mlp", counts)
        if mapping.interaction == "cpu":
            plan["bottom_mlp"].append(_copy(machine, "bottom_mlp", "xfer_bottom_to_host",
                                                 B * spec.bottom_out_width * elem, True, counts))

    # interaction (+ DCNv2 cross layers, which run where the interaction runs)
    F = spec.num_features
    cross_layers = []
    if spec.dcnv2 is not None:
        for _ in range(spec.dcnv2.layers):
            cross_layers += [(spec.top_input_width, spec.dcnv2.rank), (spec.dcnv2.rank, spec.top_input_width)]
    if mapping.interaction == "cpu":
        t = machine.cpu.cfg.op_overhead_ns
        if spec.interaction == "dot":
            g = machine.cpu.gemm(B * F, dim, F)
            t += g.time_ns
            counts.append(("cpu", "interaction", "flops", float(g.flops)))
            counts.append(("cpu", "interaction", "core_ns", g.time_ns * g.cores_used))
        plan["interaction"].append(Phase("interaction", "interact", "cpu", t))
        if cross_layers:
            plan["interaction"] += _mlp_on_cpu(machine, cross_layers, B, "interaction", counts)
        if mapping.top_mlp != "cpu":
            plan["interaction"].append(_copy(machine, "interaction", "xfer_features_to_device",
                                                  B * spec.top_input_width * elem, False, counts))
    else:
        if spec.interaction == "dot":
            it = machine.dense.interaction(B, F, dim)
            plan["interaction"].append(Phase("interaction", "interact", "dense_engine", it.time_ns))
            counts.append(("dense_engine", "interaction", "macs", float(it.macs)))
        if cross_layers:
            plan["interaction"] += _mlp_on_dense(machine, cross_layers, B, "interaction", counts)
        if mapping.top_mlp == "cpu":
            plan["interaction"].append(_copy(machine, "interaction", "xfer_features_to_host",
                                                  B * spec.top_input_width * elem, True, counts))

    # top MLP; the click probabilities end in host memory
    if mapping.top_mlp == "cpu":
        plan["top_mlp"] += _mlp_on_cpu(machine, spec.top_layers, B, "top_mlp", counts)
    else:
        plan["top_mlp"] += _mlp_on_dense(machine, spec.top_layers, B, "top_mlp", counts)
        plan["top_mlp"].append(_copy(machine, "top_mlp", "xfer_ctr_to_host", B * elem, True, counts))
    return BatchWork(plan, counts)


def functional_pass(spec: ModelSpec, batches: Sequence[Batch], seed: int) -> list[reference.DlrmOutputs]:
    """Every intermediate (pooled embeddings, interaction, CTR) of every batch, from the reference kernels."""
    params = DlrmParams.from_spec(spec, seed)
    return [reference.dlrm_forward(params, dense_inputs(spec, batch.batch_size, seed, b), batch)
            for b, batch in enumerate(batches)]


def functional_outputs(spec: ModelSpec, batches: Sequence[Batch], seed: int) -> pd.DataFrame:
    """CTR of every sample (batch, sample, ctr): the model's real predictions on the simulated inputs."""
    frames = [pd.DataFrame({"batch": b, "sample": np.arange(out.ctr.size), "ctr": out.ctr})
              for b, out in enumerate(functional_pass(spec, batches, seed))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["batch", "sample", "ctr"])


def simulate_batches(hw: SystemConfig, spec: ModelSpec, mapping: Mapping, batches: Sequence[Batch],
                     fidelity: str) -> tuple[pd.DataFrame, pd.DataFrame, Machine]:
    """(stage schedule, counters) of running `batches` back to back."""
    machine = Machine(hw, fidelity, scratch_base(spec))
    _device_check(mapping, machine)
    if machine.scratch_base_addr > hw.dram.capacity_bytes:
        raise InputError(f"workload {spec.name!r}: tables need {machine.scratch_base_addr / 2**30:.1f} GiB, "
                         f"host DRAM of {hw.name} holds {hw.dram.capacity_bytes / 2**30:.1f} GiB")
    bases = table_bases(spec)
    if machine.sparse is not None and mapping.embedding == "sparse_engine" and machine.sparse.wants_profile:
        # The profile is the replayed trace itself: an upper bound on what profiling past traffic achieves.
        machine.sparse.pin_hot_rows([np.concatenate([b.tables[t].indices for b in batches])
                                     for t in range(spec.num_tables)], spec.row_bytes)
    work = [batch_work(machine, spec, mapping, b, bases) for b in batches]
    stages = run_pipeline([w.plan for w in work], mapping.pipeline_depth)
    counters = pd.DataFrame(
        [(b, *c) for b, w in enumerate(work) for c in w.counts],
        columns=["batch", "device", "component", "counter", "value"])
    return stages, counters, machine
