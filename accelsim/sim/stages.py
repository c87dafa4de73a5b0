"""Per-batch stage plans: each DLRM stage timed on the device the mapping gives it, with its action counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.hw.cpu import GemmOperands
from accelsim.hw.lookups import PartLayout, split_lookups
from accelsim.hw.sparse_engine import HostReadPath
from accelsim.sim.decompress import decompress_phases
from accelsim.sim.machine import Machine
from accelsim.sim.mapping import STAGES, Mapping
from accelsim.sim.pipeline import Phase
from accelsim.sim.shared import Port, Stream
from accelsim.workload.trace import Batch


@dataclass
class BatchWork:
    """Phases and action counts of one batch."""

    plan: dict[str, list[Phase]]
    counts: list[tuple[str, str, str, float]]  # device, component, counter, value


def check_devices(mapping: Mapping, machine: Machine) -> None:
    for stage in STAGES:
        dev = mapping.device_of(stage)
        if dev == "sparse_engine" and machine.sparse is None:
            raise InputError(f"mapping {mapping.name!r}: {stage} needs a sparse engine, {machine.hw.name} has none")
        if dev == "dense_engine" and machine.dense is None:
            raise InputError(f"mapping {mapping.name!r}: {stage} needs a dense engine, {machine.hw.name} has none")


@dataclass(frozen=True)
class Retimer:
    """Re-times one phase with other phases' requests as background; `stream` is its own, timed alone."""

    machine: Machine
    timer: Callable[[Port], tuple[float, object]]
    tape: object
    stream: Stream

    def __call__(self, background: Stream) -> tuple[float, Stream]:
        """(duration, own requests) of the phase among `background` (times relative to its start)."""
        port = Port(self.machine, background)
        self.machine.tapes.replay(self.tape)
        try:
            duration = self.timer(port)[0]
        finally:
            self.machine.tapes.stop()
        return duration, port.stream()


def _alone(machine: Machine, timer: Callable[[Port], tuple[float, object]]) -> tuple[float, object, Retimer | None]:
    """(duration, result, re-timer) of a phase that uses the shared parts, timed with nothing else running."""
    port = machine.port()
    detailed = machine.fidelity == "detailed"
    tape = machine.tapes.record() if detailed else None
    try:
        duration, result = timer(port)
    finally:
        machine.tapes.stop()
    return duration, result, Retimer(machine, timer, tape, port.stream()) if detailed else None


ACTIVATIONS_ALIGN_BYTES = 4096  # activations start on a page past the weights


def _cross_layers(spec: ModelSpec) -> list[tuple[int, int]]:
    """DCNv2 cross layers (each a rank-r factorised matrix), which run where the interaction runs."""
    layers: list[tuple[int, int]] = []
    if spec.dcnv2 is not None:
        for _ in range(spec.dcnv2.layers):
            layers += [(spec.top_input_width, spec.dcnv2.rank), (spec.dcnv2.rank, spec.top_input_width)]
    return layers


def _stage_layers(spec: ModelSpec) -> dict[str, list[tuple[int, int]]]:
    """The (fan_in, fan_out) layers of every stage that has them, in stage order."""
    return {"bottom_mlp": list(spec.bottom_layers), "interaction": _cross_layers(spec),
            "top_mlp": list(spec.top_layers)}


