"""The CPU: MLP layers as GEMMs on SIMD/FMA cores, and embedding gathers through its caches with bounded MLP.

GEMMs are tiled the way BLAS micro-kernels tile them: each core computes (mr x nr) output tiles, nr = two
vector registers, mr = GEMM_MICROTILE_ROWS; a layer's tiles are spread over the cores, so a small batch leaves
lanes and cores idle (utilisation falls with batch size as it does on real CPUs), then a roofline efficiency.
A GEMM's operands (its inputs, weights and outputs, `GemmOperands`) go line by line through the shared LLC:
weights, loaded once as a running server holds them, stay there batch after batch when they fit, and the
lines that miss are DRAM requests spread over the GEMM's span, so its time is max(compute, its memory time)
(`gemm_memory`).

Embedding gathers: the bags are dealt out to cores; each core walks its lookups in order, issuing every line
of a row once the index is read. Lines go through the core's private caches and the shared LLC (real trace
addresses, state kept across batches); a core keeps at most `line_fill_buffers_per_core` L1 misses in flight,
which is what bounds a CPU's random-gather bandwidth far below the DRAM peak. Every line is translated by the
core's TLB (a cache of pages): a line on a page the TLB does not hold pays one walk (`tlb.walk_ns`) once, and the
lines after it on that page hit; the core's walkers finish at most one walk per `tlb.walk_interval_ns`. How the
framework runs the operators (threads per EmbeddingBag call, tables one after another or concurrently, dispatch
cost) comes from `cfg.software`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from accelsim.config.cache import CacheConfig
from accelsim.config.cpu import CpuConfig
from accelsim.hw.cache import CacheHierarchy
from accelsim.hw.core_reads import admit_ns, interface_line_ns, issue_with_streams, streamed_lines
from accelsim.hw.host_memory import counter_dict, fixed_requests, idle_read_latency_ns
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


@dataclass(frozen=True)
class GemmOperands:
    """Byte addresses of a layer's x [m, k], W [k, n] and out [m, n], each contiguous, `elem_bytes` per element."""

    x_addr: int
    w_addr: int
    out_addr: int
    elem_bytes: int


