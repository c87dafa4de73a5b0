"""Detailed DRAM: per-channel read and write queues (optionally in front of per-rank or per-bank command
queues), FR-FCFS or FCFS, bank/rank/bus timing, refresh (numba kernel).

A memory level answers "serve these requests": `simulate(arrival_ns, addr, is_write) -> DramResult`, each
request one burst. Channels are independent, so each channel's requests run as their own sequence; `run`
serves one channel's requests in pieces (a trace streamed in chunks) with the same result. A closed loop times
the same requests at new arrival times on every pass: `requests` decodes them once and `serve` times them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from accelsim.config.dram import DramConfig, constraint_table
from accelsim.errors import InputError
from accelsim.kernels import aot
from accelsim.kernels.dram_state import (COUNTER_NAMES, REFRESH_CODES, SCHEDULER_CODES, ChannelState,
                                         commands_by_preceding)


# DRAMsim3's statistic names for our counters (src/simple_stats.cc); the row-miss / row-conflict split has no
# DRAMsim3 name and keeps ours.
DRAMSIM3_NAMES = {"reads": "num_reads_done", "writes": "num_writes_done", "activates": "num_act_cmds",
                  "precharges": "num_pre_cmds", "row_hits": "num_row_hits", "row_misses": "num_row_misses",
                  "row_conflicts": "num_row_conflicts", "refreshes": "num_ref_cmds"}
HISTOGRAM_FIRST_EDGE_NS = 8.0  # read-latency histogram: log2 buckets [0, 8), [8, 16), [16, 32), ... ns


def histogram_bucket(latency_ns: np.ndarray) -> np.ndarray:
    """Bucket index of each latency: 0 below 8 ns, then k for [8 x 2^(k-1), 8 x 2^k) ns."""
    lat = np.asarray(latency_ns, np.float64)
    k = np.floor(np.log2(np.maximum(lat, HISTOGRAM_FIRST_EDGE_NS / 2) / HISTOGRAM_FIRST_EDGE_NS)).astype(np.int64) + 1
    return np.maximum(k, 0)


def bucket_low_ns(k: int) -> float:
    """Lower edge of histogram bucket k."""
    return 0.0 if k == 0 else HISTOGRAM_FIRST_EDGE_NS * 2.0 ** (k - 1)


@dataclass(frozen=True)
class DramCounters:
    """Action counts of one run (inputs to energy); per_channel maps each count name to a [channels] array."""

    reads: int
    writes: int
    activates: int
    precharges: int
    row_hits: int
    row_misses: int
    row_conflicts: int
    refreshes: int
    bytes_read: int
    bytes_written: int
    device_activates: int  # activates x devices per rank: each device of the rank opens its row (energy)
    bank_busy_ns: np.ndarray  # [channel, bank]: time each bank held a row open
    sim_time_ns: float
    per_channel: dict[str, np.ndarray] = field(default_factory=dict)
    per_bank: dict[str, np.ndarray] = field(default_factory=dict)  # each count name -> [channel, bank]
    read_latency_histogram: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # reads per bucket

    @property
    def requests(self) -> int:
        return self.reads + self.writes

    @property
    def row_hit_rate(self) -> float:
        return self.row_hits / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class DramResult:
    """Completion time of every request (input order) plus the counters."""

    arrival_ns: np.ndarray
    is_write: np.ndarray
    completion_ns: np.ndarray
    counters: DramCounters

    @property
    def bandwidth_gbps(self) -> float:
        """Bytes moved over the span from the first arrival to the last completion (bytes/ns = GB/s)."""
        if self.completion_ns.size == 0:
            return 0.0
        span_ns = float(self.completion_ns.max() - self.arrival_ns.min())
        return (self.counters.bytes_read + self.counters.bytes_written) / span_ns

    @property
    def read_latency_ns(self) -> np.ndarray:
        """Arrival to data returned, per read."""
        return (self.completion_ns - self.arrival_ns)[~self.is_write]

    def read_latency_stats(self) -> dict[str, float]:
        """avg / p50 / p99 read latency in ns (NaN without reads)."""
        lat = self.read_latency_ns
        if lat.size == 0:
            return {"read_latency_avg_ns": float("nan"), "read_latency_p50_ns": float("nan"),
                    "read_latency_p99_ns": float("nan")}
        return {"read_latency_avg_ns": float(lat.mean()), "read_latency_p50_ns": float(np.percentile(lat, 50)),
                "read_latency_p99_ns": float(np.percentile(lat, 99))}


class DramModel(Protocol):
    """What every DRAM fidelity provides."""

    cfg: DramConfig

    def simulate(self, arrival_ns: np.ndarray, addr: np.ndarray, is_write: np.ndarray) -> DramResult: ...


@dataclass(frozen=True)
class Requests:
    """Validated request arrays with their decoded coordinates."""

    arrival_ns: np.ndarray
    is_write: np.ndarray
    channel: np.ndarray
    bank: np.ndarray  # index within the channel: (rank * bankgroups + bankgroup) * banks_per_group + bank
    row: np.ndarray


def prepare_requests(cfg: DramConfig, arrival_ns, addr, is_write) -> Requests:
    """Check the three arrays agree and decode the addresses."""
    arrival_ns = np.ascontiguousarray(arrival_ns, dtype=np.float64)
    addr = np.ascontiguousarray(addr, dtype=np.int64)
    is_write = np.ascontiguousarray(is_write, dtype=np.bool_)
    if not (arrival_ns.ndim == addr.ndim == is_write.ndim == 1):
        raise InputError("arrival_ns, addr and is_write must be 1-D arrays")
    if not (arrival_ns.size == addr.size == is_write.size):
        raise InputError(f"arrival_ns, addr and is_write differ in length: {arrival_ns.size}, {addr.size}, "
                         f"{is_write.size}")
    if arrival_ns.size and not (np.isfinite(arrival_ns).all() and arrival_ns.min() >= 0):
        raise InputError("arrival_ns must be finite and non-negative")
    d = cfg.address_map.decode(addr)
    bank = (d.rank * cfg.bankgroups + d.bankgroup) * cfg.banks_per_group + d.bank
    return Requests(arrival_ns, is_write, d.channel, bank, d.row)


def arrival_cycles(cfg: DramConfig, arrival_ns: np.ndarray) -> np.ndarray:
    """Arrival rounded up to the next tCK edge; k * tck_ns maps back to k despite float rounding."""
    return np.ceil(arrival_ns / cfg.tck_ns - 1e-6).astype(np.int64)


def arrival_order(arr_cyc: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """Request indices sorted by (channel, arrival), stable; a radix sort when arrivals are already sorted."""
    if arr_cyc.size < 2 or np.all(arr_cyc[1:] >= arr_cyc[:-1]):
        return np.argsort(channel.astype(np.int16), kind="stable")
    span = int(arr_cyc.max()) + 1
    if int(arr_cyc.min()) >= 0 and span * (int(channel.max()) + 1) < 2**62:  # one stable sort of one key
        return np.argsort(channel.astype(np.int64) * span + arr_cyc, kind="stable")
    return np.lexsort((arr_cyc, channel))


def make_counters(cfg: DramConfig, counts: np.ndarray, busy_ns: np.ndarray, sim_time_ns: float,
                  bank_counts: np.ndarray | None = None, read_latency_ns: np.ndarray | None = None) -> DramCounters:
    """DramCounters from a [channel, COUNTER_NAMES] array (optionally [channel, bank, ...] and read latencies)."""
    per = {name: counts[:, i].copy() for i, name in enumerate(COUNTER_NAMES)}
    tot = {name: int(v.sum()) for name, v in per.items()}
    per_bank = {} if bank_counts is None else {name: bank_counts[:, :, i].copy()
                                               for i, name in enumerate(COUNTER_NAMES)}
    return DramCounters(**tot, bytes_read=tot["reads"] * cfg.burst_bytes,
                        bytes_written=tot["writes"] * cfg.burst_bytes,
                        device_activates=tot["activates"] * cfg.devices_per_rank, bank_busy_ns=busy_ns,
                        sim_time_ns=sim_time_ns, per_channel=per, per_bank=per_bank,
                        read_latency_histogram=np.bincount(histogram_bucket(read_latency_ns))
                        if read_latency_ns is not None and read_latency_ns.size else np.zeros(0, np.int64))


def _node_table(cfg: DramConfig) -> tuple[np.ndarray, int]:
    """For each bank of a channel, its node id at the channel, rank, bank-group and bank levels."""
    r, g, k = cfg.rank_nodes, cfg.bankgroups, cfg.banks_per_group
    b = np.arange(cfg.banks_per_channel)
    rank, bg = b // (g * k), b // k
    nodes = np.stack([np.zeros_like(b), 1 + rank, 1 + r + bg, 1 + r + r * g + b], axis=1).astype(np.int64)
    return nodes, 1 + r + r * g + r * g * k


@dataclass(frozen=True)
class Served:
    """Requests one `Dram.run` call finished, in issue order: global index, arrival and completion cycle, kind."""

    index: np.ndarray
    arrival_cycle: np.ndarray
    completion_cycle: np.ndarray
    is_write: np.ndarray


class Dram:
    """Request-level DRAM model of `cfg`; `kernel` is the channel kernel (default: the ahead-of-time build if
    there is one, else numba's JIT; both give the same results)."""

    def __init__(self, cfg: DramConfig, kernel=None):
        self.cfg = cfg
        self._kernel = kernel or aot.kernel("run_channel")
        self._nodes, self._nnodes = _node_table(cfg)
        self._con = np.array(constraint_table(cfg), dtype=np.int64).reshape(-1, 6)
        self._con[:, 3] = np.maximum(self._con[:, 3], 0)  # a negative latency is no constraint
        self._by_cmd, self._n_by_cmd = commands_by_preceding(self._con)
        wq = cfg.write_queue_depth
        self._w_high = int(np.floor(cfg.write_high_watermark * wq))  # drain when more writes than this wait
        self._w_low = int(np.ceil(cfg.write_low_watermark * wq))  # stop draining below this
        self._t_refi = cfg.tREFI if cfg.refresh == "all_bank" else cfg.tREFIsb
        # command queues behind the transaction queues: banks per queue (0: none, the shared queues) and count
        self._cq_div = {"shared": 0, "per_rank": cfg.banks_per_rank, "per_bank": 1}[cfg.queue_structure]
        self._n_cq = cfg.banks_per_channel // self._cq_div if self._cq_div else 0

    def new_state(self) -> ChannelState:
        """A channel at cycle 0: queues empty, banks closed, refresh not yet due."""
        cfg = self.cfg
        return ChannelState(self._nnodes, self._con, cfg.banks_per_channel, cfg.rank_nodes, cfg.queue_depth,
                            cfg.write_queue_depth, self._t_refi, self._n_cq, cfg.command_queue_depth,
                            cfg.refresh_ranks == "staggered")

    def run(self, state: ChannelState, arrival_cycle: np.ndarray, bank: np.ndarray, row: np.ndarray,
            is_write: np.ndarray, base: int = 0, final: bool = True) -> Served:
        """Serve one channel's next requests (arrival cycles sorted, continuing `state`'s stream).

        With final=False more requests may follow, and the call stops once all of these are admitted.
        """
        cfg = self.cfg
        n = arrival_cycle.size
        size = n + cfg.queue_depth + cfg.write_queue_depth + self._n_cq * cfg.command_queue_depth
        out_idx, out_arr, out_cyc = (np.empty(size, np.int64) for _ in range(3))
        out_w = np.empty(size, np.bool_)
        # the kernel's types exactly (the ahead-of-time build takes no other); no copy when they already are
        arrival_cycle, bank, row = (np.ascontiguousarray(x, np.int64) for x in (arrival_cycle, bank, row))
        is_write = np.ascontiguousarray(is_write, np.bool_)
        k = self._kernel(arrival_cycle, bank, row, is_write, base, final, out_idx, out_arr, out_cyc, out_w,
                         *state.arrays(), self._nodes, self._con, self._by_cmd, self._n_by_cmd, cfg.rank_nodes,
                         cfg.bankgroups, cfg.banks_per_group, SCHEDULER_CODES[cfg.scheduler],
                         cfg.page_policy == "closed", cfg.tCL, cfg.tCWL, cfg.burst_cycles, self._t_refi,
                         REFRESH_CODES[cfg.refresh], self._w_high, self._w_low, cfg.dual_command_bus, self._cq_div,
                         cfg.command_queue_depth, cfg.queue_depth)
        return Served(out_idx[:k], out_arr[:k], out_cyc[:k], out_w[:k])

    def requests(self, addr: np.ndarray, is_write: np.ndarray) -> "ChannelRequests":
        """The requests decoded and grouped by channel once, to be timed at many arrival times (`serve`)."""
        addr = np.ascontiguousarray(addr, dtype=np.int64)
        is_write = np.ascontiguousarray(is_write, dtype=np.bool_)
        if not (addr.ndim == is_write.ndim == 1):
            raise InputError("addr and is_write must be 1-D arrays")
        if addr.size != is_write.size:
            raise InputError(f"addr and is_write differ in length: {addr.size}, {is_write.size}")
        cfg = self.cfg
        d = cfg.address_map.decode(addr)
        bank = (d.rank * cfg.bankgroups + d.bankgroup) * cfg.banks_per_group + d.bank
        by_channel = np.argsort(d.channel.astype(np.int16), kind="stable")
        starts = np.searchsorted(d.channel[by_channel], np.arange(cfg.channels + 1))
        groups = tuple(by_channel[starts[c]:starts[c + 1]] for c in range(cfg.channels))
        return ChannelRequests(addr.size, is_write, starts, groups, tuple(bank[g] for g in groups),
                               tuple(d.row[g] for g in groups), tuple(is_write[g] for g in groups))

    def serve(self, arrival_ns: np.ndarray, reqs: "ChannelRequests") -> DramResult:
        """Serve decoded requests arriving at `arrival_ns`: each channel's in arrival order (ties in input order)."""
        cfg = self.cfg
        arrival = np.ascontiguousarray(arrival_ns, dtype=np.float64)
        if arrival.ndim != 1:
            raise InputError("arrival_ns must be a 1-D array")
        if arrival.size != reqs.size:
            raise InputError(f"arrival_ns, addr and is_write differ in length: {arrival.size} arrivals for "
                             f"{reqs.size} requests")
        if arrival.size and not (np.isfinite(arrival).all() and arrival.min() >= 0):
            raise InputError("arrival_ns must be finite and non-negative")
        arr_cyc = arrival_cycles(cfg, arrival)
        completion = np.empty(arrival.size, np.int64)
        counts = np.zeros((cfg.channels, len(COUNTER_NAMES)), np.int64)
        bank_counts = np.zeros((cfg.channels, cfg.banks_per_channel, len(COUNTER_NAMES)), np.int64)
        busy = np.zeros((cfg.channels, cfg.banks_per_channel), np.int64)
        for ch, idx in enumerate(reqs.index):
            if idx.size == 0:
                continue
            a = arr_cyc[idx]
            # (channel, arrival) order, stable: the position of each request in the channel's stream
            order = None if np.all(a[1:] >= a[:-1]) else np.argsort(a, kind="stable")
            b, r, w = reqs.bank[ch], reqs.row[ch], reqs.is_write_by_channel[ch]
            if order is not None:
                a, b, r, w, idx = a[order], b[order], r[order], w[order], idx[order]
            state = self.new_state()
            base = int(reqs.starts[ch])
            done = self.run(state, a, b, r, w, base=base)
            completion[idx[done.index - base]] = done.completion_cycle
            counts[ch], bank_counts[ch], busy[ch] = state.counts, state.bank_counts, state.busy
        completion_ns = completion * cfg.tck_ns
        sim_ns = float(completion_ns.max()) if completion_ns.size else 0.0
        lat = (completion_ns - arrival)[~reqs.is_write]
        return DramResult(arrival, reqs.is_write, completion_ns,
                          make_counters(cfg, counts, busy * cfg.tck_ns, sim_ns, bank_counts, lat))

    def simulate(self, arrival_ns: np.ndarray, addr: np.ndarray, is_write: np.ndarray) -> DramResult:
        """Serve the requests; arrival times are rounded up to the next tCK edge."""
        return self.serve(arrival_ns, self.requests(addr, is_write))


@dataclass(frozen=True)
class ChannelRequests:
    """Requests decoded once (Dram.requests): per channel, their indices in input order and bank, row, kind."""

    size: int
    is_write: np.ndarray
    starts: np.ndarray  # first position of each channel's requests in the (channel, arrival) order
    index: tuple[np.ndarray, ...]
    bank: tuple[np.ndarray, ...]
    row: tuple[np.ndarray, ...]
    is_write_by_channel: tuple[np.ndarray, ...]
