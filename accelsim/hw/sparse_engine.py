"""Centaur's EB-Streamer: a sparse gather-reduce engine on the accelerator that reads host memory over the links.

Per batch: (1) the engine streams the index arrays from host memory; (2) each of `gather_units` units walks
its bags, generating one row address per cycle once the row's index has arrived, and issues the row's lines
as naturally aligned requests of `request_lines` lines, keeping at most `outstanding_per_unit` lines in
flight; (3) requests first look in the on-chip hot-row store and the platform cache in front of the links;
misses cross the links, are served by host DRAM, and come back over the links; (4) each unit sums its rows
with `reduce_lanes` FP32 adders per cycle.

Compressed tables (docs/compression.md): a lookup expands into reads of stored part rows (QR's two tables,
k hashed rows, TT cores), each one generated address and its lines; row-wise quantised codes pass a dequantiser
in front of each adder lane (pipelined: no throughput cost, one more pipeline stage). A unit's line requests
that repeat a line it requested within its last `outstanding_per_unit` lines merge into the earlier request
(MSHR-style), so narrow rows that share a line cost the line once.

A read's path is composed from the component models: host DRAM sees the request when its header has crossed
the link, and the link's return leg starts when DRAM has the data, so both the link FIFO and the DRAM banks
impose their own limits on the same requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from accelsim.config.accel import SparseEngineConfig
from accelsim.config.cache import CacheConfig
from accelsim.hw.cache import Cache
from accelsim.hw.host_memory import counter_dict, fixed_requests
from accelsim.hw.link import request_line_addresses, split_requests
from accelsim.hw.requester import closed_loop, closed_loop_bound
from accelsim.kernels.link_sim import request_ready_ns
from accelsim.kernels.window import repeats_within_window
from accelsim.hw.scratchpad import Scratchpad
from accelsim.hw.lookups import Lookups, PartLayout, expand_lookups, lookup_lines

INDEX_BYTES = 8  # int64 indices and offsets, as the trace format and nn.EmbeddingBag hold them


@dataclass
class EngineGather:
    """Result of one embedding stage on the sparse engine."""

    time_ns: float
    lines: int
    index_bytes: int
    hot_hits_lines: int
    link_cache_hits_lines: int
    link_requests: int
    link_payload_bytes: int
    link_header_bytes: int
    reduce_adds: int
    index_stream_ns: float
    dram_counters: dict = field(default_factory=dict)
    merged_lines: int = 0
    dequant_elems: int = 0

    @property
    def link_bits(self) -> float:
        return 8.0 * (self.link_payload_bytes + self.link_header_bytes)

    def counters(self) -> list[tuple[str, float]]:
        """The engine's own action counts, by name."""
        return [(k, float(getattr(self, k))) for k in (
            "lines", "index_bytes", "hot_hits_lines", "link_cache_hits_lines", "link_requests", "reduce_adds",
            "index_stream_ns", "merged_lines", "dequant_elems")]


class HostReadPath:
    """Reads from the accelerator: link out, host DRAM, link back; fresh link state per pass."""

    def __init__(self, make_links, dram, line_bytes: int, index_base_addr: int, fabric_latency_ns: float,
                 idle: "HostReadPath | None" = None):
        self.make_links = make_links
        self.dram = dram
        self.half_fabric_ns = fabric_latency_ns / 2  # host fabric + memory controller, each way
        self.line_bytes = line_bytes
        self.index_base_addr = index_base_addr  # where the batch's index arrays sit in host memory
        self._last: dict = {}
        self._uncounted: tuple[Callable, np.ndarray] | None = None  # (counting pass, issue) of a timed-only one
        # The same path with nothing else running (self when this one carries no background): an unloaded round
        # trip measured among overlapping phases' requests would be their queueing, not the path's latency.
        self.idle = idle if idle is not None else self

    @property
    def last(self) -> dict:
        """The DRAM result and the links of the last pass, whose counters the stage reports. A pass timed
        without counting is counted here, once, by the counting pass at the same issue times."""
        if self._uncounted is not None:
            counted, issue_ns = self._uncounted
            self._uncounted = None
            counted(issue_ns)
        return self._last

    def serve(self, issue_ns: np.ndarray, req_addr: np.ndarray, req_lines: np.ndarray) -> np.ndarray:
        """Completion time of each multi-line read issued at `issue_ns` (one counted pass)."""
        return self.reads(req_addr, req_lines, repeated=False)(issue_ns)

    def reads(self, req_addr: np.ndarray, req_lines: np.ndarray, repeated: bool = True
              ) -> Callable[[np.ndarray], np.ndarray]:
        """issue_ns -> completion of each of these multi-line reads (what a closed loop times again and again:
        their lines are split and decoded once; where the models time without counting, a `repeated` pass
        only times and the last one is counted when asked, see `last`)."""
        line_addr, line_owner = request_line_addresses(req_addr, req_lines, self.line_bytes)
        dram_reads = fixed_requests(self.dram, line_addr, np.zeros(line_addr.size, dtype=np.bool_))
        payload = req_lines * self.line_bytes
        to_device = np.zeros(req_addr.size, np.int8)
        first_line = np.cumsum(req_lines) - req_lines  # a request's lines are consecutive in line order
        links = self.make_links()
        # The outbound leg carries only request headers (a few % of the return traffic), so it is taken as
        # unqueued: the fastest channel's header serialisation plus flight time.
        out_ns = min(ch.header_bytes / ch.bandwidth_gbps + ch.latency_ns for ch in links.cfg.channels)

        def data_ready_ns(dram_done_ns: np.ndarray) -> np.ndarray:
            return request_ready_ns(dram_done_ns, first_line, self.half_fabric_ns) if req_addr.size else np.zeros(0)

        def counted(issue_ns: np.ndarray) -> np.ndarray:
            pass_links = self.make_links()
            res = dram_reads(issue_ns[line_owner] + out_ns + self.half_fabric_ns)
            data_ready = data_ready_ns(res.completion_ns)
            # Replay each request on the links so that its data leaves the host when DRAM has it; the link model
            # then queues the return traffic on the steered channel.
            back = pass_links.transfer(data_ready - out_ns, payload, to_device)
            self._last, self._uncounted = {"dram": res, "links": pass_links}, None
            return np.maximum(back.completion_ns, data_ready)

        dram_times = dram_reads.completion_ns
        timer = getattr(links, "timer", None)
        if not repeated or dram_times is None or timer is None or (link_times := timer(payload, to_device)) is None:
            return counted

        def timed(issue_ns: np.ndarray) -> np.ndarray:
            data_ready = data_ready_ns(dram_times(issue_ns[line_owner] + out_ns + self.half_fabric_ns))
            self._uncounted = (counted, np.array(issue_ns, dtype=np.float64))
            return np.maximum(link_times(data_ready - out_ns), data_ready)
        return timed