@dataclass(frozen=True)
class GemmMemory:
    """A GEMM's memory side: when its last operand line was in, and what it asked of DRAM."""

    end_ns: float
    llc_accesses: int
    dram_lines: int
    dram_counters: dict


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
        self.line_bytes = cfg.caches[0].line_bytes
        self._loaded_weights: set[int] = set()

    # Caches and TLBs are built on first use: a run whose gathers are not on the CPU never allocates them.
    @functools.cached_property
    def private(self) -> list:
        """Each core's private cache levels."""
        return [CacheHierarchy(self.cfg.caches[:self.cfg.private_cache_levels]) for _ in range(self.cfg.cores)]

    @functools.cached_property
    def llc(self):
        """The shared levels."""
        return CacheHierarchy(self.cfg.caches[self.cfg.private_cache_levels:])

    @functools.cached_property
    def tlb(self) -> list:
        """Each core's TLBs, caches of pages: the first level (where there is one) above the last."""
        t = self.cfg.tlb
        levels = [CacheConfig(name="TLB", size_bytes=t.entries * t.page_bytes, ways=t.ways, line_bytes=t.page_bytes,
                              hit_latency_ns=0.0)]
        if t.first_level_entries:
            levels.insert(0, CacheConfig(name="L1 TLB", size_bytes=t.first_level_entries * t.page_bytes,
                                         ways=t.first_level_ways or t.first_level_entries, line_bytes=t.page_bytes,
                                         hit_latency_ns=0.0))
        return [CacheHierarchy(levels) for _ in range(self.cfg.cores)]

    def gemm(self, m: int, k: int, n: int) -> CpuGemm:
        """out[m,n] = x[m,k] @ W[k,n] with micro-tiles spread over the GEMM's threads, at the shape's efficiency."""
        compute_ns = self.gemm_peak_ns(m, k, n) / self.gemm_efficiency(m, k, n)
        sw, threads = self.cfg.software, self._gemm_tiles(m, k, n)[1]
        return CpuGemm(compute_ns + sw.op_dispatch_ns + (sw.parallel_region_ns if threads > 1 else 0.0), 2 * m * k * n,
                       threads)

    def dot_interaction(self, batch: int, features: int, dim: int) -> tuple[float, CpuGemm]:
        """ns of DLRM's dot interaction as the framework runs it: its operators' dispatch, T T^T as one GEMM of
        the same FLOPs, and the advanced-indexing gather of each sample's strict lower triangle; and the GEMM."""
        sw = self.cfg.software
        g = self.gemm(batch * features, dim, features)  # its own dispatch included
        pairs = batch * features * (features - 1) // 2
        return (sw.interaction_ops - 1) * sw.op_dispatch_ns + g.time_ns + pairs * sw.index_ns_per_element, g

    def load_weights(self, w_addr: int, nbytes: int) -> None:
        """Bring a layer's weights into the LLC once per run, untimed, as a server that has answered queries
        before holds them (the dense engine's weights sit in its buffers the same way); from then on what evicts
        them (gathers, other layers) is simulated."""
        if w_addr in self._loaded_weights:
            return
        self._loaded_weights.add(w_addr)
        self.llc.access(self._span_lines(w_addr, nbytes))

    def _span_lines(self, addr: int, nbytes: int) -> np.ndarray:
        """Line addresses of the bytes [addr, addr + nbytes)."""
        line = self.line_bytes
        return np.arange(addr // line, -(-(addr + nbytes) // line), dtype=np.int64) * line

    def gemm_memory(self, m: int, k: int, n: int, ops: GemmOperands, dram, start_ns: float, compute_ns: float,
                    cores_used: int) -> GemmMemory:
        """The operand lines of one GEMM through the shared LLC (inputs, weights, then outputs, as a blocked GEMM
        first touches them); the misses go to DRAM. The GEMM's threads want them evenly from `start_ns` over the
        compute time, no faster than their memory interfaces stream, each thread its share of the lines in
        order with at most `line_fill_buffers_per_core` in flight (the closed loop a detailed gather runs, at
        either fidelity: a GEMM's stream is regular, and the analytic bound's asymptotes overstate it by up to
        a third on a DRAM-bound layer). A store miss fetches its line (write-allocate); the later write-back of
        dirty lines is left to the LLC (ASSUMPTION: it drains behind the GEMM and is not timed)."""
        c = self.cfg
        line = self.line_bytes
        spans = [self._span_lines(a, e * ops.elem_bytes)
                 for a, e in ((ops.x_addr, m * k), (ops.w_addr, k * n), (ops.out_addr, m * n))]
        addr = np.concatenate(spans)
        writes = np.arange(addr.size) >= addr.size - spans[-1].size
        served = self.llc.access(addr, writes)
        miss = addr[served == len(self.llc.levels)]
        if miss.size == 0:
            return GemmMemory(start_ns, addr.size, 0, {})
        span_ns = max(compute_ns, miss.size * line / (cores_used * c.memory_core_read_gbps)
                      if c.memory_core_read_gbps else 0.0)
        ready = start_ns + np.arange(miss.size) * (span_ns / miss.size)
        thread = np.arange(miss.size) * cores_used // miss.size
        half_fabric = c.memory_fabric_latency_ns / 2
        dram_reads = fixed_requests(dram, miss, np.zeros(miss.size, dtype=np.bool_))
        attempts: list = []

        def serve(issue_ns: np.ndarray) -> np.ndarray:
            res = dram_reads(issue_ns + half_fabric)
            attempts.append((issue_ns, res))
            return res.completion_ns + half_fabric

        loop = closed_loop(ready, thread, cores_used, c.line_fill_buffers_per_core, serve,
                           idle_read_latency_ns(dram.cfg) + c.memory_fabric_latency_ns)
        res = next((r for i, r in reversed(attempts) if i is loop.issue_ns), None)
        if res is None:
            res = dram_reads(loop.issue_ns + half_fabric)
        return GemmMemory(float(res.completion_ns.max()) + half_fabric, addr.size, int(miss.size),
                          counter_dict(res.counters))

    def _gemm_tiles(self, m: int, k: int, n: int) -> tuple[int, int]:
        """(micro-tiles of the output, threads they are spread over: one below the library's threading size)."""
        c = self.cfg
        tiles = math.ceil(m / GEMM_MICROTILE_ROWS) * math.ceil(n / (2 * c.simd_fp32_lanes))
        if 2 * m * k * n < c.software.gemm_parallel_min_flops:
            return tiles, 1
        return tiles, min(c.software.gemm_threads or c.cores, c.cores, tiles)

    def gemm_peak_ns(self, m: int, k: int, n: int) -> float:
        """The tiled GEMM's time at efficiency 1: the busiest thread's tiles at simd x fma lanes per cycle."""
        c = self.cfg
        nr = 2 * c.simd_fp32_lanes
        tiles, cores_used = self._gemm_tiles(m, k, n)
        # A tile does mr x nr FMAs per k-step, at simd x fma lanes per cycle. Below mr rows a tile costs its rows,
        # not a padded 6-row tile (one-thread torch linear, k = n = 1024, EPYC guest 2026-12-03: m = 1 / 2 / 3 / 6
        # took 142 / 267 / 402 / 581 us).
        rows = min(m, GEMM_MICROTILE_ROWS)
        # One output column is a matrix-vector product, which BLAS vectorises along k with nothing padded: it
        # costs its one column, not a tile's nr (one-thread torch Linear(1024, n) at m = 512, EPYC guest
        # 2026-12-03: n = 1 / 2 / 16 took 103 / 271 / 411 us; from two columns on, a tile each).
        cols = 1 if n == 1 else nr
        cycles_per_tile = k * rows * cols / (c.simd_fp32_lanes * c.fma_units_per_core)
        return math.ceil(tiles / cores_used) * cycles_per_tile / c.freq_ghz

    def gemm_efficiency(self, m: int, k: int, n: int) -> float:
        """Achieved / tiled peak at this shape: the measured table where there is one, else the constant. A
        one-column product is read off the table's one-column shapes by (m, k) where it has some: a
        matrix-vector product reads each input once, so the square shapes of its size do not stand for it."""
        t = self.cfg.gemm_efficiency_table
        if not t:
            return self.cfg.gemm_efficiency
        if n == 1 and any(p.n == 1 for p in t):
            t = tuple(p for p in t if p.n == 1)
        elif n > 1 and any(p.n > 1 for p in t):
            t = tuple(p for p in t if p.n > 1)
        return efficiency_at(np.array([p.m for p in t], float), np.array([math.sqrt(p.k * p.n) for p in t]),
                             np.array([p.efficiency for p in t]), m, math.sqrt(k * n))

    def filter_caches(self, lookups: Lookups, bases: np.ndarray, row_bytes: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(line addresses, owning lookup, level that served each line, TLB miss (a walk) per line, first-level
        TLB miss that the last level served per line) after the TLBs, the private caches and the LLC."""
        addr, owner = lookup_lines(lookups, bases, row_bytes, self.line_bytes)
        served = np.empty(addr.size, dtype=np.int8)
        tlb = np.empty(addr.size, dtype=np.int8)
        core = lookups.requester[owner]
        p = self.cfg.private_cache_levels
        for c in range(self.cfg.cores):
            sel = np.flatnonzero(core == c)
            tlb[sel] = self.tlb[c].access(addr[sel])
            served[sel] = self.private[c].access(addr[sel])
        walk = tlb == len(self.tlb[0].levels)
        second = (tlb > 0) & ~walk
        # The LLC sees the cores' misses interleaved in issue order (position within each core's stream).
        miss = np.flatnonzero(served == p)
        order = miss[np.lexsort((core[miss], lookups.position[owner[miss]]))]
        served[order] = p + self.llc.access(addr[order])
        return addr, owner, served, walk, second

    def gather(self, batch: Batch, spec, layout: PartLayout, dram, *, analytic: bool = False) -> GatherTiming:
        """The embedding stage as the software profile runs it: one EmbeddingBag call per table, the calls one
        after another (DLRM's apply_emb) or concurrently, each on `software.embedding_threads` cores."""
        c = self.cfg
        sw = c.software
        if sw.embedding_tables == "concurrent" and len(batch.tables) > 1:
            # Inter-op parallelism: each call runs on one core, the calls dealt out over every core; each core
            # dispatches its own tables' calls, one before each call's first lookup.
            lk, calls = _concurrent_lookups(batch, c.cores)
            reads = expand_lookups(lk, spec, layout)
            rebuild = np.array([t.rebuild_flops_per_lookup for t in spec.table_list])[lk.table[reads.parent]]
            return self._operator(reads, layout, rebuild, dram, analytic, 0.0,
                                  dispatch_ns=((calls + 1) * sw.embedding_dispatch_ns)[reads.parent],
                                  bags_at=bag_starts(batch.tables) if c.gather_cycles_per_bag else None)
        t_now, core_ns, lines = 0.0, 0.0, 0
        served_all, lat_sum, lat_n = [], 0.0, 0
        dram_counts: dict[str, float] = {}
        threads = min(c.cores, sw.embedding_threads or c.cores)
        for t, bags in enumerate(batch.tables):
            # An operator splits its bags over its threads, so a batch smaller than that idles cores.
            used = min(threads, max(bags.batch_size, 1))
            lk = split_lookups(Batch((bags,)), used)
            reads = expand_lookups(lk, spec, layout, tables=np.array([t]))
            start = t_now + sw.embedding_dispatch_ns + (sw.parallel_region_ns if used > 1 else 0.0)
            op = self._operator(reads, layout, spec.table_list[t].rebuild_flops_per_lookup, dram, analytic, start,
                                bags_at=bag_starts((bags,)) if c.gather_cycles_per_bag else None)
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
    def read_cycles(self, reads: Reads, rebuild_flops_per_lookup: np.ndarray | float) -> np.ndarray:
        """Core cycles of each read of a gather (issue, accumulate, dequantise, rebuild)."""
        c = self.cfg
        vectors = np.ceil(reads.elems / c.simd_fp32_lanes)
        cycles = c.gather_cycles_per_lookup + vectors / c.fma_units_per_core
        # widen the codes to fp32, then one FMA with the row's scale and bias
        cycles = cycles + np.where(reads.quantized, DEQUANT_VECTOR_OPS * vectors / c.fma_units_per_core, 0.0)
        rebuild = rebuild_flops_per_lookup / (2 * c.simd_fp32_lanes * c.fma_units_per_core)
        return cycles + np.where(reads.first, rebuild, 0.0)

    def _operator(self, reads: Reads, layout: PartLayout, rebuild_flops_per_lookup: np.ndarray | float, dram,
                  analytic: bool, start_ns: float, dispatch_ns: np.ndarray | float = 0.0,
                  bags_at: np.ndarray | None = None) -> GatherTiming:
        """Reads starting at `start_ns` (+ a per-read dispatch delay): issue-bound, MLP-bound or DRAM-bound as
        the trace makes it. Each requester issues its reads one after another, in lookup order; `bags_at`: per
        lookup, the bags that start there (each costs `gather_cycles_per_bag` before that lookup's first read)."""
        c = self.cfg
        lookups = reads.reads
        addr, owner, served, walk, second = self.filter_caches(lookups, layout.bases, layout.row_bytes)
        cycles = self.read_cycles(reads, rebuild_flops_per_lookup)
        if bags_at is not None:
            cycles = cycles + np.where(reads.first, bags_at[reads.parent] * c.gather_cycles_per_bag, 0.0)
        ns = cycles / c.freq_ghz
        order = np.lexsort((np.arange(ns.size), lookups.requester))
        done_sorted = np.cumsum(ns[order])
        req_sorted = lookups.requester[order]
        group_start = np.searchsorted(req_sorted, req_sorted, side="left")
        before = np.empty(ns.size)
        before[order] = done_sorted - ns[order] - np.r_[0.0, done_sorted][group_start]
        ready_lookup = start_ns + dispatch_ns + before
        per_core = np.zeros(lookups.n_requesters)
        np.maximum.at(per_core, lookups.requester, ready_lookup + ns)
        compute_end = float(per_core.max(initial=start_ns))
        busy = float(ns.sum())
        probe = np.cumsum([lvl.hit_latency_ns for lvl in c.caches])
        n_levels = len(c.caches)
        # L1 misses take a fill buffer; an L1 hit whose translation missed waits for the page walk in a slot too.
        miss = np.flatnonzero((served > 0) | walk)
        if miss.size == 0:
            return GatherTiming(compute_end, addr.size, served, busy)
        lvl = served[miss].astype(np.int64)
        to_dram = lvl == n_levels
        on_chip_ns = np.where(to_dram, probe[-1], np.where(lvl > 0, probe[np.minimum(lvl, n_levels - 1)], 0.0))
        footprint = _footprint_bytes(layout, lookups.table)
        walk_miss = walk[miss]
        # A first-level TLB miss the second level serves delays the line's access; on an L1 hit that shows only
        # as a few cycles the out-of-order core hides (ASSUMPTION), so only the lines below L1 wait for it.
        first_miss_ns = c.tlb.first_level_miss_ns or 0.0
        on_chip_ns = on_chip_ns + walk_miss * c.tlb.walk_ns(footprint) + second[miss] * first_miss_ns
        walk_gap_ns = c.tlb.walk_interval_ns(footprint)
        dram_addr = addr[miss][to_dram]
        core = lookups.requester[owner[miss]]
        ready = ready_lookup[owner[miss]]
        line_ns = interface_line_ns([lv.core_read_gbps for lv in c.caches[1:]] + [c.memory_core_read_gbps],
                                    self.line_bytes)
        # With the streamer, a read's later lines leave with its first line, outside the fill buffers.
        demand, lead = streamed_lines(owner, miss) if c.stream_prefetch else (None, None)
        attempts: list[tuple[np.ndarray, np.ndarray, object]] = []

        half_fabric = c.memory_fabric_latency_ns / 2
        dram_reads = fixed_requests(dram, dram_addr, np.zeros(dram_addr.size, dtype=np.bool_))

        def serve_all(issue_demand: np.ndarray) -> tuple[np.ndarray, object]:
            issue = issue_demand if lead is None else issue_with_streams(ready, demand, lead, issue_demand)
            done = admit_ns(issue, core, lvl, line_ns, lookups.n_requesters, walk_miss, walk_gap_ns) + on_chip_ns
            res = None
            if dram_addr.size:
                res = dram_reads(done[to_dram] + half_fabric)
                done[to_dram] = res.completion_ns + half_fabric
            return done, res

        def serve(issue_demand: np.ndarray) -> np.ndarray:
            done, res = serve_all(issue_demand)
            attempts.append((issue_demand, done, res))
            return done if demand is None else done[demand]

        unloaded = float(np.mean(on_chip_ns)) + (idle_read_latency_ns(dram.cfg) + c.memory_fabric_latency_ns) \
            * float(to_dram.mean())
        solve = closed_loop_bound if analytic else closed_loop
        loop = solve(ready if demand is None else ready[demand], core if demand is None else core[demand],
                     lookups.n_requesters, c.line_fill_buffers_per_core, serve, unloaded)
        # The solver keeps its best attempt, not always its last: the streamed lines' times and the DRAM counters
        # come from that one.
        done_all, res = next(((d, r) for i, d, r in reversed(attempts) if i is loop.issue_ns), (None, None))
        if done_all is None:
            done_all, res = serve_all(loop.issue_ns)
        return GatherTiming(
            time_ns=max(compute_end, float(done_all.max())), lines=addr.size, served_by=served,
            core_busy_ns=busy,
            dram_counters=counter_dict(res.counters) if res is not None else {},
            mean_miss_latency_ns=loop.latency_ns,
        )


def _footprint_bytes(layout: PartLayout, parts: np.ndarray) -> float:
    """Bytes of the stored parts a stream of reads touches (their page tables are what a walk reads)."""
    sizes = np.diff(np.r_[layout.bases, layout.end])
    return float(sizes[np.unique(parts)].sum())


def efficiency_at(ms: np.ndarray, ws: np.ndarray, eff: np.ndarray, m: float, w: float) -> float:
    """Bilinear interpolation of measured efficiencies in (log m, log w), clamped to the measured range.

    Corners the probe skipped (too large to time) drop out and the others' weights are renormalised; with no
    corner measured, the nearest point in log distance counts."""
    lm, lw, x, y = np.log(ms), np.log(ws), math.log(max(m, 1)), math.log(max(w, 1))
    um, uw = np.unique(lm), np.unique(lw)
    x, y = min(max(x, um[0]), um[-1]), min(max(y, uw[0]), uw[-1])
    i, j = min(np.searchsorted(um, x, side="right") - 1, um.size - 1), min(np.searchsorted(uw, y, side="right") - 1, uw.size - 1)
    i1, j1 = min(i + 1, um.size - 1), min(j + 1, uw.size - 1)
    fx = (x - um[i]) / (um[i1] - um[i]) if i1 > i else 0.0
    fy = (y - uw[j]) / (uw[j1] - uw[j]) if j1 > j else 0.0
    total = weight = 0.0
    for a, wa in ((i, 1 - fx), (i1, fx)):
        for b, wb in ((j, 1 - fy), (j1, fy)):
            hit = np.flatnonzero(np.isclose(lm, um[a]) & np.isclose(lw, uw[b]))
            if hit.size and wa * wb > 0:
                total += wa * wb * float(eff[hit[0]])
                weight += wa * wb
    if weight > 0:
        return total / weight
    return float(eff[np.argmin((lm - x) ** 2 + (lw - y) ** 2)])


def bag_starts(tables) -> np.ndarray:
    """Per lookup of the tables' bags in table-major order: how many bags start at it (an empty bag counts at
    the next lookup of its table, or its table's last)."""
    out = []
    for bags in tables:
        n = int(bags.indices.size)
        if n:
            out.append(np.bincount(np.minimum(np.asarray(bags.offsets[:-1], np.int64), n - 1), minlength=n)
                       .astype(np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def _concurrent_lookups(batch: Batch, cores: int) -> tuple[Lookups, np.ndarray]:
    """Tables dealt out round-robin to `cores`, each core running its tables' calls back to back.

    Returns the lookups and, per lookup, how many calls its core ran before this one's table (for dispatch)."""
    lk = split_lookups(batch, 1)
    core = lk.table % cores
    order = np.lexsort((np.arange(lk.size), core))
    position = np.empty(lk.size, dtype=np.int64)
    starts = np.searchsorted(core[order], np.arange(cores))
    position[order] = np.arange(lk.size) - np.repeat(starts, np.diff(np.r_[starts, lk.size]))
    calls = lk.table // cores
    return Lookups(lk.table, lk.row, core.astype(np.int64), position, cores), calls
