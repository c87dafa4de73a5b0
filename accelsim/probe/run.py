"""`accelsim probe`: run every probe within a time budget and describe this machine as a cpu-only config.

The config's measured numbers cite the probe, the date and the host in `sources:`. The probes read nothing but
the machine and the installed software: no validation grid, no validation timing (tests/probe checks this).
"""

from __future__ import annotations

import datetime
import math
import platform
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from accelsim.config.base import parse_model
from accelsim.config.dram import load_dram
from accelsim.config.system import SystemConfig, load_system
from accelsim.errors import InputError
from accelsim.hw.cpu import Cpu
from accelsim.hw.host_memory import idle_read_latency_ns
from accelsim.probe import compute, memory, software
from accelsim.probe.clock import CYCLES_PER_STEP, Clock, measure_clock
from accelsim.probe.chase import HUGE_PAGE_BYTES
from accelsim.probe.host import DEFAULT_FMA_UNITS, HostCpu, detect_host, transparent_hugepages
from accelsim.probe.repeat import load_average

DRAM_PRESET = "ddr5_4800"
SUSTAINED_FRACTION = 0.7  # ASSUMPTION: STREAM reaches ~70% of a DDR channel's peak
TLB_WAYS = 8              # ASSUMPTION: associativity is not measured; the model needs a set count
PAGE_4K = 4096
COMPUTE_SLOTS = 4         # points of the run where the rounds go: start, two in between, end


@dataclass(frozen=True)
class Budget:
    """Seconds each probe may spend (the whole run stays under 3 minutes on 2 cores)."""

    latency_s: float = 25.0     # per page size
    parallelism_s: float = 25.0
    stream_s: float = 6.0
    gemm_s: float = 36.0        # over all rounds
    software_s: float = 16.0    # over all rounds
    clock_s: float = 2.0
    read_s: float = 6.0         # all levels' sequential reads
    walk_s: float = 6.0         # page-walk throughput, both page sizes
    reach_s: float = 6.0        # TLB reach by one chain, one line a 4 KiB page (4 KiB, 2 MiB pages) against packed
    first_tlb_s: float = 3.0    # the first-level TLB, the same over 8 .. 256 pages
    gemm_threads_s: float = 10.0  # the square GEMM shapes on one and on every thread, over all rounds
    row_s: float = 4.0          # row gathers of 1 and 4 lines
    llc_load_s: float = 8.0     # the LLC's capacity under many chains, over all its rounds
    llc_rounds: int = 3         # the many-chain LLC curve runs in this many rounds, between the memory probes
    rounds: int = 6             # the GEMM, software and loaded-latency probes run in this many rounds over the run


@dataclass
class ProbeReport:
    """Everything measured, and the config built from it."""

    host: HostCpu
    when: str
    load_before: str
    load_after: str
    thp_mode: str
    huge_granted: float
    table_huge_fraction: float
    small: list
    huge: list
    levels: list
    memory_ns: float
    memory_ws_bytes: int
    translation: memory.Translation
    mlp: list
    misses_in_flight: float
    random_read_gbps: float
    stream: memory.Stream
    gemm: list
    sw: software.SoftwareProbe
    clock: Clock | None
    reads: list
    walks: list
    rows: list
    gemm_parallel_min_flops: int
    gemm_speedups: list
    system: SystemConfig
    llc_parallel: list = field(default_factory=list)  # ROW_CHAINS-chain chase from L2 to beyond the LLC, ns a line
    llc_one_chain_bytes: int = 0                      # where the one-chain curve leaves the LLC (0: not probed)
    rounds: int = 1                                   # rounds of the GEMM, software, loaded-latency probes
    by_round: dict = field(default_factory=dict)      # fastest run of each round, ns, of the main software timings
    walk_reach: tuple = ()  # (reach bytes, [(span, extra ns a hop)], the same on 2 MiB pages) where 2 MiB walk
    first_level: tuple = ()                           # [(4 KiB pages, extra ns a hop)] of the first-level TLB
    llc_round_bytes: tuple = ()                       # the LLC's capacity under many chains read by each round alone