class SparseEngine:
    """Gather-reduce engine timing; the on-chip hot store and platform cache keep contents across batches."""

    def __init__(self, cfg: SparseEngineConfig, clock_ghz: float, link_cache: CacheConfig | None):
        self.cfg = cfg
        self.clock_ghz = clock_ghz
        self.link_cache = Cache(link_cache) if link_cache is not None else None
        self.hot_cache = None
        if cfg.hot_cache_bytes and cfg.hot_cache_kind == "cache":
            self.hot_cache = Cache(CacheConfig(name="hot_row_cache", size_bytes=cfg.hot_cache_bytes, ways=1,
                                               line_bytes=cfg.line_bytes, hit_latency_ns=1 / clock_ghz))
        self.scratchpad: Scratchpad | None = None

    @property
    def wants_profile(self) -> bool:
        """Whether the engine pins hot rows in a scratchpad, chosen from a profile of the lookups."""
        return bool(self.cfg.hot_cache_bytes) and self.cfg.hot_cache_kind == "scratchpad"

    def pin_hot_rows(self, index_streams: list[np.ndarray], row_bytes) -> None:
        """Fill the scratchpad from a profile of row popularity (offline profiling, as hot-row designs do)."""
        self.scratchpad = Scratchpad.from_hot_rows(self.cfg.hot_cache_bytes, row_bytes, index_streams=index_streams)

    @property
    def window_requests(self) -> int:
        """Requests a unit may have in flight: its line slots divided by the lines per request."""
        return max(1, self.cfg.outstanding_per_unit // self.cfg.request_lines)

    def _on_chip(self, lookups: Lookups, addr: np.ndarray, owner: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(mask of lines that must cross the links, latency of each on-chip hit, hot-store hits, cache hits)."""
        off_chip = np.ones(addr.size, dtype=np.bool_)
        hit_ns = np.zeros(addr.size)
        if self.scratchpad is not None:
            pinned = np.zeros(lookups.size, dtype=np.bool_)
            for t in np.unique(lookups.table):
                sel = np.flatnonzero(lookups.table == t)
                pinned[sel] = self.scratchpad.lookup(int(t), lookups.row[sel])
            off_chip &= ~pinned[owner]
        elif self.hot_cache is not None:
            off_chip &= ~self.hot_cache.access(addr)
        hit_ns[~off_chip] = 1.0 / self.clock_ghz  # the hot store is read in one engine cycle
        hot_hits = int(addr.size - off_chip.sum())
        cache_hits = 0
        if self.link_cache is not None:
            sel = np.flatnonzero(off_chip)
            hit = self.link_cache.access(addr[sel])
            off_chip[sel[hit]] = False
            hit_ns[sel[hit]] = self.link_cache.cfg.hit_latency_ns
            cache_hits = int(hit.sum())
        return off_chip, hit_ns, hot_hits, cache_hits

    def gather(self, lookups: Lookups, spec, layout: PartLayout, path: HostReadPath, *,
               analytic: bool = False) -> EngineGather:
        """Time to gather and reduce every lookup of a batch (lookups split over the gather units)."""
        c = self.cfg
        cycle_ns = 1.0 / self.clock_ghz
        rd = expand_lookups(lookups, spec, layout)
        reads = rd.reads
        addr, owner = lookup_lines(reads, layout.bases, layout.row_bytes, c.line_bytes)
        # (1) index stream: sequential lines after the data, read at full request size
        index_bytes = lookups.size * INDEX_BYTES
        n_index_lines = math.ceil(index_bytes / c.line_bytes)
        idx_addr, idx_lines = split_requests(path.index_base_addr + np.arange(n_index_lines, dtype=np.int64) * c.line_bytes,
                                             tuple(n for n in (1, 2, 4) if n <= c.request_lines), c.line_bytes)
        idx_done = path.serve(np.zeros(idx_addr.size), idx_addr, idx_lines) if idx_addr.size else np.zeros(0)
        traffic = [path.last] if idx_addr.size else []
        idx_line_done = np.repeat(idx_done, idx_lines)
        index_ready = idx_line_done[(np.arange(lookups.size) * INDEX_BYTES) // c.line_bytes] \
            if lookups.size else np.zeros(0)
        index_stream_ns = float(idx_done.max()) if idx_done.size else 0.0
        # (2)-(3) row lines, minus on-chip hits and merged repeats, coalesced per read into aligned requests
        off_chip, hit_ns, hot_hits, cache_hits = self._on_chip(reads, addr, owner)
        merged = _merged_repeats(addr, reads.requester[owner], off_chip, c.outstanding_per_unit)
        sel = np.flatnonzero(off_chip & ~merged)
        sizes = tuple(n for n in (1, 2, 4) if n <= c.request_lines)
        req_addr, req_lines, req_owner = _requests_per_lookup(addr[sel], owner[sel], sizes, c.line_bytes)
        addr_gen_ns = reads.position * cycle_ns  # one address per cycle per unit, each read its own
        ready = np.maximum(index_ready[rd.parent], addr_gen_ns) if reads.size else np.zeros(0)
        reduce_ns = np.ceil(rd.elems / c.reduce_lanes) * cycle_ns
        last_reduce_ns = float(reduce_ns.max(initial=0.0))
        compute_end = float(np.bincount(reads.requester, reduce_ns, lookups.n_requesters).max(initial=0.0))
        local = np.flatnonzero(~off_chip | merged)
        end = max(compute_end, float((ready[owner[local]] + hit_ns[local]).max(initial=0.0)) + last_reduce_ns)
        if req_addr.size:
            unloaded = float(path.idle.serve(np.zeros(1), req_addr[:1], req_lines[:1])[0])
            solve = closed_loop_bound if analytic else closed_loop
            loop = solve(ready[req_owner], reads.requester[req_owner], reads.n_requesters,
                               self.window_requests, path.reads(req_addr, req_lines), unloaded)
            end = max(end, float(loop.done_ns.max()) + last_reduce_ns)
            traffic.append(path.last)
        dram_counters: dict[str, float] = {}
        for t in traffic:
            for k, v in counter_dict(t["dram"].counters).items():
                dram_counters[k] = dram_counters.get(k, 0.0) + v
        payload = sum(float(t["links"].counters.payload_bytes.sum()) for t in traffic)
        header = sum(float(t["links"].counters.header_bytes.sum()) for t in traffic)
        return EngineGather(
            time_ns=end, lines=int(addr.size), index_bytes=index_bytes, hot_hits_lines=hot_hits,
            link_cache_hits_lines=cache_hits, link_requests=int(req_addr.size), link_payload_bytes=int(payload),
            link_header_bytes=int(header), reduce_adds=int(rd.elems.sum()), index_stream_ns=index_stream_ns,
            dram_counters=dram_counters, merged_lines=int(merged.sum()),
            dequant_elems=int(rd.elems[rd.quantized].sum()))


def _merged_repeats(addr: np.ndarray, unit: np.ndarray, off_chip: np.ndarray, window: int) -> np.ndarray:
    """Off-chip lines a unit already requested within its previous `window` off-chip lines (merged, not re-sent)."""
    sel = np.flatnonzero(off_chip)
    merged = np.zeros(addr.size, dtype=np.bool_)
    if sel.size < 2:
        return merged
    merged[sel] = repeats_within_window(np.ascontiguousarray(addr[sel]), np.ascontiguousarray(unit[sel]), window)
    return merged


def _requests_per_lookup(addr: np.ndarray, owner: np.ndarray, sizes: tuple[int, ...], line_bytes: int):
    """(address, lines, owning lookup) of aligned multi-line requests that never span two lookups."""
    # Offsetting each lookup's lines by a distinct multiple of a large aligned stride keeps the lines of
    # different lookups from ever looking consecutive, without changing any alignment.
    if addr.size == 0:
        return addr, np.zeros(0, np.int64), owner
    stride = np.int64(1) << 44
    rank = np.cumsum(np.r_[0, np.diff(owner) != 0]).astype(np.int64)
    first, count = split_requests(addr + rank * stride, sizes, line_bytes)
    starts = np.r_[0, np.cumsum(count)[:-1]].astype(np.int64)
    return first - rank[starts] * stride, count, owner[starts]
