"""Replay of a memory trace in chunks: each channel's controller state is carried from one chunk to the next,
so memory stays flat as the trace grows, and the statistics DRAM simulators report are gathered on the way.

Statistics are named as DRAMsim3 names them where it has a name (num_reads_done, num_act_cmds, ...). Read
latencies are kept as counts per value, exact below 4096 cycles and rounded down to 12 significant bits above
(relative error < 0.05%), so percentiles need no per-request storage; the in-memory path uses the same counts,
so both give identical reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accelsim.config.dram import DramConfig
from accelsim.errors import InputError
from accelsim.hw.dram import (DRAMSIM3_NAMES, Dram, DramResult, arrival_cycles, bucket_low_ns, histogram_bucket,
                              prepare_requests)
from accelsim.kernels.dram_state import COUNTER_NAMES

_EXACT_BELOW = 4096
_SIG_BITS = 12
MAX_EPOCHS = 1_000_000  # epoch statistics beyond this many epochs would outgrow memory, not inform


def quantise(lat: np.ndarray) -> np.ndarray:
    """Latency cycles kept exact below 4096, else rounded down to 12 significant bits."""
    lat = np.asarray(lat, np.int64)
    big = np.flatnonzero(lat >= _EXACT_BELOW)
    if big.size == 0:  # the common case: no logarithms to take
        return lat
    shift = np.floor(np.log2(lat[big])).astype(np.int64) - (_SIG_BITS - 1)
    out = lat.copy()
    out[big] = (lat[big] >> shift) << shift
    return out


@dataclass
class ReplayStats:
    """What a replay gathers; add() takes finished requests in any grouping and gives the same totals."""

    cfg: DramConfig
    epoch_cycles: int | None = None
    reads: int = 0
    writes: int = 0
    read_latency_sum: int = 0
    first_arrival: int | None = None
    last_completion: int = 0
    latency_counts: dict[int, int] = field(default_factory=dict)
    epoch_reads: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    epoch_writes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    epoch_latency: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def add(self, arrival: np.ndarray, completion: np.ndarray, is_write: np.ndarray) -> None:
        """Count finished requests (arrival and completion in cycles)."""
        if arrival.size == 0:
            return
        lat = completion - arrival
        rd = ~is_write
        self.reads += int(rd.sum())
        self.writes += int(is_write.sum())
        self.read_latency_sum += int(lat[rd].sum())
        first = int(arrival.min())
        self.first_arrival = first if self.first_arrival is None else min(self.first_arrival, first)
        self.last_completion = max(self.last_completion, int(completion.max()))
        q = quantise(lat[rd])
        exact = q[q < _EXACT_BELOW]
        by_value = np.bincount(exact) if exact.size else np.zeros(0, np.int64)  # a count, not a sort, per chunk
        keys = np.flatnonzero(by_value)
        big_keys, big_counts = np.unique(q[q >= _EXACT_BELOW], return_counts=True)
        for k, c in zip(keys.tolist() + big_keys.tolist(), by_value[keys].tolist() + big_counts.tolist()):
            self.latency_counts[k] = self.latency_counts.get(k, 0) + c
        if self.epoch_cycles:
            e = completion // self.epoch_cycles
            size = max(int(e.max()) + 1, self.epoch_reads.size)
            if size > MAX_EPOCHS:
                raise InputError(f"--epoch-ns: the trace spans more than {MAX_EPOCHS} epochs of "
                                 f"{self.epoch_cycles * self.cfg.tck_ns:g} ns; choose a longer epoch")
            self.epoch_reads = _grow(self.epoch_reads, size) + np.bincount(e[rd], minlength=size)[:size]
            self.epoch_writes = _grow(self.epoch_writes, size) + np.bincount(e[is_write], minlength=size)[:size]
            self.epoch_latency = _grow(self.epoch_latency, size) + np.bincount(
                e[rd], weights=lat[rd], minlength=size).astype(np.int64)[:size]

    def percentile_cycles(self, p: float) -> float:
        """Linear-interpolation percentile (numpy's default) of the counted read latencies."""
        if not self.latency_counts:
            return float("nan")
        values = np.array(sorted(self.latency_counts), np.int64)
        cum = np.cumsum([self.latency_counts[v] for v in values.tolist()])
        h = (cum[-1] - 1) * p / 100.0
        lo = int(np.floor(h))
        v_lo = values[np.searchsorted(cum, lo, side="right")]
        v_hi = values[np.searchsorted(cum, min(lo + 1, cum[-1] - 1), side="right")]
        return float(v_lo + (h - lo) * (v_hi - v_lo))

    def histogram(self) -> dict:
        """Read latencies in log2 buckets of ns (hw.dram.histogram_bucket); the counts sum to the reads."""
        if not self.latency_counts:
            return {"bucket_low_ns": [0.0], "counts": [0]}
        values = np.array(list(self.latency_counts), np.int64)
        counts = np.bincount(histogram_bucket(values * self.cfg.tck_ns), weights=list(self.latency_counts.values()))
        return {"bucket_low_ns": [bucket_low_ns(k) for k in range(counts.size)],
                "counts": counts.astype(np.int64).tolist()}


def _grow(a: np.ndarray, size: int) -> np.ndarray:
    return a if a.size >= size else np.concatenate([a, np.zeros(size - a.size, a.dtype)])


class StreamReplay:
    """Feed a trace in arrival-ordered chunks through the detailed model, one state per channel."""

    def __init__(self, cfg: DramConfig, epoch_ns: float | None = None):
        self.cfg = cfg
        self.dram = Dram(cfg)
        self.states = [self.dram.new_state() for _ in range(cfg.channels)]
        self.seen = np.zeros(cfg.channels, np.int64)
        self._last = 0
        self.stats = ReplayStats(cfg, _epoch_cycles(cfg, epoch_ns))

    def feed(self, cycle: np.ndarray, addr: np.ndarray, is_write: np.ndarray) -> None:
        """Serve the next chunk (cycles non-decreasing, continuing the previous chunk)."""
        cycle = np.asarray(cycle, np.int64)
        if cycle.size and (cycle[0] < self._last or np.any(cycle[1:] < cycle[:-1])):
            raise InputError("request times must not go backwards (within a chunk or from the previous one)")
        if cycle.size:
            self._last = int(cycle[-1])
        self._serve(cycle, addr, is_write, final=False)

    def finish(self) -> ReplayStats:
        """Drain every queue and return the statistics."""
        self._serve(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.bool_), final=True)
        return self.stats

    def _serve(self, cycle, addr, is_write, final: bool) -> None:
        cfg = self.cfg
        req = prepare_requests(cfg, cycle * cfg.tck_ns, addr, is_write)
        arr = np.asarray(cycle, np.int64)
        order = np.argsort(req.channel.astype(np.int16), kind="stable")
        starts = np.searchsorted(req.channel[order], np.arange(cfg.channels + 1))
        for ch in range(cfg.channels):
            idx = order[starts[ch]:starts[ch + 1]]
            if idx.size == 0 and not final:
                continue
            done = self.dram.run(self.states[ch], arr[idx], req.bank[idx], req.row[idx], req.is_write[idx],
                                 base=int(self.seen[ch]), final=final)
            self.seen[ch] += idx.size
            self.stats.add(done.arrival_cycle, done.completion_cycle, done.is_write)

    def counters(self) -> dict[str, np.ndarray]:
        """[channel] and [channel, bank] arrays of every counter, by our names."""
        counts = np.stack([s.counts for s in self.states])
        banks = np.stack([s.bank_counts for s in self.states])
        out = {name: counts[:, i] for i, name in enumerate(COUNTER_NAMES)}
        out.update({f"bank_{name}": banks[:, :, i] for i, name in enumerate(COUNTER_NAMES)})
        return out


