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

from dataclasses import dataclass

import numpy as np

from accelsim.config.dram import DramConfig
from accelsim.errors import InputError
from accelsim.hw.dram import DramResult, arrival_cycles, make_counters, prepare_requests
from accelsim.kernels.dram_closed_form import channel_arrival_order, serve_pass
from accelsim.kernels.dram_state import COUNTER_NAMES

@dataclass(frozen=True)
class AnalyticRequests:
    """Requests decoded once (AnalyticDram.requests), to be timed at many arrival times."""

    size: int
    is_write: np.ndarray
    channel: np.ndarray
    bank: np.ndarray
    row: np.ndarray


class AnalyticDram:
    """Closed-form twin of hw.dram.Dram with the same simulate() interface."""

    def __init__(self, cfg: DramConfig):
        self.cfg = cfg
        # The last pass: (its requests, a copy of its arrivals, its outputs). A closed loop counts its last timed
        # pass by serving the same arrivals again, and a window law that does not bind repeats a pass: such a
        # pass is the previous one's answer (one kernel pass is a function of the requests and arrivals alone).
        self._last_pass: tuple | None = None

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

    def requests(self, addr: np.ndarray, is_write: np.ndarray) -> AnalyticRequests:
        """The requests decoded once, to be timed at many arrival times (`serve`)."""
        req = prepare_requests(self.cfg, np.zeros(np.shape(addr)), addr, is_write)
        return AnalyticRequests(req.arrival_ns.size, req.is_write, req.channel, req.bank, req.row)

    def simulate(self, arrival_ns: np.ndarray, addr: np.ndarray, is_write: np.ndarray) -> DramResult:
        """Completion times and counters from the closed-form bounds."""
        return self.serve(arrival_ns, self.requests(addr, is_write))

    def completion_ns(self, arrival_ns: np.ndarray, reqs: AnalyticRequests) -> np.ndarray:
        """Completion times alone of decoded requests arriving at `arrival_ns` (what a closed loop's passes
        need; `serve` adds the counters)."""
        return self._pass(arrival_ns, reqs)[1]

    def serve(self, arrival_ns: np.ndarray, reqs: AnalyticRequests) -> DramResult:
        """Completion times and counters of decoded requests arriving at `arrival_ns`."""
        cfg = self.cfg
        arrival, completion_ns, kinds, busy, span = self._pass(arrival_ns, reqs)
        counts = np.zeros((cfg.channels, len(COUNTER_NAMES)), np.int64)
        per_channel = np.bincount(reqs.channel, minlength=cfg.channels)
        writes = np.bincount(reqs.channel[reqs.is_write], minlength=cfg.channels)
        for ch in range(cfg.channels):
            m = int(per_channel[ch])
            if m == 0:
                continue
            hits, misses, conflicts = (int(v) for v in kinds[ch])
            n_open = misses + conflicts
            counts[ch] = (m - int(writes[ch]), int(writes[ch]), n_open,
                          n_open if cfg.page_policy == "closed" else conflicts, hits, misses, conflicts,
                          cfg.rank_nodes * int(span[ch] // cfg.tREFI))
        sim_ns = float(completion_ns.max()) if arrival.size else 0.0
        return DramResult(arrival, reqs.is_write, completion_ns,
                          make_counters(cfg, counts, busy * cfg.tck_ns, sim_ns,
                                        read_latency_ns=(completion_ns - arrival)[~reqs.is_write]))

    def _pass(self, arrival_ns: np.ndarray, reqs: AnalyticRequests):
        """(arrivals, completion_ns, row classes, bank busy cycles, span per channel) of one pass (one kernel)."""
        cfg = self.cfg
        arrival = np.ascontiguousarray(arrival_ns, dtype=np.float64)
        if arrival.ndim != 1 or arrival.size != reqs.size:
            raise InputError(f"arrival_ns must be a 1-D array of {reqs.size} arrivals, got shape {arrival.shape}")
        if arrival.size and not (np.isfinite(arrival).all() and arrival.min() >= 0):
            raise InputError("arrival_ns must be finite and non-negative")
        last = self._last_pass
        if last is not None and last[0] is reqs and np.array_equal(last[1], arrival):
            return (arrival,) + last[2]
        arr_cyc = arrival_cycles(cfg, arrival)
        order, starts = channel_arrival_order(arr_cyc, reqs.channel, cfg.channels)
        completion_ns, kinds, busy, span = serve_pass(
            order, starts, arr_cyc, reqs.bank, reqs.row, reqs.is_write, cfg.tck_ns, cfg.banks_per_channel,
            cfg.banks_per_rank, cfg.rank_nodes, cfg.page_policy != "closed", cfg.pseudo_channels > 1,
            cfg.burst_cycles, cfg.tRTRS, float(max(cfg.tRRD_S, cfg.tFAW / 4)), cfg.queue_depth,
            cfg.tREFI / (cfg.tREFI - cfg.tRFC), cfg.tRC, cfg.tCCD_L, cfg.tRAS, cfg.tCL + cfg.burst_cycles,
            cfg.tCWL + cfg.burst_cycles, cfg.tRCD, cfg.tRP + cfg.tRCD, self.refresh_wait_cycles())
        outputs = (completion_ns, kinds, busy, span)
        for a in outputs:
            a.setflags(write=False)  # handed out again by a repeated pass
        self._last_pass = (reqs, arrival.copy(), outputs)
        return (arrival,) + outputs
