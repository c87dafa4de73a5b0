"""Analytic DRAM: closed-form service time per channel from row-hit rate, bank, activate, bus and queue bounds.

Per channel the service time is the largest of
  bus:     requests x burst_cycles, plus tRTRS for each rank switch between consecutive requests in arrival
           order; per pseudo-channel in PC mode (separate buses, no switches)
  bank:    the busiest bank's occupancy (tRC per miss or conflict, tCCD_L per hit)
  activate: the busiest rank's activates x max(tRRD_S, tFAW / 4)
  queue:   Little's law, sum of unloaded latencies / queue_depth
stretched by refresh (tREFI / (tREFI - tRFC)). A request's unloaded latency is its CAS (plus tRCD on a miss,
tRP + tRCD on a conflict) plus the mean wait for a refresh of its bank. Requests then leave one service slot apart, never before
their arrival plus unloaded latency: c_i = max(c_{i-1} + slot, a_i + latency_i), evaluated as a running max.
Row hits are read from the address stream: an access hits when the previous access to its bank was to the
same row (open page); closed page has none.
"""

from __future__ import annotations

import numpy as np

from accelsim.config.dram import DramConfig
from accelsim.hw.dram import DramResult, arrival_cycles, arrival_order, make_counters, prepare_requests
from accelsim.kernels.dram_timing import COUNTER_NAMES

_HIT, _MISS, _CONFLICT = 0, 1, 2


def classify_rows(cfg: DramConfig, channel: np.ndarray, bank: np.ndarray, row: np.ndarray,
                  order: np.ndarray) -> np.ndarray:
    """Hit / miss (first touch of the bank) / conflict per request, visiting requests in `order`."""
    kind = np.full(row.size, _MISS, np.int8)
    if cfg.page_policy == "closed" or row.size == 0:
        return kind
    gbank = channel * cfg.banks_per_channel + bank
    by_bank = order[np.argsort(gbank[order], kind="stable")]
    g, r = gbank[by_bank], row[by_bank]
    same_bank = np.r_[False, g[1:] == g[:-1]]
    k = np.where(same_bank, np.where(np.r_[False, r[1:] == r[:-1]], _HIT, _CONFLICT), _MISS)
    kind[by_bank] = k
    return kind


class AnalyticDram:
    """Closed-form twin of hw.dram.Dram with the same simulate() interface."""

    def __init__(self, cfg: DramConfig):
        self.cfg = cfg

    def _unloaded_latency_cycles(self, kind: np.ndarray, is_write: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        cas = np.where(is_write, cfg.tCWL, cfg.tCL) + cfg.burst_cycles
        extra = np.select([kind == _MISS, kind == _CONFLICT], [cfg.tRCD, cfg.tRP + cfg.tRCD], 0)
        return cas + extra + self.refresh_wait_cycles()

    def refresh_wait_cycles(self) -> float:
        """Mean wait of a request for a refresh of its bank: it arrives during one with probability
        (closed time / interval per bank) and then waits half of it on average (arrivals blind to the schedule).

        all_bank: REF closes the rank for tRFC every tREFI; same_bank / per_bank: each REFsb closes one bank set
        for tRFCsb every tREFIsb, so a given bank is closed once per (sets x tREFIsb)."""
        cfg = self.cfg
        if cfg.refresh == "all_bank":
            closed, interval = cfg.tRFC, cfg.tREFI
        else:
            sets = cfg.banks_per_group if cfg.refresh == "same_bank" else cfg.banks_per_rank
            closed, interval = cfg.tRFCsb, cfg.tREFIsb * sets
        return closed * closed / (2.0 * interval)

    def simulate(self, arrival_ns: np.ndarray, addr: np.ndarray, is_write: np.ndarray) -> DramResult:
        """Completion times and counters from the closed-form bounds."""
        cfg = self.cfg
        req = prepare_requests(cfg, arrival_ns, addr, is_write)
        n = req.arrival_ns.size
        arr_cyc = arrival_cycles(cfg, req.arrival_ns)
        order = arrival_order(arr_cyc, req.channel)
        kind = classify_rows(cfg, req.channel, req.bank, req.row, order)
        lat = self._unloaded_latency_cycles(kind, req.is_write)
        completion = np.empty(n)
        counts = np.zeros((cfg.channels, len(COUNTER_NAMES)), np.int64)
        busy = np.zeros((cfg.channels, cfg.banks_per_channel))
        starts = np.searchsorted(req.channel[order], np.arange(cfg.channels + 1))
        act_slot = max(cfg.tRRD_S, cfg.tFAW / 4)
        refresh_stretch = cfg.tREFI / (cfg.tREFI - cfg.tRFC)
        for ch in range(cfg.channels):
            idx = order[starts[ch]:starts[ch + 1]]
            m = idx.size
            if m == 0:
                continue
            k, b = kind[idx], req.bank[idx]
            opens = k != _HIT
            bank_cyc = np.bincount(b, weights=np.where(opens, cfg.tRC, cfg.tCCD_L), minlength=cfg.banks_per_channel)
            acts_per_rank = np.bincount(b[opens] // cfg.banks_per_rank, minlength=cfg.rank_nodes)
            rank_of = b // cfg.banks_per_rank
            if cfg.pseudo_channels > 1:  # each pseudo-channel has its own bus: no rank switches
                bus = np.bincount(rank_of, minlength=cfg.rank_nodes).max() * cfg.burst_cycles
            else:
                bus = m * cfg.burst_cycles + int(np.count_nonzero(rank_of[1:] != rank_of[:-1])) * cfg.tRTRS
            service = max(bus, bank_cyc.max(), acts_per_rank.max() * act_slot,
                          lat[idx].sum() / cfg.queue_depth) * refresh_stretch
            slot = service / m
            i = np.arange(m)
            ready = arr_cyc[idx] + lat[idx]
            completion[idx] = i * slot + np.maximum.accumulate(ready - i * slot)
            writes = int(req.is_write[idx].sum())
            span = completion[idx].max()
            n_open = int(opens.sum())
            counts[ch] = (m - writes, writes, n_open,
                          n_open if cfg.page_policy == "closed" else int((k == _CONFLICT).sum()),
                          int((k == _HIT).sum()), int((k == _MISS).sum()), int((k == _CONFLICT).sum()),
                          cfg.rank_nodes * int(span // cfg.tREFI))
            busy[ch] = np.bincount(b, weights=np.where(opens, cfg.tRAS, cfg.tCCD_L),
                                   minlength=cfg.banks_per_channel)
        completion_ns = completion * cfg.tck_ns
        sim_ns = float(completion_ns.max()) if n else 0.0
        return DramResult(req.arrival_ns, req.is_write, completion_ns,
                          make_counters(cfg, counts, busy * cfg.tck_ns, sim_ns,
                                        read_latency_ns=(completion_ns - req.arrival_ns)[~req.is_write]))