def run_probes(*, budget: Budget = Budget(), max_ws_bytes: int = memory.GIB, fma_units: int = DEFAULT_FMA_UNITS,
               progress: Callable[[str], None] | None = None) -> ProbeReport:
    """Measure this machine and build its config."""
    note = progress or (lambda _msg: None)
    host = detect_host()
    note("core clock: dependent multiply-add chain")
    clock = measure_clock(budget.clock_s)
    if clock is None and host.freq_ghz is None:
        raise InputError("the clock of this machine is unknown (not x86-64, no cpufreq, no 'cpu MHz' in "
                         "/proc/cpuinfo)")
    rounds = max(1, budget.rounds)
    square_sizes = [(m, k, n) for m, k, n in compute.shapes() if n > 1]  # the threading size: the squares'
    gemm_rounds: list = []
    thread_rounds: list = []
    sw_rounds: list = []
    mlp_rounds: list = []
    mlp_ws = min(max_ws_bytes, 256 * memory.MIB)

    # the rounds spread evenly from the first slot to the last
    slot_of = [round(j * (COMPUTE_SLOTS - 1) / (rounds - 1)) if rounds > 1 else 0 for j in range(rounds)]

    def compute_rounds(slot: int) -> None:
        for _ in range(slot_of.count(slot)):
            note(f"torch SGEMM at DLRM shapes, dispatch, per-lookup cycles, EmbeddingBag threads "
                 f"(round {len(sw_rounds) + 1} of {rounds})")
            gemm_rounds.append(compute.gemm_probe(budget.gemm_s / rounds))
            if host.cores > 1:
                thread_rounds.append(compute.thread_timings(square_sizes, budget.gemm_threads_s / rounds,
                                                            host.cores))
            sw_rounds.append(software.software_probe(host.cores, budget.software_s / rounds))
            note(f"misses in flight: k chains x threads (round {len(mlp_rounds) + 1} of {rounds})")
            mlp_rounds.append(memory.parallelism(mlp_ws, host.cores, budget.parallelism_s / rounds))

    compute_rounds(0)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load0 = load_average()
    sizes = memory.working_sets(hi=max_ws_bytes)
    note("load-to-use latency, 4 KiB pages")
    small, _ = memory.latency_curve(sizes, False, budget.latency_s)
    note("load-to-use latency, transparent huge pages")
    huge, granted = memory.latency_curve(sizes, True, budget.latency_s)
    sysfs = [(c.name, c.size_bytes * (c.instances if i == len(host.caches) - 1 else 1))
             for i, c in enumerate(host.caches)]
    levels, memory_ns, memory_ws = memory.cache_levels(huge, sysfs)
    above = levels[-2].sysfs_bytes if len(levels) > 1 else 0
    load_sizes = [w for w in memory.working_sets(lo=max(above, memory.KIB), hi=max_ws_bytes)
                  if w <= 4 * levels[-1].sysfs_bytes] or sizes[-1:]
    llc_rounds: list = []
    n_llc = max(1, budget.llc_rounds)
    # after the one-chain curves (slot 1) to the end of the run (the last slot), spread as the compute rounds are
    llc_slot_of = [1 + round(j * (COMPUTE_SLOTS - 2) / (n_llc - 1)) if n_llc > 1 else COMPUTE_SLOTS - 1
                   for j in range(n_llc)]

    def llc_round(slot: int) -> None:
        # other tenants' share of the L3 comes and goes within minutes, so the curve is read at several points
        # of the run, as the loaded-latency curve is, and each working set keeps its fastest round
        for _ in range(llc_slot_of.count(slot)):
            note(f"LLC capacity under many chains (round {len(llc_rounds) + 1} of {n_llc})")
            llc_rounds.append(memory.latency_curve(load_sizes, True, budget.llc_load_s / n_llc,
                                                   chains=memory.ROW_CHAINS)[0])

    compute_rounds(1)
    llc_round(1)
    note("page-walk throughput: k chains, a new 4 KiB page every hop")
    walks = memory.walk_rate(memory.WALK_SPANS, budget.walk_s)
    reach = () if memory.huge_pages_translate(walks) else memory.walk_reach(budget.reach_s)
    note("first-level TLB: one chain, one line a 4 KiB page of 8 .. 256 pages against packed lines")
    first = tuple(memory.first_level_tlb(budget.first_tlb_s))
    compute_rounds(2)
    llc_round(2)
    note("row gathers: k chains reading rows of 1 and 4 lines")
    rows = memory.row_gather(min(max_ws_bytes, memory.ROW_SPAN), budget.row_s)
    note("STREAM triad")
    st = memory.stream(host.cores, budget.stream_s)
    compute_rounds(3)
    llc_round(3)
    llc_parallel = memory.best_points(llc_rounds)
    one_chain = levels[-1].effective_bytes
    llc_by_round = [memory.llc_under_load(c, levels[-1].sysfs_bytes, above) for c in llc_rounds]
    levels[-1] = replace(levels[-1], effective_bytes=memory.llc_under_load(llc_parallel, levels[-1].sysfs_bytes,
                                                                           above))
    tr = memory.translation(small, huge, memory_ws)
    note("sequential read bandwidth of one thread, per level")
    read_sets = memory.level_read_sets(levels, min(memory_ws, max_ws_bytes))
    reads = [memory.read_bandwidth(ws, budget.read_s / len(read_sets)) for ws in read_sets]
    mlp = memory.best_points(mlp_rounds)
    inflight, rr_gbps = memory.misses_in_flight(mlp, memory_ns)
    gemm, sw = compute.merge(gemm_rounds), software.merge(sw_rounds)
    gemm_min, gemm_speedups = (compute.parallel_threshold_flops(square_sizes, thread_rounds)
                               if thread_rounds else (0, []))
    report = ProbeReport(host, when, load0, load_average(), transparent_hugepages(), granted, table_pages(), small,
                         huge, levels, memory_ns, memory_ws, tr, mlp, inflight, rr_gbps, st, gemm, sw, clock, reads,
                         walks, rows, gemm_min, gemm_speedups, None,  # type: ignore[arg-type]
                         llc_parallel, one_chain, rounds, _by_round(sw_rounds), reach, first, tuple(llc_by_round))
    report.system = build_config(report, fma_units)
    return report


