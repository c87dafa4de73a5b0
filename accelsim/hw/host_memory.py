"""The host memory as the system sees it: a DRAM model of the chosen fidelity and what stages ask of it."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from accelsim.config.dram import DramConfig
from accelsim.hw.dram import DRAMSIM3_NAMES, Dram, DramCounters, DramResult, bucket_low_ns


def make_dram(cfg: DramConfig, fidelity: str):
    """The request-level model for `detailed`, its closed-form twin for `analytic`."""
    if fidelity == "detailed":
        return Dram(cfg)
    from accelsim.hw.dram_analytic import AnalyticDram
    return AnalyticDram(cfg)


def idle_read_latency_ns(cfg: DramConfig) -> float:
    """A read to a closed bank on an idle channel: tRCD + tCL + burst."""
    return (cfg.tRCD + cfg.tCL + cfg.burst_cycles) * cfg.tck_ns


def counter_dict(c: DramCounters) -> dict[str, float]:
    """The counters of a DRAM run (what energy and the counters frame need): the scalar totals, each count per
    channel under DRAMsim3's name (`num_reads_done_ch0`, ...) and the read-latency histogram
    (`read_latency_ge_16ns`: reads that took 16 ns up to the next bucket edge). All add up across runs."""
    out = {f.name: float(getattr(c, f.name)) for f in dataclasses.fields(c) if np.isscalar(getattr(c, f.name))}
    for name, per in c.per_channel.items():
        out.update({f"{DRAMSIM3_NAMES[name]}_ch{ch}": float(v) for ch, v in enumerate(per)})
    out.update({f"read_latency_ge_{bucket_low_ns(k):g}ns": float(v) for k, v in enumerate(c.read_latency_histogram)
                if v})
    return out


class FixedRequests:
    """arrival_ns -> the DRAM model's result for these requests, which a closed loop times again and again: a
    model that can (`requests` / `serve`) decodes them once. `completion_ns`: the times alone, without the
    counters, where the model has such a pass (`completion_ns`); None otherwise."""

    def __init__(self, dram, addr: np.ndarray, is_write: np.ndarray):
        self.completion_ns: Callable[[np.ndarray], np.ndarray] | None = None
        if hasattr(dram, "requests"):
            reqs = dram.requests(addr, is_write)
            self._serve = lambda arrival_ns: dram.serve(arrival_ns, reqs)
            if hasattr(dram, "completion_ns"):
                self.completion_ns = lambda arrival_ns: dram.completion_ns(arrival_ns, reqs)
        else:
            self._serve = lambda arrival_ns: dram.simulate(arrival_ns, addr, is_write)

    def __call__(self, arrival_ns: np.ndarray) -> DramResult:
        return self._serve(arrival_ns)


def fixed_requests(dram, addr: np.ndarray, is_write: np.ndarray) -> FixedRequests:
    """These requests of `dram`, decoded once to be timed at many arrival times (FixedRequests)."""
    return FixedRequests(dram, addr, is_write)
