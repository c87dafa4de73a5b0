"""The compute compressed tables add after the gather: md projections, QR combines, TT / low-rank rebuilds.

Where it runs: on the device of the interaction (the pooled vectors go there next), so a mapping that puts the
interaction on the dense engine puts the projection there too; on a CPU gather the per-lookup rebuilds (TT,
low rank) are already in the gather loop (Cpu.read_cycles) and only the per-bag work remains. When the gather
ran on the sparse engine, which has adders only, per-lookup rebuilds run here as well.
"""

from __future__ import annotations

import math

from accelsim.config.workload import ModelSpec, Table
from accelsim.sim.machine import Machine
from accelsim.sim.mapping import Mapping
from accelsim.sim.pipeline import Phase
from accelsim.workload.trace import Batch


def _rebuild_gemms(t: Table) -> list[tuple[int, int, int]]:
    """(m, k, n) of the GEMMs that rebuild one looked-up row: TT core by core, low rank as u @ V."""
    c = t.compression
    if c is not None and c.scheme == "tt":
        r, width, out = (1, *c.ranks, 1), c.dim_factors[0], []
        for k in range(1, len(c.dim_factors)):
            out.append((width, r[k], c.dim_factors[k] * r[k + 1]))
            width *= c.dim_factors[k]
        return out
    if c is not None and c.scheme == "lowrank":
        return [(1, c.rank, t.dim)]
    return []


def _bag_gemms(t: Table, bags: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of per-bag GEMMs: each md block's pooled vectors times its projection."""
    c = t.compression
    if c is not None and c.scheme == "md":
        return [(bags, dk, t.dim) for dk in c.dims]
    return []


def decompress_phases(machine: Machine, spec: ModelSpec, mapping: Mapping, batch: Batch, counts: list) -> list[Phase]:
    """Phases of the embedding stage's extra compute (empty for uncompressed tables)."""
    device = "dense_engine" if mapping.interaction == "dense_engine" else "cpu"
    rebuild_here = mapping.embedding != "cpu"
    time_ns, flops, elementwise = 0.0, 0.0, 0.0
    for t, bags in zip(spec.table_list, batch.tables):
        shapes = _bag_gemms(t, bags.batch_size)
        if rebuild_here:
            shapes += [(m, k, n, bags.num_lookups) for m, k, n in _rebuild_gemms(t)]
        for shape in shapes:
            m, k, n, repeats = (*shape, 1) if len(shape) == 3 else shape
            if repeats == 0:
                continue
            # Rebuilds are one small GEMM per lookup with that lookup's own core slices: timed as repeats of
            # one GEMM, each reloading its operands.
            g = machine.cpu.gemm(m, k, n) if device == "cpu" else machine.dense.gemm(m, k, n)
            time_ns += g.time_ns * repeats
            flops += 2.0 * m * k * n * repeats
        if t.compression is not None and t.compression.scheme == "qr" and t.compression.operation != "concat":
            elementwise += bags.batch_size * t.dim
    if elementwise:
        # the QR combine (multiply or add of two pooled vectors): one vector op per SIMD width / engine lane
        if device == "cpu":
            c = machine.cpu.cfg
            time_ns += math.ceil(elementwise / (c.simd_fp32_lanes * c.fma_units_per_core * c.cores)) / c.freq_ghz
        else:
            cfg = machine.dense.cfg
            time_ns += math.ceil(elementwise / (cfg.rows * cfg.cols)) / machine.dense.clock_ghz
        flops += elementwise
    if not flops:
        return []
    counts.append((device, "embedding", "decompress_flops", flops))
    return [Phase("embedding", "decompress", device, time_ns)]