def _cite(r: ProbeReport, what: str) -> str:
    return (f"measured: accelsim probe {what}, {r.when}, host {platform.node()} ({r.host.model_name}, "
            f"{r.host.cores} cores), {r.load_before}")


def _by_round(rounds: list) -> dict:
    """Each round's fastest run of the timings the config is built from: how far the host moved during the run."""
    keys = ("linear_dispatch", "embedding_dispatch", "cycles_run", "bags_run", "one_thread", "all_threads")
    return {k + "_ns": [getattr(x, k).min_ns for x in rounds] for k in keys}


def _rounds(r: ProbeReport) -> str:
    return f"; the best of {r.rounds} rounds spread over the probe run" if r.rounds > 1 else ""


def _read_cite(r: ProbeReport, rb: memory.ReadBandwidth) -> str:
    return _cite(r, f"one thread summing a {rb.ws_bytes / 2**20:.2f} MiB float32 array front to back: "
                    f"{rb.bandwidth_gbps:.1f} GB/s (spread {rb.spread:.0%})")


def _size_source(r: ProbeReport, lv: memory.Level, directory: str, last: bool) -> str:
    """Where a level's effective size came from: the one-chain curve, or for the LLC the many-chain one."""
    sysfs = f"sysfs {directory}/size says {lv.sysfs_bytes / 2**20:.2f} MiB"
    if last and r.llc_parallel:
        rounds = ""
        if len(r.llc_round_bytes) > 1:
            rounds = (f" on each working set's fastest of {len(r.llc_round_bytes)} rounds (the rounds alone: "
                      f"{min(r.llc_round_bytes) / 2**20:.2f}-{max(r.llc_round_bytes) / 2**20:.2f} MiB)")
        return (f"pointer chase of {memory.ROW_CHAINS} chains (2 MiB pages): the curve leaves the LLC's plateau at "
                f"{lv.effective_bytes / 2**20:.2f} MiB{rounds} (one chain: {r.llc_one_chain_bytes / 2**20:.2f} MiB; "
                f"{sysfs}), rounded down to whole sets")
    return (f"pointer chase (2 MiB pages): the curve leaves this level at {lv.effective_bytes / 2**20:.2f} MiB "
            f"({sysfs}), rounded down to whole sets")


