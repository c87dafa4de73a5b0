"""Memory probes: load-to-use latency vs working set (4 KiB and 2 MiB pages), misses in flight, bandwidth.

What each one measures, and how the numbers are read off (pure functions below, tested on made-up curves):
- `latency_curve`: one chain over 16 KiB .. 1 GiB. A cache level's plateau is the lowest latency between twice
  the previous level's size and its own sysfs size; its *effective* capacity is where the curve crosses the
  geometric mean of its plateau and the next one (a guest may own much less L3 than sysfs says). The idle
  memory latency is the huge-page curve at the first working set >= MEMORY_WS_FACTOR x the effective LLC, where
  under 2% of a random chase can hit in the LLC; beyond it the 2 MiB-page curve rises too (2 MiB translations
  and, in a guest, the host's nested page tables) and that rise is not DRAM.
- `latency_curve(..., chains=ROW_CHAINS)` and `llc_under_load`: the same chase with ROW_CHAINS chains at once,
  from L2 to beyond the LLC, in rounds spread over the probe run, each working set keeping its fastest round
  (`best_points`). The LLC a guest shares with other tenants keeps a line only until their fills push
  it out, so what it holds depends on how soon a line comes back: one chain revisits a line of a 4 MiB working
  set every ~1.3 ms, 32 chains every ~0.1 ms, as often as a batch's gathers do. On this project's guest one
  chain lost the L3 at 3-5 MiB while 32 chains still hit it at 8-12 MiB (docs/calibrate.md, runs 8-13). The
  LLC's capacity in the config is the many-chain one, and so is its latency: the many-chain plateau's ns a line
  x the lines a core keeps in flight (Little's law, `loaded_latency_ns`), as one chain may see no LLC plateau at
  all on a guest whose share ends before twice its L2 (runs 14-16).
- The 4 KiB minus 2 MiB curve is the translation cost: TLB reach is the largest working set where it is still
  small, the page-walk cost is its value at the same working set as the memory latency (every hop a new page,
  a TLB miss; the walk grows for larger tables as their page tables stop fitting the caches).
- `parallelism`: k chains per thread (k = 1..32), 1..N threads, in a table too large for any cache and on huge
  pages: the loaded-latency curve (bandwidth, ns per miss). Misses in flight per core = the best one-thread
  throughput x the idle latency (Little's law); random-read bandwidth = the best all-thread throughput x 64 B.
- `walk_rate`: k chains over one line per 4 KiB page of a span far beyond the TLB's reach, the lines themselves
  few enough to stay in cache: every hop is a TLB miss whose data hits, so the hop rate on 4 KiB pages is the
  rate the core's page walkers sustain; the same lines packed into a few pages show the data's own rate, and the
  chase on 2 MiB pages whether huge pages spare the walks (in a guest mapped with 4 KiB pages they do not).
- `first_level_tlb`: one chain over one line per 4 KiB page of 8 .. 256 pages against the same lines packed,
  the data in L1 either way: the extra ns a hop is ~0 while the pages fit the first-level data TLB and climbs to
  the cost of a first-level miss that the second level serves (a few cycles) beyond it (`first_level_from`).
- `row_gather`: ROW_CHAINS chains over rows of 1 and of ROW_LINES consecutive lines (a 256 B row), each hop
  reading the whole row, in a table far beyond the LLC on huge pages: the chains keep every fill buffer busy, so
  if each line of a row takes a fill buffer a row of R lines costs R one-line rows; if the L2 streamer fetches a
  row's later lines once its first misses, about one (`streamer_from`).
- `stream`: STREAM triad over 3 x 128 MiB arrays on N threads (bytes read + written / time).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from accelsim.probe.chase import LINE_BYTES, WORDS_PER_LINE, ChaseBuffer, chase, read_sums, row_chase, triad
from accelsim.probe.repeat import Timing, repeat

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
CHAINS = (1, 2, 4, 8, 12, 16, 24, 32)
MEMORY_WS_FACTOR = 64
TARGET_NS = 4e6  # each timed run chases for about this long


def working_sets(lo: int = 16 * KIB, hi: int = GIB) -> list[int]:
    """Powers of two and the points halfway between (x1.5) from `lo` to `hi` bytes."""
    out, s = [], lo
    while s <= hi:
        out.append(s)
        if s * 3 // 2 < hi:
            out.append(s * 3 // 2)
        s *= 2
    return out


@dataclass(frozen=True)
class LatencyPoint:
    """Load-to-use latency of one chain over a working set."""

    ws_bytes: int
    huge_pages: bool
    latency_ns: float
    spread: float


def _hops_for(buf_words: np.ndarray, start: np.ndarray) -> int:
    """Hops that make one timed run last about TARGET_NS, from a short trial."""
    trial = 2000
    t0 = time.thread_time_ns()
    chase(buf_words, start, trial)
    per_hop = max((time.thread_time_ns() - t0) / trial, 0.2)
    return max(1000, int(TARGET_NS / per_hop))


def latency_curve(sizes: list[int], huge: bool, budget_s: float, seed: int = 0, chains: int = 1
                  ) -> tuple[list[LatencyPoint], float]:
    """`chains` chains (one: load-to-use latency) spread around one random cycle over each working set, on 4 KiB
    pages or transparent huge pages, ns per line; and the share of the buffer the kernel backed with huge pages."""
    buf = ChaseBuffer(max(sizes) // LINE_BYTES, huge, seed)
    out = []
    try:
        for ws in sizes:
            lines = ws // LINE_BYTES
            order = buf.use(lines)
            starts = order[np.arange(chains) * (lines // chains)].copy()
            chase(buf.words, starts, min(lines, 200_000) // chains)  # warm caches and TLBs with what fits
            hops = _hops_for(buf.words, starts)
            t = repeat(lambda: chase(buf.words, starts, hops), budget_s=budget_s / len(sizes), warmup=1)
            out.append(LatencyPoint(ws, huge, t.per(hops) / chains, t.spread))
        granted = buf.huge_fraction()
    finally:
        buf.close()
    return out, granted


@dataclass(frozen=True)
class MlpPoint:
    """k chains on each of `threads` threads: ns per hop per chain and the bytes per second all threads pull."""

    threads: int
    chains: int
    latency_ns: float
    bandwidth_gbps: float
    spread: float


def _parallel(fn, threads: int) -> float:
    """Run fn(i) on `threads` threads; the slowest thread's CPU time, ns."""
    spent = [0.0] * threads

    def timed(i: int) -> None:
        t0 = time.thread_time_ns()
        fn(i)
        spent[i] = float(time.thread_time_ns() - t0)

    ts = [threading.Thread(target=timed, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return max(spent)


def parallelism(ws_bytes: int, max_threads: int, budget_s: float, seed: int = 0) -> list[MlpPoint]:
    """The loaded-latency curve: CHAINS chains per thread on 1..max_threads threads, huge pages."""
    buf = ChaseBuffer(ws_bytes // LINE_BYTES, True, seed)
    out = []
    try:
        order = buf.use(ws_bytes // LINE_BYTES)
        n_runs = max_threads * len(CHAINS)
        for threads in range(1, max_threads + 1):
            for k in CHAINS:
                # Chains spread evenly around the cycle, so no two ever meet.
                starts = [order[(np.arange(k) * threads + i) * (order.size // (k * threads))].copy()
                          for i in range(threads)]
                hops = _hops_for(buf.words, starts[0]) // k
                t = repeat(lambda: _parallel(lambda i: chase(buf.words, starts[i], hops), threads),
                           budget_s=budget_s / n_runs, warmup=1)
                per_hop = t.per(hops)
                out.append(MlpPoint(threads, k, per_hop, threads * k * LINE_BYTES / per_hop, t.spread))
    finally:
        buf.close()
    return out


def best_points(rounds: list[list]) -> list:
    """Rounds of one curve (the same points in the same order: MlpPoint or LatencyPoint) as one: each point's
    fastest round. The misses a core keeps in flight moved by up to 1.5x within minutes on the project's guests
    (validate's drift check, runs 19-22), and the L3 a guest keeps under many chains between 6.8 and 13 MiB
    between probe runs (runs 24-33), as the memory traffic of other tenants came and went."""
    return [min(p, key=lambda q: q.latency_ns) for p in zip(*rounds)]


WALK_SPANS = (16 * MIB, 64 * MIB, 256 * MIB)  # one line per page: 256 KiB .. 4 MiB of data, inside L2 / L3
WALK_CHAINS = 32
PAGE_4K = 4096


@dataclass(frozen=True)
class WalkRate:
    """ns per hop of WALK_CHAINS chains that each touch a new page at every hop, on 4 KiB and on 2 MiB pages, and
    of the same chains over the same number of lines packed together (2 MiB pages: the data's own pace)."""

    span_bytes: int
    interval_4k_ns: float
    interval_2m_ns: float
    spread: float
    interval_dense_ns: float = 0.0   # 0: not probed
    latency_4k_ns: float = 0.0       # one chain, one line a 4 KiB page: ns a hop (0: not probed)
    latency_dense_ns: float = 0.0    # one chain over the same lines packed together
    latency_2m_ns: float = 0.0       # one chain, one line a 4 KiB page on 2 MiB pages (0: not probed)


def _page_lines(span: int, kind: str, seed: int) -> tuple[ChaseBuffer, np.ndarray]:
    """A cyclic chase over one line per 4 KiB page of `span` ("4k": 4 KiB pages; "2m": the same on 2 MiB pages)
    or over the same number of lines packed side by side ("dense", 2 MiB pages: the same footprint, a few
    pages); the buffer and the lines in chase order."""
    pages = span // PAGE_4K
    buf = ChaseBuffer(span // LINE_BYTES, kind != "4k", seed)
    if kind == "dense":
        words = np.arange(pages, dtype=np.int64) * (LINE_BYTES // 8)
    else:  # at varying offsets within their pages, so they spread over the cache sets
        words = np.arange(pages, dtype=np.int64) * (PAGE_4K // 8) + (np.arange(pages) * 7 % 64) * 8
    order = words[np.random.default_rng([seed, pages]).permutation(pages)]
    buf.words[order] = np.roll(order, -1)
    return buf, order


def _one_chain_ns(buf: ChaseBuffer, order: np.ndarray, budget_s: float) -> tuple[Timing, int]:
    """One chain around the lines (every hop waits for the one before, its walk included), and its hops a run."""
    one = order[:1].copy()
    hops = min(order.size, 20_000)
    return repeat(lambda: chase(buf.words, one, hops), budget_s=budget_s, warmup=1), hops


def walk_rate(spans: tuple[int, ...], budget_s: float, chains: int = WALK_CHAINS, seed: int = 0) -> list[WalkRate]:
    """Page-walk throughput of one core: one line per 4 KiB page over each span, `chains` chains at once; and
    one chain over the same lines on 4 KiB and on 2 MiB pages and over the packed lines (a walk's latency)."""
    out = []
    for span in spans:
        pages = span // PAGE_4K
        per = {}
        spread = 0.0
        for kind in ("4k", "2m", "dense"):
            buf, order = _page_lines(span, kind, seed)
            try:
                starts = order[np.arange(chains) * (pages // chains)].copy()
                hops = max(1000, 200_000 // chains)
                chase(buf.words, starts, hops)
                t = repeat(lambda: chase(buf.words, starts, hops), budget_s=budget_s / (4 * len(spans)), warmup=1)
                per[kind] = t.per(hops) / chains
                spread = max(spread, t.spread)
                t1, n = _one_chain_ns(buf, order, budget_s / (12 * len(spans)))
                per[kind + "_one"] = t1.per(n)
                spread = max(spread, t1.spread)
            finally:
                buf.close()
        out.append(WalkRate(span, per["4k"], per["2m"], spread, per["dense"], per["4k_one"], per["dense_one"],
                            per["2m_one"]))
    return out


REACH_SPANS = tuple(m * MIB for m in (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64))
REACH_WALK_FROM = 16 * MIB   # spans from here on are far beyond any TLB: their extra cost is a whole walk
REACH_TURNS = 3              # the 4 KiB and the packed chase alternate, so both see the host in the same states


def walk_reach(budget_s: float, spans: tuple[int, ...] = REACH_SPANS, seed: int = 0
               ) -> tuple[int, list[tuple[int, float]], list[tuple[int, float]]]:
    """TLB reach where 2 MiB pages walk too: one chain over one line per 4 KiB page of each span against the
    same lines packed (their fastest runs, timed in turns). The extra ns a hop climbs from a second-level TLB hit
    (a few ns) to a whole walk (the median extra from REACH_WALK_FROM on); the reach is the largest span before
    the extra first passes half a walk, the midpoint of the climb, as a cache's effective size is read at the
    crossing between its plateaus. Returns it, each span's extra ns a hop, and the same extra with the lines on
    2 MiB pages (a guest's huge page still walks, but its walk skips the guest's last page-table level)."""
    extra, extra_2m = [], []
    for span in spans:
        bufs = [_page_lines(span, kind, seed) for kind in ("4k", "2m", "dense")]
        try:
            best = [math.inf] * len(bufs)
            for _ in range(REACH_TURNS):
                for i, (buf, order) in enumerate(bufs):
                    t, n = _one_chain_ns(buf, order, budget_s / (len(bufs) * REACH_TURNS * len(spans)))
                    best[i] = min(best[i], t.per(n))
            extra.append((span, max(best[0] - best[2], 0.0)))
            extra_2m.append((span, max(best[1] - best[2], 0.0)))
        finally:
            for buf, _ in bufs:
                buf.close()
    return reach_from(extra), extra, extra_2m


def reach_from(extra: list[tuple[int, float]], walk_from: int = REACH_WALK_FROM) -> int:
    """The largest span before a span's extra ns a hop first passes half a walk (the median extra from
    `walk_from` on); half the smallest span when the first already does; the largest when none does."""
    far = [e for s, e in extra if s >= walk_from]
    half_walk = 0.5 * float(np.median(far)) if far else math.inf
    reach = extra[0][0] // 2 if extra else 0
    for span, e in extra:
        if e > half_walk:
            break
        reach = span
    return reach


FIRST_LEVEL_PAGES = (8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 96, 112, 128, 160, 192, 256)
# From here on a span is beyond any first-level data TLB and within any second level (ASSUMPTION: first levels
# of current x86 cores hold 64-96 4 KiB translations -- 64 on Zen 3 by AMD's Family 19h optimization guide,
# pub. 56665 -- and second levels >= 1024). Not further: on the EPYC guest 384-512 pages already cost more
# (3.2-3.6 against 2.2-2.7 ns a hop at 64-256, run 27), which is not the first level's miss.
FIRST_LEVEL_FAR = 128
FIRST_LEVEL_MIN_NS = 0.5  # below this a miss in the first level is not told from the chase's noise
FIRST_LEVEL_HOPS = 200_000


def first_level_tlb(budget_s: float, pages: tuple[int, ...] = FIRST_LEVEL_PAGES, seed: int = 0
                    ) -> list[tuple[int, float]]:
    """The first-level data TLB: one chain over one line per 4 KiB page of each page count against the same
    lines packed (a few KiB of data, in L1 either way), the two timed in turns, each run many laps of the short
    cycle; per page count, the extra ns a hop of the fastest runs (>= 0)."""
    extra = []
    for n in pages:
        bufs = [_page_lines(n * PAGE_4K, kind, seed) for kind in ("4k", "dense")]
        try:
            best = [math.inf, math.inf]
            for _ in range(REACH_TURNS):
                for i, (buf, order) in enumerate(bufs):
                    one = order[:1].copy()
                    t = repeat(lambda: chase(buf.words, one, FIRST_LEVEL_HOPS),
                               budget_s=budget_s / (2 * REACH_TURNS * len(pages)), warmup=1)
                    best[i] = min(best[i], t.per(FIRST_LEVEL_HOPS))
            extra.append((n, max(best[0] - best[1], 0.0)))
        finally:
            for buf, _ in bufs:
                buf.close()
    return extra


def first_level_from(extra: list[tuple[int, float]], far: int = FIRST_LEVEL_FAR) -> tuple[int, float]:
    """(entries, ns a miss costs) of the first-level TLB: the cost is the median extra from `far` pages on, the
    entries the largest page count before the extra first passes half of it (the midpoint of the climb, as
    `reach_from` reads the last level); (0, 0.0) when the cost is under FIRST_LEVEL_MIN_NS (no level seen)."""
    beyond = [e for n, e in extra if n >= far]
    cost = float(np.median(beyond)) if beyond else 0.0
    if cost < FIRST_LEVEL_MIN_NS:
        return 0, 0.0
    entries = 0
    for n, e in extra:
        if e > 0.5 * cost:
            break
        entries = n
    return entries, cost


def walk_latencies(rates: list[WalkRate], huge: bool = False) -> list[tuple[int, float]]:
    """(span, ns one page walk adds to a load) from one chain over one line a 4 KiB page (`huge`: the same
    lines on 2 MiB pages) against the same lines packed: the data's caches are the same, so the difference is
    the translation's. Unlike 4 KiB against 2 MiB pages, this holds where 2 MiB pages walk too (a guest its
    hypervisor maps with 4 KiB pages)."""
    out = []
    for r in rates:
        lat = r.latency_2m_ns if huge else r.latency_4k_ns
        if lat > 0.0 and r.latency_dense_ns > 0.0:
            out.append((r.span_bytes, max(lat - r.latency_dense_ns, 0.0)))
    return out


def huge_pages_translate(rates: list[WalkRate], slack: float = 0.1) -> bool:
    """Do 2 MiB pages spare the walks? At the largest span, one line a page on 2 MiB pages is within `slack` of
    the same lines packed together. In a guest whose hypervisor maps its memory with 4 KiB pages, the TLBs still
    hold 4 KiB translations and every new 4 KiB page walks, whatever page the guest kernel granted."""
    r = max(rates, key=lambda w: w.span_bytes, default=None)
    if r is None or r.interval_dense_ns <= 0.0:
        return True
    return r.interval_2m_ns <= (1 + slack) * r.interval_dense_ns


def walk_intervals(rates: list[WalkRate], huge: bool = False, slack: float = 0.1) -> list[tuple[int, float]]:
    """(span, ns between walks) where walks bind on the tables' pages (`huge`: 2 MiB): that page size's hop
    interval where it exceeds the data's own pace (the packed lines; without them, for 4 KiB pages, the 2 MiB
    interval) by more than `slack`; else 0, no limit: the data, not the walkers, set the pace."""
    out = []
    for r in rates:
        iv = r.interval_2m_ns if huge else r.interval_4k_ns
        base = r.interval_dense_ns or (float("inf") if huge else r.interval_2m_ns)
        out.append((r.span_bytes, iv if iv > (1 + slack) * base else 0.0))
    return out


ROW_LINES = 4     # a 256 B row: 64 fp32, the embedding width of the grid's and the shipped models' tables
ROW_CHAINS = 32   # more rows in flight than any core has fill buffers, so one-line rows already fill them
ROW_SPAN = 256 * MIB


@dataclass(frozen=True)
class RowGather:
    """ns per row of ROW_CHAINS chains, each hop reading a whole row of `lines` consecutive lines."""

    lines: int
    row_ns: float
    spread: float


def row_gather(span: int, budget_s: float, lines: tuple[int, ...] = (1, ROW_LINES), chains: int = ROW_CHAINS,
               seed: int = 0) -> list[RowGather]:
    """Random rows of each size over `span` bytes on huge pages (no page walks), `chains` chains at once."""
    buf = ChaseBuffer(span // LINE_BYTES, True, seed)
    out = []
    try:
        for r in lines:
            row_words = r * WORDS_PER_LINE
            rows = span // (r * LINE_BYTES)
            order = buf.use(rows, r)
            starts = order[np.arange(chains) * (rows // chains)].copy()
            hops = max(100, 100_000 // chains)
            row_chase(buf.words, starts, 10, row_words)
            t = repeat(lambda: row_chase(buf.words, starts, hops, row_words), budget_s=budget_s / len(lines),
                       warmup=1)
            out.append(RowGather(r, t.per(hops) / chains, t.spread))
    finally:
        buf.close()
    return out


def streamer_from(rows: list[RowGather]) -> tuple[bool, float]:
    """(whether a row's later lines bypass the fill buffers, cost of the longest row in one-line rows): with
    every line in a fill buffer the longest row of R lines costs R one-line rows, with the streamer about one;
    the nearer of the two on a log scale decides (the boundary is their geometric mean, sqrt(R))."""
    one = next(g for g in rows if g.lines == 1)
    longest = max(rows, key=lambda g: g.lines)
    cost = longest.row_ns / one.row_ns
    return cost < math.sqrt(longest.lines), cost


READ_RUN_BYTES = 16 * MIB  # bytes one timed run of a sequential read covers


@dataclass(frozen=True)
class ReadBandwidth:
    """One thread reading a working set front to back, again and again."""

    ws_bytes: int
    bandwidth_gbps: float
    spread: float


def read_bandwidth(ws_bytes: int, budget_s: float) -> ReadBandwidth:
    """Sequential-read GB/s of one thread over a `ws_bytes` float32 array allocated as tables are (numpy)."""
    a = np.ones(max(ws_bytes // 4, 16), dtype=np.float32)
    # A 128 KiB read lasts ~2 us, about what reading the thread's CPU clock costs: one read a run reported a third
    # of L2's bandwidth here (25-33 GB/s where 128 reads a run give 82), so every run reads READ_RUN_BYTES.
    reps = max(1, READ_RUN_BYTES // a.nbytes)

    def run() -> None:  # returns nothing: repeat() takes a float result as the run's own timing
        read_sums(a, reps)

    t = repeat(run, budget_s=budget_s, warmup=2)
    return ReadBandwidth(int(a.nbytes), a.nbytes * reps / t.min_ns, t.spread)


def level_read_sets(levels: list["Level"], memory_ws_bytes: int) -> list[int]:
    """Working sets that sit inside each level below L1 (between its effective size and the one above, on a
    log scale), then memory: where one thread's sequential reads measure each interface's bandwidth."""
    eff = [lv.effective_bytes for lv in levels]
    return [int(math.sqrt(eff[i - 1] * eff[i])) for i in range(1, len(eff))] + [memory_ws_bytes]


@dataclass(frozen=True)
class Stream:
    """STREAM triad bandwidth on `threads` threads."""

    threads: int
    bandwidth_gbps: float
    spread: float


def stream(threads: int, budget_s: float, elements: int = 16 * MIB) -> Stream:
    """Triad over 3 arrays of `elements` float64 (128 MiB each by default), split in `threads` chunks."""
    a, b, c = (np.ones(elements) for _ in range(3))
    cut = np.linspace(0, elements, threads + 1).astype(np.int64)
    parts = [(a[cut[i]:cut[i + 1]], b[cut[i]:cut[i + 1]], c[cut[i]:cut[i + 1]]) for i in range(threads)]
    t = repeat(lambda: _parallel(lambda i: triad(*parts[i], 3.0), threads), budget_s=budget_s, warmup=1)
    return Stream(threads, 3 * 8 * elements / t.min_ns, t.spread)


# ---------------------------------------------------------------------------------------------------------
# Reading the curves
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Level:
    """A cache level as the chase sees it."""

    name: str
    latency_ns: float             # load-to-use latency of a hit here (cumulative, as the chase sees it)
    effective_bytes: int          # where the curve leaves this level's plateau
    sysfs_bytes: int


def _crossing(ws: np.ndarray, lat: np.ndarray, threshold: float, lo: int) -> float:
    """Largest working set >= lo before the curve first exceeds `threshold` (log-interpolated)."""
    for i in range(1, ws.size):
        if ws[i] <= lo or lat[i] <= threshold:
            continue
        if lat[i - 1] > threshold:
            return float(ws[i - 1])
        f = (math.log(threshold) - math.log(lat[i - 1])) / (math.log(lat[i]) - math.log(lat[i - 1]))
        return float(math.exp(math.log(ws[i - 1]) + f * (math.log(ws[i]) - math.log(ws[i - 1]))))
    return float(ws[-1])


def _plateau(ws: np.ndarray, lat: np.ndarray, above_bytes: int, size_bytes: int) -> float:
    """A level's load-to-use plateau off a one-chain curve. The first level: the fastest working set up to half
    its size. Below it: the lowest latency that two consecutive working sets in (above, size] both stay within
    (the larger of each pair), so that one working set the level above still partly serves cannot pass for the
    plateau, while a level whose one-chain share ends well before twice the size above it (a guest's slice of
    a shared LLC) is still seen."""
    if not above_bytes:
        sel = ws <= size_bytes // 2
        return float(lat[sel].min()) if sel.any() else float(lat[0])
    idx = np.flatnonzero((ws > above_bytes) & (ws <= size_bytes))
    if idx.size >= 2:
        return float(np.maximum(lat[idx[:-1]], lat[idx[1:]]).min())
    if idx.size:
        return float(lat[idx[0]])
    return float(lat[min(int(np.searchsorted(ws, above_bytes, side="right")), ws.size - 1)])


def cache_levels(points: list[LatencyPoint], sysfs: list[tuple[str, int]]) -> tuple[list[Level], float, int]:
    """(levels, idle memory latency ns, the working set it was read at) off a huge-page latency curve;
    sysfs = [(name, size_bytes)...]."""
    pts = sorted(points, key=lambda p: p.ws_bytes)
    ws = np.array([p.ws_bytes for p in pts], dtype=np.float64)
    lat = np.array([p.latency_ns for p in pts])
    memory_ns = float(lat[-1])  # first estimate, for the last level's crossing
    plateaus = []
    prev = 0
    for name, size in sysfs:
        plateaus.append(_plateau(ws, lat, prev, size))
        prev = size
    levels = []
    for i, (name, size) in enumerate(sysfs):
        nxt = plateaus[i + 1] if i + 1 < len(plateaus) else memory_ns
        threshold = math.sqrt(plateaus[i] * max(nxt, plateaus[i]))
        lo = sysfs[i - 1][1] if i else 0
        eff = min(_crossing(ws, lat, threshold, lo), float(size))
        levels.append(Level(name, plateaus[i], int(eff), size))
    at = int(np.searchsorted(ws, MEMORY_WS_FACTOR * levels[-1].effective_bytes))
    at = min(at, ws.size - 1)
    return levels, float(lat[at]), int(ws[at])


def _many_chain_curve(points: list[LatencyPoint]) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted(points, key=lambda p: p.ws_bytes)
    return np.array([p.ws_bytes for p in pts], dtype=np.float64), np.array([p.latency_ns for p in pts])


def llc_plateau_ns(points: list[LatencyPoint], llc_sysfs_bytes: int, above_bytes: int) -> float:
    """ns a line at the many-chain curve's LLC plateau: the fastest line between the level above and the LLC's
    sysfs size."""
    ws, ns = _many_chain_curve(points)
    inside = (ws > above_bytes) & (ws <= llc_sysfs_bytes)
    return float(ns[inside].min()) if inside.any() else float(ns[0])


def loaded_latency_ns(ns_per_line: float, misses_in_flight: float, chains: int = ROW_CHAINS) -> float:
    """Load-to-use latency under load, by Little's law: the ns a line of `chains` chains x the lines in flight
    (the chains, or the fill buffers when fewer). One chain on a shared guest may lose the LLC before it is past
    the level above (docs/calibrate.md, run 15), and a gather's hits queue as the chains' do."""
    return ns_per_line * min(float(chains), misses_in_flight)


def llc_under_load(points: list[LatencyPoint], llc_sysfs_bytes: int, above_bytes: int) -> int:
    """Where the many-chain curve leaves its LLC plateau (`llc_plateau_ns`) for its memory plateau (the largest
    working set): the crossing of their geometric mean, at most the sysfs size."""
    ws, ns = _many_chain_curve(points)
    plateau = llc_plateau_ns(points, llc_sysfs_bytes, above_bytes)
    threshold = math.sqrt(plateau * max(float(ns[-1]), plateau))
    return int(min(_crossing(ws, ns, threshold, above_bytes), float(llc_sysfs_bytes)))


@dataclass(frozen=True)
class Translation:
    """What 4 KiB pages cost over 2 MiB ones."""

    reach_bytes: int          # largest working set whose 4 KiB chase is within `slack_ns` of the huge-page one
    page_walk_ns: float       # extra latency per hop once every hop misses the TLBs
    curve: tuple[tuple[int, float], ...] = ()  # (working set, 4 KiB minus 2 MiB ns, >= 0) at every probed size


def translation(small: list[LatencyPoint], huge: list[LatencyPoint], at_ws: int, slack_frac: float = 0.1
                ) -> Translation:
    """TLB reach and page-walk cost (at working set `at_ws`) from the 4 KiB and 2 MiB curves."""
    by_ws = {p.ws_bytes: p.latency_ns for p in huge}
    pairs = sorted((p.ws_bytes, p.latency_ns - by_ws[p.ws_bytes]) for p in small if p.ws_bytes in by_ws)
    walk = max(next((e for w, e in pairs if w >= at_ws), pairs[-1][1]), 0.0)
    reach = pairs[0][0]
    for ws, extra in pairs:
        if extra > slack_frac * walk + 1.0:
            break
        reach = ws
    return Translation(reach, walk, tuple((int(w), max(float(e), 0.0)) for w, e in pairs))


def misses_in_flight(points: list[MlpPoint], idle_latency_ns: float) -> tuple[float, float]:
    """(misses one core keeps in flight, random-read GB/s of all threads) from the loaded-latency curve."""
    one = [p for p in points if p.threads == 1]
    best_one = max(p.chains / p.latency_ns for p in one)        # misses per ns of one core
    return best_one * idle_latency_ns, max(p.bandwidth_gbps for p in points)
