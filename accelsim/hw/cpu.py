"""The CPU: MLP layers as GEMMs on SIMD/FMA cores, and embedding gathers through its caches with bounded MLP.

GEMMs are tiled the way BLAS micro-kernels tile them: each core computes (mr x nr) output tiles, nr = two
vector registers, mr = GEMM_MICROTILE_ROWS; a layer's tiles are spread over the cores, so a small batch leaves
lanes and cores idle (utilisation falls with batch size as it does on real CPUs), then a roofline efficiency.

Embedding gathers: the bags are dealt out to cores; each core walks its lookups in order, issuing every line
of a row once the index is read. Lines go through the core's private caches and the shared LLC (real trace
addresses, state kept across batches); a core keeps at most `line_fill_buffers_per_core` L1 misses in flight,
which is what bounds a CPU's random-gather bandwidth far below the DRAM peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from accelsim.config.cpu import CpuConfig
from accelsim.hw.cache import CacheHierarchy
from accelsim.hw.host_memory import counter_dict, idle_read_latency_ns
from accelsim.hw.requester import closed_loop, closed_loop_bound
from accelsim.hw.lookups import Lookups, PartLayout, Reads, expand_lookups, lookup_lines, split_lookups
from accelsim.workload.trace import Batch

GEMM_MICROTILE_ROWS = 6  # BLIS/MKL AVX2 SGEMM micro-kernel is 6 x 16 (6 rows x 2 vectors of 8 FP32)
# Row-wise dequantisation per vector of codes: one widening convert (vpmovzxbd + vcvtdq2ps, as FBGEMM's
# fused 8-bit kernels do) and one FMA with the row's scale and bias. ASSUMPTION: both issue at FMA-port rate.
DEQUANT_VECTOR_OPS = 2


@dataclass(frozen=True)
class CpuGemm:
    """Timing and work of one Linear layer on the CPU."""

    time_ns: float
    flops: int
    cores_used: int


@dataclass
class GatherTiming:
    """Result of one embedding stage on the CPU."""

    time_ns: float
    lines: int
    served_by: np.ndarray            # per line: cache level index, or len(levels) for DRAM
    core_busy_ns: float              # sum over cores of time spent issuing and reducing
    dram_counters: dict = field(default_factory=dict)
    mean_miss_latency_ns: float = 0.0


class Cpu:
    """Timing model of a multi-core CPU; caches keep their contents across batches."""

    def __init__(self, cfg: CpuConfig):
        self.cfg = cfg
        p = cfg.private_cache_levels
        self.private = [CacheHierarchy(cfg.caches[:p]) for _ in range(cfg.cores)]
        self.llc = CacheHierarchy(cfg.caches[p:])
        self.line_bytes = cfg.caches[0].line_bytes

    def gemm(self, m: int, k: int, n: int) -> CpuGemm:
        """out[m,n] = x[m,k] @ W[k,n] with micro-tiles spread over cores, at the roofline efficiency."""
        c = self.cfg
        nr = 2 * c.simd_fp32_lanes
        tiles = math.ceil(m / GEMM_MICROTILE_ROWS) * math.ceil(n / nr)
        cores_used = min(c.cores, tiles)
        # A tile does mr x nr FMAs per k-step, at simd x fma lanes per cycle.
        cycles_per_tile = k * GEMM_MICROTILE_ROWS * nr / (c.simd_fp32_lanes * c.fma_units_per_core)
        compute_ns = math.ceil(tiles / cores_used) * cycles_per_tile / c.freq_ghz / c.gemm_efficiency
        return CpuGemm(compute_ns + c.op_overhead_ns, 2 * m * k * n, cores_used)

    def cycles_per_lookup(self, dim: int) -> float:
        """Core cycles to issue one row lookup and add it into its bag's sum."""
        c = self.cfg
        adds = math.ceil(dim / c.simd_fp32_lanes) / c.fma_units_per_core
        return c.gather_cycles_per_lookup + adds

    def filter_caches(self, lookups: Lookups, bases: np.ndarray, row_bytes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(line addresses, owning lookup, level that served each line) after the private caches and the LLC."""
        addr, owner = lookup_lines(lookups, bases, row_bytes, self.line_bytes)
        served = np.empty(addr.size, dtype=np.int8)
        core = lookups.requester[owner]
        p = self.cfg.private_cache_levels
        for c in range(self.cfg.cores):
            sel = np.flatnonzero(core == c)
            served[sel] = self.private[c].access(addr[sel])
        # The LLC sees the cores' misses interleaved in issue order (position within each core's stream).
        miss = np.flatnonzero(served == p)
        order = miss[np.lexsort((core[miss], lookups.position[owner[miss]]))]
        served[order] = p + self.llc.access(addr[order])
        return addr, owner, served

    def gather(self, batch: Batch, spec, layout: PartLayout, dram, *, analytic: bool = False) -> GatherTiming:
        """One EmbeddingBag operator per table, run one after another (as DLRM's apply_emb does on a CPU)."""
        c = self.cfg
        t_now, core_ns, lines = 0.0, 0.0, 0
        served_all, lat_sum, lat_n = [], 0.0, 0
        dram_counts: dict[str, float] = {}
        for t, bags in enumerate(batch.tables):
            # An operator splits its bags over the cores, so a batch smaller than the core count idles cores.
            lk = split_lookups(Batch((bags,)), min(c.cores, max(bags.batch_size, 1)))
            reads = expand_lookups(lk, spec, layout, tables=np.array([t]))
            op = self._operator(reads, layout, spec.table_list[t].rebuild_flops_per_lookup, dram, analytic,
                                t_now + c.op_overhead_ns)
            t_now = op.time_ns
            core_ns += op.core_busy_ns
            lines += op.lines
            served_all.append(op.served_by)
            lat_sum += op.mean_miss_latency_ns * op.lines
            lat_n += op.lines
            for k, v in op.dram_counters.items():
                dram_counts[k] = dram_counts.get(k, 0.0) + v
        return GatherTiming(time_ns=t_now, lines=lines,
                            served_by=np.concatenate(served_all) if served_all else np.zeros(0, np.int8),
                            core_busy_ns=core_ns, dram_counters=dram_counts,
                            mean_miss_latency_ns=lat_sum / lat_n if lat_n else 0.0)

    # Compressed and quantised tables (docs/compression.md): a lookup is one or more reads of stored part rows;
    # each read is issued and accumulated, row-wise codes are dequantised in SIMD on the way, and a lookup whose
    # row must be rebuilt (tensor train, low rank) spends its contraction FLOPs on its first read.
    def read_cycles(self, reads: Reads, rebuild_flops_per_lookup: float) -> np.ndarray:
        """Core cycles of each read of a gather (issue, accumulate, dequantise, rebuild)."""
        c = self.cfg
        vectors = np.ceil(reads.elems / c.simd_fp32_lanes)
        cycles = c.gather_cycles_per_lookup + vectors / c.fma_units_per_core
        # widen the codes to fp32, then one FMA with the row's scale and bias
        cycles = cycles + np.where(reads.quantized, DEQUANT_VECTOR_OPS * vectors / c.fma_units_per_core, 0.0)
        rebuild = rebuild_flops_per_lookup / (2 * c.simd_fp32_lanes * c.fma_units_per_core)
        return cycles + np.where(reads.first, rebuild, 0.0)

    def _operator(self, reads: Reads, layout: PartLayout, rebuild_flops_per_lookup: float, dram, analytic: bool,
                  start_ns: float) -> GatherTiming:
        """One operator starting at `start_ns`: issue-bound, MLP-bound or DRAM-bound as the trace makes it."""
        c = self.cfg
        lookups = reads.reads
        addr, owner, served = self.filter_caches(lookups, layout.bases, layout.row_bytes)
        ns = self.read_cycles(reads, rebuild_flops_per_lookup) / c.freq_ghz
        done_ns = np.cumsum(ns)
        starts = np.searchsorted(lookups.requester, np.arange(lookups.n_requesters), side="left")
        ready_lookup = start_ns + done_ns - ns - np.r_[0.0, done_ns][starts[lookups.requester]]
        compute_end = start_ns + float(np.bincount(lookups.requester, ns, lookups.n_requesters).max(initial=0))
        busy = float(ns.sum())
        probe = np.cumsum([lvl.hit_latency_ns for lvl in c.caches])
        n_levels = len(c.caches)
        miss = np.flatnonzero(served > 0)  # L1 misses take a fill buffer
        if miss.size == 0:
            return GatherTiming(compute_end, addr.size, served, busy)
        lvl = served[miss].astype(np.int64)
        to_dram = lvl == n_levels
        on_chip_ns = np.where(to_dram, probe[-1], probe[np.minimum(lvl, n_levels - 1)])
        dram_addr = addr[miss][to_dram]
        captured: dict = {}

        half_fabric = c.memory_fabric_latency_ns / 2

        def serve(issue: np.ndarray) -> np.ndarray:
            done = issue + on_chip_ns
            if dram_addr.size:
                res = dram.simulate(done[to_dram] + half_fabric, dram_addr, np.zeros(dram_addr.size, dtype=np.bool_))
                done[to_dram] = res.completion_ns + half_fabric
                captured["res"] = res
            return done

        unloaded = float(np.mean(on_chip_ns)) + (idle_read_latency_ns(dram.cfg) + c.memory_fabric_latency_ns) \
            * float(to_dram.mean())
        solve = closed_loop_bound if analytic else closed_loop
        loop = solve(ready_lookup[owner[miss]], lookups.requester[owner[miss]], lookups.n_requesters,
                     c.line_fill_buffers_per_core, serve, unloaded)
        res = captured.get("res")
        return GatherTiming(
            time_ns=max(compute_end, float(loop.done_ns.max())), lines=addr.size, served_by=served,
            core_busy_ns=busy,
            dram_counters=counter_dict(res.counters) if res is not None else {},
            mean_miss_latency_ns=loop.latency_ns,
        )