def _round_geometry(size: float, ways: int, line: int) -> int:
    return max(1, int(size // (ways * line))) * ways * line


DLRM_INTERACTION_OPS = 4  # facebookresearch/dlrm interact_features, dot: cat, bmm, index, cat


def build_config(r: ProbeReport, fma_units: int = DEFAULT_FMA_UNITS) -> SystemConfig:
    """The cpu-only SystemConfig of this machine from the probe results; every measured number cited."""
    host = r.host
    base = load_system("broadwell_cpu_only").model_dump(mode="json")
    caches, prev = [], 0.0
    for i, (hc, lv) in enumerate(zip(host.caches, r.levels)):
        size = _round_geometry(lv.effective_bytes, hc.ways, hc.line_bytes)
        latency_ns = lv.latency_ns
        latency_how = f"pointer chase: {latency_ns:.2f} ns load-to-use at this level's plateau"
        if i == len(host.caches) - 1 and i > 0 and r.llc_parallel:
            per_line = memory.llc_plateau_ns(r.llc_parallel, lv.sysfs_bytes, r.levels[i - 1].sysfs_bytes)
            latency_ns = memory.loaded_latency_ns(per_line, r.misses_in_flight)
            latency_how = (f"{memory.ROW_CHAINS} chains (2 MiB pages): {per_line:.2f} ns a line at the LLC plateau "
                           f"x {min(memory.ROW_CHAINS, r.misses_in_flight):.1f} lines in flight (Little's law) = {latency_ns:.2f} ns "
                           f"load-to-use under load (one chain's plateau: {lv.latency_ns:.2f} ns)")
        caches.append({
            "name": hc.name, "size_bytes": size, "ways": hc.ways, "line_bytes": hc.line_bytes,
            "hit_latency_ns": round(max(latency_ns - prev, 0.0), 3),
            "policy": "lru" if i < len(host.caches) - 1 else "srrip",
            **({"core_read_gbps": round(r.reads[i - 1].bandwidth_gbps, 2)} if i else {}),
            "sources": {
                "size_bytes": _cite(r, _size_source(r, lv, hc.directory, last=i == len(host.caches) - 1)),
                "ways": f"detected: {hc.directory}/ways_of_associativity",
                "line_bytes": f"detected: {hc.directory}/coherency_line_size",
                "hit_latency_ns": _cite(r, f"{latency_how} minus {prev:.2f} ns of the levels above"),
                "policy": "ASSUMPTION: LRU private levels, SRRIP shared LLC (not measured)",
                **({"core_read_gbps": _read_cite(r, r.reads[i - 1])} if i else {}),
            }})
        prev = latency_ns
    dram = load_dram(DRAM_PRESET)
    per_channel = dram.peak_bandwidth_gbps / dram.channels
    need = max(r.stream.bandwidth_gbps, r.random_read_gbps) / SUSTAINED_FRACTION
    channels = max(1, math.ceil(need / per_channel))
    dram = load_dram(DRAM_PRESET, channels=channels)
    translate_huge = memory.huge_pages_translate(r.walks)
    # Where 2 MiB pages walk too, the memory-latency chase (on 2 MiB pages) paid a walk every hop, and the model
    # adds the tables' own walk to each miss: the fabric is what is left without it, taking the walk as the 2 MiB
    # one-chain walk at the largest span walk_rate probed (ASSUMPTION: at the memory-latency working set a walk
    # costs about that; EPYC guest, 2026-12-03: 32 ns at 256 MiB, against a 155 ns chase at 384 MiB).
    huge_walks = memory.walk_latencies(r.walks, huge=True)
    chase_walk = huge_walks[-1][1] if huge_walks and not translate_huge else 0.0
    fabric = max(r.memory_ns - prev - idle_read_latency_ns(dram) - chase_walk, 0.0)
    huge_tables = r.table_huge_fraction > 0.5
    page = HUGE_PAGE_BYTES if huge_tables and translate_huge else PAGE_4K
    # Where 2 MiB pages walk too, 4 KiB minus 2 MiB reads ~0 at every size: the reach and a walk's latency are
    # then one line a 4 KiB page against the same lines packed (beyond the reach probe's spans: walk_rate's).
    # A walk costs what it costs on the pages the tables live on: on a guest's 2 MiB pages it skips the guest's
    # last page-table level (EPYC guest, 2026-12-03: 17-23 ns a hop at 16-64 MiB against 22-28 on 4 KiB pages;
    # 32 chains 4.7-7.3 ns a walk against 6.6-12.7).
    reach_bytes, reach_extra, reach_extra_2m = r.walk_reach or (r.translation.reach_bytes, [], [])
    walk_extra = reach_extra_2m if huge_tables else reach_extra
    entries = max(TLB_WAYS, reach_bytes // PAGE_4K // TLB_WAYS * TLB_WAYS)
    # The first level is probed on 4 KiB pages: it describes the tables only where they live on those.
    first_entries, first_ns = memory.first_level_from(list(r.first_level)) if page == PAGE_4K else (0, 0.0)
    first = ({"first_level_entries": first_entries, "first_level_miss_ns": round(first_ns, 2)}
             if 0 < first_entries < entries else {})
    walk_lat = [] if translate_huge else (
        [(w, e) for w, e in walk_extra if w > reach_bytes]
        + [(w, e) for w, e in memory.walk_latencies(r.walks, huge_tables)
           if w > max((x for x, _ in walk_extra), default=0)])
    walk_table = walk_lat or list(r.translation.curve)
    sw = r.sw
    freq = round(r.clock.ghz, 4) if r.clock else host.freq_ghz
    emb_dispatch = sw.embedding_dispatch.min_ns
    # Issue-bound cycles of one lookup: the L1-resident call minus its dispatch, less the model's SIMD adds.
    adds = math.ceil(sw.cycles_dim / host.simd_fp32_lanes) / fma_units
    lookup_cycles, bag_cycles = per_lookup_and_bag_cycles(sw, emb_dispatch, freq)
    cycles = max(lookup_cycles - adds, 0.5)
    # Split over threads when the other threads do at least half of their fair share, (N-1)/N, of the work.
    parallel = sw.other_threads_cpu_share > 0.5 * (1 - 1 / sw.threads)
    lin = sw.linear_dispatch.min_ns
    # Fork/join: what the call on every thread takes beyond an even split of the one-thread call's kernel time.
    even = (sw.one_thread.min_ns - emb_dispatch) / sw.threads + emb_dispatch
    region = max(sw.all_threads.min_ns - even, 0.0) if parallel and sw.threads > 1 else 0.0
    torch_v = sw.torch_version
    streamer, row_cost = memory.streamer_from(r.rows)
    long_row = max(g.lines for g in r.rows)
    cpu = {
        **_cpu_fields(host, freq, fma_units, caches),
        "gemm_efficiency": 1.0,
        "line_fill_buffers_per_core": max(1, round(r.misses_in_flight)),
        "memory_core_read_gbps": round(r.reads[-1].bandwidth_gbps, 2),
        "stream_prefetch": streamer,
        "gather_cycles_per_lookup": round(cycles, 3),
        "gather_cycles_per_bag": round(bag_cycles, 3),
        "memory_fabric_latency_ns": round(fabric, 2),
        "tlb": {"entries": entries, "ways": TLB_WAYS, "page_bytes": page, **first,
                "page_walk_table": [{"ws_bytes": w, "walk_ns": round(e, 2)} for w, e in walk_table],
                "page_walk_interval_table": [{"ws_bytes": w, "interval_ns": round(g, 3)}
                                             for w, g in memory.walk_intervals(r.walks, huge_tables)],
                "sources": {
                    "entries": _cite(r, (f"one chain over one line per 4 KiB page against the same lines packed, "
                                         f"spans {', '.join(f'{w >> 20}' for w, _ in reach_extra)} MiB (extra ns a "
                                         f"hop {', '.join(f'{e:.1f}' for _, e in reach_extra)}): the extra passes "
                                         f"half a walk after {reach_bytes / 2**20:.2f} MiB = reach / 4 KiB")
                                        if reach_extra else
                                        (f"4 KiB vs 2 MiB pointer chase: 4 KiB pages cost nothing extra up to "
                                         f"{reach_bytes / 2**20:.2f} MiB = reach / 4 KiB")),
                    "ways": f"ASSUMPTION: {TLB_WAYS}-way (associativity is not probed)",
                    **({"first_level_entries": _cite(r, "one chain over one line per 4 KiB page against the same "
                                                        "lines packed, data in L1 either way, extra ns a hop at "
                                                        + ", ".join(f"{n} {e:.2f}" for n, e in r.first_level)
                                                        + f" pages: the extra passes half its median from "
                                                        f"{memory.FIRST_LEVEL_FAR} pages on after {first_entries} "
                                                        "pages (fully associative: ASSUMPTION, not probed)"),
                        "first_level_miss_ns": _cite(r, f"the same chains: the median extra ns a hop from "
                                                        f"{memory.FIRST_LEVEL_FAR} pages on (beyond the first "
                                                        "level, within the second)")} if first else {}),
                    "page_bytes": _cite(r, f"a 64 MiB table allocated as the validation and the PyTorch DLRM "
                                           f"allocate theirs (PyTorch's CPU allocator) is "
                                           f"{r.table_huge_fraction:.0%} huge pages (THP mode '{r.thp_mode}' "
                                           f"in {memory_thp_path()})"
                                           + ("" if translate_huge else
                                              "; but one line a page on 2 MiB pages walks as on 4 KiB ones ("
                                              f"{r.walks[-1].interval_2m_ns:.2f} ns a hop against "
                                              f"{r.walks[-1].interval_dense_ns:.2f} ns for the same lines packed "
                                              "together): the TLBs hold 4 KiB translations (a hypervisor mapping "
                                              "the guest with small pages)")),
                    "page_walk_table": _cite(r, "one chain over one line per 4 KiB page of each span beyond the "
                                                f"reach, {'on 2 MiB pages as the tables are, ' if huge_tables else ''}"
                                                "minus the same chain over those lines packed together, ns "
                                                "per hop (2 MiB pages walk here too, so 4 KiB minus 2 MiB says "
                                                "nothing): " + ", ".join(f"{w >> 20} MiB {e:.2f}"
                                                                         for w, e in walk_lat))
                    if walk_lat else _cite(r, "4 KiB minus 2 MiB pointer-chase latency at every probed working "
                                              "set (negative differences, noise below the TLB reach, as 0)"),
                    "page_walk_interval_table": _cite(r, f"{memory.WALK_CHAINS} chains over one line per 4 KiB "
                                                         "page of each span, data in cache: ns per hop "
                                                         + ", ".join(f"{w.span_bytes >> 20} MiB {w.interval_4k_ns:.2f}"
                                                                     f" (2 MiB pages {w.interval_2m_ns:.2f}, packed "
                                                                     f"{w.interval_dense_ns:.2f})" for w in r.walks)
                                                         + f"; the {'2 MiB' if huge_tables else '4 KiB'} figure "
                                                         "(the tables' pages) where it is over 10% above the "
                                                         "packed lines', else 0")}},
        "software": {
            "name": f"pytorch_{re.sub(r'[^0-9a-z]+', '_', torch_v.split('+')[0])}_host",
            "description": f"torch {torch_v} as installed on {platform.node()}, measured by accelsim probe",
            "embedding_threads": None if parallel else 1, "gemm_threads": None, "embedding_tables": "sequential",
            "op_dispatch_ns": round(lin, 1), "embedding_dispatch_ns": round(emb_dispatch, 1),
            "parallel_region_ns": round(region, 1), "gemm_parallel_min_flops": r.gemm_parallel_min_flops,
            "interaction_ops": DLRM_INTERACTION_OPS, "index_ns_per_element": round(sw.index_ns_per_element, 3),
            "sources": {
                "interaction_ops": "facebookresearch/dlrm interact_features (dot): torch.cat, torch.bmm, the "
                                   "index Z[:, li, lj] of the strict lower triangle, torch.cat; the PyTorch DLRM "
                                   "accelsim builds runs the same four",
                "index_ns_per_element": _cite(r, "one-thread z[:, li, lj] over B x {0} x {0} float32 at B = "
                                                 "{1} and {2}: the fastest runs' difference over the difference in "
                                                 "elements".format(software.INDEX_FEATURES, *software.INDEX_BATCHES)
                                              + f" ({', '.join(f'{x.min_ns / 1e3:.1f}' for x in sw.index_runs)}"
                                                f" us){_rounds(r)}"),
                "embedding_threads": _cite(r, f"EmbeddingBag {software.THREAD_BATCH} bags x {software.THREAD_BAG} "
                                              f"on {sw.threads} threads: threads other than the caller spend "
                                              f"{sw.other_threads_cpu_share:.0%} of the process's CPU time"),
                "gemm_threads": "torch.nn.Linear uses torch.get_num_threads() threads (every core by default)",
                "embedding_tables": "DLRM's apply_emb calls each table's EmbeddingBag in turn (the PyTorch DLRM "
                                    "accelsim builds does the same)",
                "op_dispatch_ns": _cite(r, f"a DLRM layer Linear(16, 16) + ReLU on 1 x 16, per call "
                                           f"(spread {sw.linear_dispatch.spread:.0%}){_rounds(r)}"),
                "embedding_dispatch_ns": _cite(r, "EmbeddingBag of one bag of one row, per call "
                                                  f"(spread {sw.embedding_dispatch.spread:.0%}){_rounds(r)}"),
                "gemm_parallel_min_flops": _cite(r, f"torch Linear + ReLU at each probed square shape on {host.cores} threads "
                                                    "(fastest run) against one: the size that best splits the shapes "
                                                    f"that ran > {compute.PARALLEL_SPEEDUP}x faster from the rest "
                                                    "(speed-ups " + ", ".join(
                                                        f"{g.m}x{g.k}x{g.n} {v:.2f}" for g, v in
                                                        zip(compute.squares(r.gemm), r.gemm_speedups)) + ")"),
                "parallel_region_ns": (_cite(r, f"EmbeddingBag {software.THREAD_BATCH} bags x "
                                                f"{software.THREAD_BAG} on {sw.threads} threads "
                                                f"({sw.all_threads.min_ns / 1e3:.1f} us) minus an even split "
                                                f"of its one-thread kernel time ({sw.one_thread.min_ns / 1e3:.1f}"
                                                " us less dispatch); ASSUMPTION: the kernel splits evenly" + _rounds(r))
                                       if region else "0: the probed torch ran the call on one thread"),
            }},
        "sources": {
            **_cpu_sources(host, fma_units),
            "gemm_efficiency": _cite(r, "torch Linear + ReLU at the largest probed shape"),
            "gemm_efficiency_table": _cite(r, "one-thread torch Linear + ReLU at each shape: the model's one-thread "
                                              "tiled peak time / (measured - op_dispatch_ns)" + _rounds(r)),
            "line_fill_buffers_per_core": _cite(r, f"k chains on one thread, each point's best of {r.rounds} "
                                                   f"rounds spread over the probe run: best "
                                                   f"{r.misses_in_flight:.1f} misses in flight (throughput x idle "
                                                   f"latency {r.memory_ns:.0f} ns)"),
            "memory_core_read_gbps": _read_cite(r, r.reads[-1]),
            "stream_prefetch": _cite(r, f"{memory.ROW_CHAINS} chains over random rows on 2 MiB pages: a row of "
                                        f"{long_row} lines cost {row_cost:.2f} one-line rows ("
                                        + ", ".join(f"{g.lines} line{'s' * (g.lines > 1)} {g.row_ns:.1f} ns"
                                                    for g in r.rows)
                                        + f"); {'on' if streamer else 'off'}: below sqrt({long_row}) the later "
                                          "lines bypass the fill buffers"),
            "gather_cycles_per_lookup": _cite(r, f"one-thread EmbeddingBag on a {software.CYCLE_ROWS} x "
                                                 f"{software.CYCLE_DIM} table (L1), {software.CYCLE_BATCH} bags x "
                                                 f"{software.CYCLE_BAG} and {software.BAGS_BATCH} bags x 1: (time - "
                                                 "dispatch) x clock split into per-lookup and per-bag cycles, minus "
                                                 f"{adds:g} SIMD add cycles a lookup{_rounds(r)}"),
            "gather_cycles_per_bag": _cite(r, f"the same two calls: {bag_cycles:.1f} cycles a bag"),
            "memory_fabric_latency_ns": _cite(r, f"pointer chase at {r.memory_ws_bytes / 2**20:.0f} "
                                                 f"MiB on 2 MiB pages: {r.memory_ns:.1f} ns minus the caches' "
                                                 f"{prev:.1f} ns and the DRAM device's idle read"
                                                 + (f" and the {chase_walk:.1f} ns walk a hop on 2 MiB pages "
                                                    "(one chain over one line a 4 KiB page minus packed lines, "
                                                    "the largest span; the model adds the tables' own walk)"
                                                    if chase_walk else "")),
            "tlb": "see tlb.sources", "software": "see software.sources",
        },
    }
    if r.clock:
        cpu["sources"]["freq_ghz"] = _cite(r, f"dependent IMUL + ADD chain, {CYCLES_PER_STEP} cycles a step: "
                                              f"fastest of {r.clock.runs} runs (spread {r.clock.spread:.0%}); "
                                              f"{host.freq_source} says {host.freq_ghz} GHz")
    cfg = {**_skeleton(base, host, freq, fma_units, caches, channels), "cpu": cpu}
    # Efficiency by shape: the model's tiled peak time over the measured time less the dispatch cost.
    one = parse_model(SystemConfig, {**cfg, "cpu": {**cpu, "software": {**cpu["software"], "gemm_threads": 1}}},
                      source="probed machine").cpu
    model = Cpu(one)  # the probe timed one thread
    table = [{"m": g.m, "k": g.k, "n": g.n, "efficiency": round(min(max(
        model.gemm_peak_ns(g.m, g.k, g.n) / max(g.timing.min_ns - lin, 1.0), 1e-4), 1.0), 4)} for g in r.gemm]
    cpu["gemm_efficiency_table"] = table
    cpu["gemm_efficiency"] = max(table, key=lambda t: t["m"] * t["k"] * t["n"])["efficiency"]
    cfg["dram"]["sources"] = {
        "standard": f"ASSUMPTION: {DRAM_PRESET} (the DIMMs of a guest are not visible)",
        "channels": _cite(r, f"STREAM triad {r.stream.bandwidth_gbps:.1f} GB/s, random reads "
                             f"{r.random_read_gbps:.1f} GB/s: channels so that {SUSTAINED_FRACTION:.0%} of their "
                             f"peak covers the larger")}
    return parse_model(SystemConfig, cfg, source="probed machine")


def per_lookup_and_bag_cycles(sw: software.SoftwareProbe, dispatch_ns: float, freq_ghz: float
                               ) -> tuple[float, float]:
    """(cycles a lookup, cycles a bag) from the L1 calls of many lookups a bag and of one lookup a bag:
    (time - dispatch) x clock = lookups x per-lookup + bags x per-bag, two equations."""
    import numpy as np
    a = np.array([[sw.cycles_lookups, software.CYCLE_BATCH], [software.BAGS_BATCH, software.BAGS_BATCH]], float)
    b = np.array([sw.cycles_run.min_ns - dispatch_ns, sw.bags_run.min_ns - dispatch_ns]) * freq_ghz
    per_lookup, per_bag = np.linalg.solve(a, b)
    if per_bag < 0:  # bags cost nothing measurable: every cycle is the lookups'
        return max(float(b[0]) / sw.cycles_lookups, 0.0), 0.0
    return float(per_lookup), float(per_bag)


def table_pages() -> float:
    """Share of a freshly allocated 64 MiB fp32 table (PyTorch's allocator, as TorchDlrm's and the validation's
    tables: accelsim.workload.torch_model.torch_table) on huge pages."""
    import numpy as np

    from accelsim.probe.chase import huge_page_fraction
    from accelsim.workload.torch_model import torch_table
    a = torch_table(np.ones((1 << 20, 16), dtype=np.float32))
    return huge_page_fraction(a.data_ptr(), a.numel() * a.element_size())


def memory_thp_path() -> str:
    """Where the THP mode is read (for citations)."""
    from accelsim.probe.host import THP_ENABLED
    return str(THP_ENABLED)


def _cpu_fields(host: HostCpu, freq: float, fma_units: int, caches: list) -> dict:
    return {"name": f"host_{re.sub(r'[^a-z0-9]+', '_', host.model_name.lower()).strip('_')}",
            "cores": host.cores, "freq_ghz": freq, "simd_fp32_lanes": host.simd_fp32_lanes,
            "fma_units_per_core": fma_units, "private_cache_levels": len(caches) - 1, "caches": caches}


def _cpu_sources(host: HostCpu, fma_units: int) -> dict:
    return {"cores": host.cores_source, "freq_ghz": host.freq_source, "simd_fp32_lanes": host.simd_source,
            "fma_units_per_core": (f"CLI --fma-units {fma_units}" if fma_units != DEFAULT_FMA_UNITS else
                                   f"ASSUMPTION: {DEFAULT_FMA_UNITS} FMA pipes (typical of AVX2/AVX-512 server "
                                   "cores; not detectable); the GEMM table absorbs the difference"),
            "private_cache_levels": "detected: the last data level is the shared LLC, the ones before it private"}


def _skeleton(base: dict, host: HostCpu, freq: float, fma_units: int, caches: list, channels: int) -> dict:
    return {"name": f"probed_{re.sub(r'[^a-z0-9]+', '_', host.model_name.lower()).strip('_')}_{host.cores}c",
            "description": f"this machine ({host.model_name}, {host.cores} cores) as measured by accelsim probe",
            "dram": {"preset": DRAM_PRESET, "channels": channels},
            "energy": {**base["energy"], "sources": {k: f"from broadwell_cpu_only: {v}" for k, v in
                                                     base["energy"].get("sources", {}).items()}}}


def report_dict(r: ProbeReport) -> dict:
    """Every measurement as JSON-ready values (units in the keys)."""
    t = lambda x: {"min_ns": x.min_ns, "median_ns": x.median_ns, "spread": x.spread, "runs": x.runs,  # noqa
                   "converged": x.converged}
    return {
        "host": r.host.model_name, "cores": r.host.cores, "when": r.when, "load_before": r.load_before,
        "rounds": r.rounds, "software_by_round": r.by_round,
        "load_after": r.load_after, "thp_mode": r.thp_mode, "huge_page_fraction_granted": r.huge_granted,
        "table_huge_page_fraction": r.table_huge_fraction,
        "latency_4k": [asdict(p) for p in r.small], "latency_2m": [asdict(p) for p in r.huge],
        "levels": [asdict(lv) for lv in r.levels], "memory_latency_ns": r.memory_ns,
        "memory_latency_ws_bytes": r.memory_ws_bytes,
        "tlb_reach_bytes": r.translation.reach_bytes, "page_walk_ns": r.translation.page_walk_ns,
        "first_level_tlb": [{"pages": n, "extra_ns": e} for n, e in r.first_level],
        "walk_reach": ({"reach_bytes": r.walk_reach[0],
                        "extra_ns": [{"span_bytes": w, "extra_ns": e} for w, e in r.walk_reach[1]],
                        "extra_2m_ns": [{"span_bytes": w, "extra_ns": e} for w, e in r.walk_reach[2]]}
                       if r.walk_reach else None),
        "loaded_latency": [asdict(p) for p in r.mlp], "misses_in_flight_per_core": r.misses_in_flight,
        "random_read_gbps": r.random_read_gbps, "stream_gbps": r.stream.bandwidth_gbps,
        "stream_spread": r.stream.spread,
        "gemm": [{"m": g.m, "k": g.k, "n": g.n, **t(g.timing)} for g in r.gemm],
        "clock_ghz": r.clock.ghz if r.clock else None, "clock_spread": r.clock.spread if r.clock else None,
        "read_bandwidth": [asdict(x) for x in r.reads],
        "walk_rate": [asdict(w) for w in r.walks],
        "llc_parallel": [asdict(p) for p in r.llc_parallel], "llc_one_chain_bytes": r.llc_one_chain_bytes,
        "llc_round_bytes": list(r.llc_round_bytes),
        "row_gather": [asdict(g) for g in r.rows],
        "gemm_parallel_min_flops": r.gemm_parallel_min_flops,
        "gemm_speedups": [{"m": g.m, "k": g.k, "n": g.n, "speedup": v}
                          for g, v in zip(compute.squares(r.gemm), r.gemm_speedups)],
        "software": {"torch": r.sw.torch_version, "linear_dispatch": t(r.sw.linear_dispatch),
                     "embedding_dispatch": t(r.sw.embedding_dispatch), "l1_gather": t(r.sw.cycles_run),
                     "l1_one_lookup_bags": t(r.sw.bags_run),
                     "gather_1_thread": t(r.sw.one_thread), "gather_all_threads": t(r.sw.all_threads),
                     "other_threads_cpu_share": r.sw.other_threads_cpu_share,
                     "lower_triangle_index": [{"batch": b, **t(x)} for b, x in zip(software.INDEX_BATCHES,
                                                                                   r.sw.index_runs)]},
    }
