"""Detailed DRAM: per-channel request queue, FR-FCFS or FCFS, bank/rank/bus timing, refresh (numba kernel).

A memory level answers "serve these requests": `simulate(arrival_ns, addr, is_write) -> DramResult`, each
request one burst. Channels are independent, so each channel's requests run as their own sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from accelsim.config.dram import DramConfig, constraint_table
from accelsim.errors import InputError
from accelsim.kernels.dram_timing import COUNTER_NAMES, SCHEDULER_CODES, simulate_channels


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
    return np.lexsort((arr_cyc, channel))


def make_counters(cfg: DramConfig, counts: np.ndarray, busy_ns: np.ndarray, sim_time_ns: float) -> DramCounters:
    """DramCounters from a [channel, COUNTER_NAMES] array."""
    per = {name: counts[:, i].copy() for i, name in enumerate(COUNTER_NAMES)}
    tot = {name: int(v.sum()) for name, v in per.items()}
    return DramCounters(**tot, bytes_read=tot["reads"] * cfg.burst_bytes,
                        bytes_written=tot["writes"] * cfg.burst_bytes,
                        device_activates=tot["activates"] * cfg.devices_per_rank, bank_busy_ns=busy_ns,
                        sim_time_ns=sim_time_ns, per_channel=per)


def _node_table(cfg: DramConfig) -> tuple[np.ndarray, int]:
    """For each bank of a channel, its node id at the channel, rank, bank-group and bank levels."""
    r, g, k = cfg.ranks, cfg.bankgroups, cfg.banks_per_group
    b = np.arange(cfg.banks_per_channel)
    rank, bg = b // (g * k), b // k
    nodes = np.stack([np.zeros_like(b), 1 + rank, 1 + r + bg, 1 + r + r * g + b], axis=1).astype(np.int64)
    return nodes, 1 + r + r * g + r * g * k


class Dram:
    """Request-level DRAM model of `cfg`."""

    def __init__(self, cfg: DramConfig):
        self.cfg = cfg
        self._nodes, self._nnodes = _node_table(cfg)
        self._con = np.array(constraint_table(cfg), dtype=np.int64).reshape(-1, 5)
        self._con[:, 3] = np.maximum(self._con[:, 3], 0)  # a negative latency is no constraint

    def simulate(self, arrival_ns: np.ndarray, addr: np.ndarray, is_write: np.ndarray) -> DramResult:
        """Serve the requests; arrival times are rounded up to the next tCK edge."""
        cfg = self.cfg
        req = prepare_requests(cfg, arrival_ns, addr, is_write)
        arr_cyc = arrival_cycles(cfg, req.arrival_ns)
        order = arrival_order(arr_cyc, req.channel)
        starts = np.searchsorted(req.channel[order], np.arange(cfg.channels + 1)).astype(np.int64)
        comp_sorted, counts, busy = simulate_channels(
            arr_cyc[order], req.bank[order], req.row[order], req.is_write[order], starts, self._nodes,
            self._nnodes, self._con, cfg.ranks, cfg.banks_per_rank, cfg.queue_depth,
            SCHEDULER_CODES[cfg.scheduler], cfg.page_policy == "closed", cfg.tCL, cfg.tCWL, cfg.burst_cycles,
            cfg.tREFI)
        completion = np.empty_like(comp_sorted)
        completion[order] = comp_sorted
        completion_ns = completion * cfg.tck_ns
        sim_ns = float(completion_ns.max()) if completion_ns.size else 0.0
        return DramResult(req.arrival_ns, req.is_write, completion_ns,
                          make_counters(cfg, counts, busy * cfg.tck_ns, sim_ns))