def _mlp_operands(machine: Machine, spec: ModelSpec, stage: str, batch: int) -> list[GemmOperands]:
    """Where each CPU layer of `stage` finds its operands.

    Every stage's weights sit in host memory from the scratch base, at the same place for every batch (so the
    LLC keeps them from batch to batch when they fit); activations follow, two buffers each layer's input and
    output alternate between."""
    e = spec.elem_bytes
    stages = _stage_layers(spec)
    w_addr = machine.scratch_base_addr
    for name, layers in stages.items():
        if name == stage:
            break
        w_addr += sum(i * o for i, o in layers) * e
    end = machine.scratch_base_addr + sum(i * o for ls in stages.values() for i, o in ls) * e
    act = -(-end // ACTIVATIONS_ALIGN_BYTES) * ACTIVATIONS_ALIGN_BYTES
    half = -(-batch * max(w for ls in stages.values() for io in ls for w in io) * e // ACTIVATIONS_ALIGN_BYTES) \
        * ACTIVATIONS_ALIGN_BYTES
    ops = []
    for li, (fan_in, fan_out) in enumerate(stages[stage]):
        ops.append(GemmOperands(act + (li % 2) * half, w_addr, act + ((li + 1) % 2) * half, e))
        w_addr += fan_in * fan_out * e
    return ops


def _mlp_on_cpu(machine: Machine, spec: ModelSpec, batch: int, stage: str, counts: list) -> list[Phase]:
    """The stage's layers one after another on the CPU, each as long as its compute or its operands' memory
    traffic, whichever is longer."""
    layers = _stage_layers(spec)[stage]
    ops = _mlp_operands(machine, spec, stage, batch)
    gemms = [machine.cpu.gemm(batch, fan_in, fan_out) for fan_in, fan_out in layers]
    for (fan_in, fan_out), op in zip(layers, ops):
        machine.cpu.load_weights(op.w_addr, fan_in * fan_out * op.elem_bytes)

    def timer(port: Port):
        t, mem = 0.0, []
        for (fan_in, fan_out), g, op in zip(layers, gemms, ops):
            m = machine.cpu.gemm_memory(batch, fan_in, fan_out, op, port.dram, t, g.time_ns, g.cores_used)
            t = max(t + g.time_ns, m.end_ns)
            mem.append(m)
        return t, mem
    total, mem, retime = _alone(machine, timer)
    dram: dict[str, float] = {}
    for m in mem:
        for k, v in m.dram_counters.items():
            dram[k] = dram.get(k, 0.0) + v
    for g in gemms:
        counts.append(("cpu", stage, "flops", float(g.flops)))
    counts.append(("cpu", stage, "core_ns", sum(g.time_ns * g.cores_used for g in gemms)))
    counts.append(("cpu", stage, "llc_accesses", float(sum(m.llc_accesses for m in mem))))
    counts.extend(("dram", stage, k, v) for k, v in dram.items())
    dram_bytes = float(sum(m.dram_lines for m in mem) * machine.cpu.line_bytes)
    return [Phase(stage, "gemm", "cpu", total, traffic=(("dram", dram_bytes),) if dram_bytes else (),
                  retime=retime if dram_bytes else None)]


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
        # Only the part of the copy the computation does not hide is a phase of its own.
        def timer(port: Port):
            xfer = machine.bulk_transfer(offchip, False, port)
            return max(0.0, xfer[0] - total), xfer
        t, (xfer_ns, bits, dram), retime = _alone(machine, timer)
        counts.append(("links", stage, "wire_bits", bits))
        counts.extend(("dram", stage, k, v) for k, v in dram.items())
        # The exposed tail moves its share of the copy's bytes, at the copy's own rate.
        part = t / xfer_ns if xfer_ns > 0 else 0.0
        traffic = (("dram", offchip * part), ("links_to_device", bits / 8 * part))
        phases.append(Phase(stage, "xfer_operands", "links", t, traffic=traffic, retime=retime))
    return phases


def _copy(machine: Machine, stage: str, name: str, nbytes: int, to_host: bool, counts: list) -> Phase:
    """A bulk copy between host memory and the accelerator, as a phase holding the links."""
    t, (_, bits, dram), retime = _alone(machine, lambda port: (lambda r: (r[0], r))(
        machine.bulk_transfer(nbytes, to_host, port)))
    counts.append(("links", stage, "wire_bits", bits))
    counts.append(("links", stage, "payload_bytes", float(nbytes)))
    counts.extend(("dram", stage, k, v) for k, v in dram.items())
    traffic = (("dram", float(nbytes)), ("links_to_host" if to_host else "links_to_device", bits / 8))
    return Phase(stage, name, "links", t, traffic=traffic, retime=retime)


def _dram_bytes(g) -> float:
    return float(g.dram_counters.get("bytes_read", 0.0) + g.dram_counters.get("bytes_written", 0.0))


def batch_work(machine: Machine, spec: ModelSpec, mapping: Mapping, batch: Batch, layout: PartLayout) -> BatchWork:
    """Time every stage of one batch on the device the mapping puts it on, and count its actions."""
    B = batch.batch_size
    counts: list[tuple[str, str, str, float]] = []
    plan: dict[str, list[Phase]] = {s: [] for s in STAGES}
    elem = spec.elem_bytes
    dim = spec.embedding_dim
    pooled_bytes = B * spec.pooled_width * elem
    analytic = machine.fidelity == "analytic"
    counts.append(("workload", "embedding", "lookups", float(batch.num_lookups)))
    counts.append(("workload", "embedding", "bytes_gathered", float(sum(
        bags.num_lookups * t.bytes_gathered_per_lookup for t, bags in zip(spec.table_list, batch.tables)))))

    # embedding
    if mapping.embedding == "cpu":
        t, g, retime = _alone(machine, lambda port: (lambda r: (r.time_ns, r))(
            machine.cpu.gather(batch, spec, layout, port.dram, analytic=analytic)))
        plan["embedding"].append(Phase("embedding", "gather", "cpu", t, traffic=(("dram", _dram_bytes(g)),),
                                       retime=retime))
        counts += [("cpu", "embedding", "core_ns", g.core_busy_ns), ("cpu", "embedding", "lines", float(g.lines)),
                   ("cpu", "embedding", "miss_latency_avg_ns", g.mean_miss_latency_ns)]
        for lvl, cfg in enumerate(machine.cpu.cfg.caches):
            counts.append(("cpu", "embedding", f"{cfg.name}_accesses", float((g.served_by >= lvl).sum())))
        counts += [("dram", "embedding", k, v) for k, v in g.dram_counters.items()]
        if mapping.interaction != "cpu":
            plan["embedding"].append(_copy(machine, "embedding", "xfer_pooled_to_device",
                                                pooled_bytes, False, counts))
    else:
        eng = machine.sparse
        lk = split_lookups(batch, eng.cfg.gather_units)

        def read_path(port: Port, idle: HostReadPath | None = None) -> HostReadPath:
            return HostReadPath(port.new_links, port.dram, eng.cfg.line_bytes, machine.scratch_base_addr,
                                machine.hw.cpu.memory_fabric_latency_ns, idle)

        def timer(port: Port):
            r = eng.gather(lk, spec, layout, read_path(port, read_path(machine.port())), analytic=analytic)
            return r.time_ns, r
        t, g, retime = _alone(machine, timer)
        # The gather streams over the links for its whole span: bulk copies share them with it.
        traffic = (("dram", _dram_bytes(g)), ("links_to_device", float(g.link_payload_bytes + g.link_header_bytes)))
        plan["embedding"].append(Phase("embedding", "gather", "sparse_engine", t, traffic=traffic, retime=retime))
        counts += [("sparse_engine", "embedding", k, v) for k, v in g.counters()]
        counts += [("sparse_engine", "embedding", "sram_bytes", float(g.lines * eng.cfg.line_bytes)),
                   ("links", "embedding", "payload_bytes", float(g.link_payload_bytes)),
                   ("links", "embedding", "wire_bits", g.link_bits)]
        counts += [("dram", "embedding", k, v) for k, v in g.dram_counters.items()]
        if mapping.interaction == "cpu":
            plan["embedding"].append(_copy(machine, "embedding", "xfer_pooled_to_host",
                                                pooled_bytes, True, counts))

    plan["embedding"] += decompress_phases(machine, spec, mapping, batch, counts)

    # bottom MLP (its dense input lives in host memory)
    if mapping.bottom_mlp == "cpu":
        plan["bottom_mlp"] += _mlp_on_cpu(machine, spec, B, "bottom_mlp", counts)
    else:
        plan["bottom_mlp"].append(_copy(machine, "bottom_mlp", "xfer_dense_to_device",
                                             B * spec.dense_features * elem, False, counts))
        plan["bottom_mlp"] += _mlp_on_dense(machine, spec.bottom_layers, B, "bottom_mlp", counts)
        if mapping.interaction == "cpu":
            plan["bottom_mlp"].append(_copy(machine, "bottom_mlp", "xfer_bottom_to_host",
                                                 B * spec.bottom_out_width * elem, True, counts))

    # interaction (+ DCNv2 cross layers, which run where the interaction runs)
    F = spec.num_features
    cross_layers = _cross_layers(spec)
    if mapping.interaction == "cpu":
        if spec.interaction == "dot":
            t, g = machine.cpu.dot_interaction(B, F, dim)
            counts.append(("cpu", "interaction", "flops", float(g.flops)))
            counts.append(("cpu", "interaction", "core_ns", g.time_ns * g.cores_used))
        else:
            t = machine.cpu.cfg.op_overhead_ns
        plan["interaction"].append(Phase("interaction", "interact", "cpu", t))
        if cross_layers:
            plan["interaction"] += _mlp_on_cpu(machine, spec, B, "interaction", counts)
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
        plan["top_mlp"] += _mlp_on_cpu(machine, spec, B, "top_mlp", counts)
    else:
        plan["top_mlp"] += _mlp_on_dense(machine, spec.top_layers, B, "top_mlp", counts)
        plan["top_mlp"].append(_copy(machine, "top_mlp", "xfer_ctr_to_host", B * elem, True, counts))
    return BatchWork(plan, counts)
