"""The host memory as the system sees it: a DRAM model of the chosen fidelity and what stages ask of it."""

from __future__ import annotations

import dataclasses

import numpy as np

from accelsim.config.dram import DramConfig
from accelsim.hw.dram import Dram, DramCounters


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
    """The scalar counters of a DRAM run (what energy and the counters frame need)."""
    return {f.name: float(getattr(c, f.name)) for f in dataclasses.fields(c)
            if np.isscalar(getattr(c, f.name))}