def _epoch_cycles(cfg: DramConfig, epoch_ns: float | None) -> int | None:
    return None if epoch_ns is None else max(1, int(round(epoch_ns / cfg.tck_ns)))


def stats_of_result(cfg: DramConfig, res: DramResult, epoch_ns: float | None = None) -> ReplayStats:
    """The same statistics from a whole-trace result (in-memory path, either fidelity)."""
    stats = ReplayStats(cfg, _epoch_cycles(cfg, epoch_ns))
    arr = arrival_cycles(cfg, res.arrival_ns)
    comp = np.ceil(res.completion_ns / cfg.tck_ns - 1e-6).astype(np.int64)
    stats.add(arr, comp, res.is_write)
    return stats


def counters_of_result(res: DramResult) -> dict[str, np.ndarray]:
    """Counter arrays of a whole-trace result, keyed as StreamReplay.counters keys them."""
    k = res.counters
    out = {name: k.per_channel[name] for name in COUNTER_NAMES}
    out.update({f"bank_{name}": k.per_bank[name] for name in COUNTER_NAMES if name in k.per_bank})
    return out


def report(cfg: DramConfig, stats: ReplayStats, counters: dict[str, np.ndarray]) -> dict:
    """The memsim report: totals, per-channel and per-bank statistics, histogram, epochs (units in keys)."""
    tck = cfg.tck_ns
    n = stats.reads + stats.writes
    span_ns = (stats.last_completion - (stats.first_arrival or 0)) * tck
    moved = n * cfg.burst_bytes
    lat = {"read_latency_avg_ns": stats.read_latency_sum / stats.reads * tck if stats.reads else float("nan"),
           "read_latency_p50_ns": stats.percentile_cycles(50) * tck,
           "read_latency_p99_ns": stats.percentile_cycles(99) * tck}
    hits = int(counters["row_hits"].sum())
    channels = []
    for ch in range(cfg.channels):
        entry = {DRAMSIM3_NAMES[name]: int(counters[name][ch]) for name in COUNTER_NAMES}
        if "bank_reads" in counters:
            entry["banks"] = [{DRAMSIM3_NAMES[name]: int(counters[f"bank_{name}"][ch, b]) for name in COUNTER_NAMES}
                              for b in range(cfg.banks_per_channel)]
        channels.append(entry)
    out = {"dram": cfg.standard, "channels": cfg.channels, "requests": n, "reads": stats.reads,
           "writes": stats.writes, "sim_time_ns": stats.last_completion * tck,
           "bandwidth_gbps": moved / span_ns if span_ns > 0 else 0.0, "peak_bandwidth_gbps": cfg.peak_bandwidth_gbps,
           **lat, "row_hit_rate": hits / n if n else 0.0, "activates": int(counters["activates"].sum()),
           "refreshes": int(counters["refreshes"].sum()),
           # DRAMsim3's whole-run names: average_read_latency in memory cycles, average_bandwidth in GB/s
           "average_read_latency": stats.read_latency_sum / stats.reads if stats.reads else float("nan"),
           "average_bandwidth": moved / span_ns if span_ns > 0 else 0.0,
           "read_latency_histogram": stats.histogram(), "per_channel": channels}
    if stats.epoch_cycles:
        e_ns = stats.epoch_cycles * tck
        out["epoch_ns"] = e_ns
        out["epochs"] = [{"epoch": i, "start_ns": i * e_ns, "num_reads_done": int(r), "num_writes_done": int(w),
                          "bandwidth_gbps": (r + w) * cfg.burst_bytes / e_ns,
                          "average_read_latency_ns": float(s) / r * tck if r else None}
                         for i, (r, w, s) in enumerate(zip(stats.epoch_reads, stats.epoch_writes,
                                                            stats.epoch_latency))]
    return out
