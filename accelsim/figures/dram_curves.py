"""Figure (f): DRAM bandwidth-latency curves: 64 B reads at a Poisson rate from 5% to 100% of peak.

Two traffic patterns per preset: `random` addresses uniform over the whole capacity (mostly row misses: a
multi-bank DRAM is then bound by activates, tRRD and tFAW, not by its data bus), and `sequential` consecutive
64 B lines (row hits, spread over channels by the address map). Each point runs `requests` reads through the
DRAM model of the chosen fidelity (`accelsim.hw.host_memory.make_dram`). Past saturation the queue grows for
as long as requests keep arriving, so the latency there depends on the trace length: the curve's wall, not its
height, is the result.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from accelsim.config.dram import load_dram
from accelsim.errors import InputError
from accelsim.figures.style import distinct, dram_colour, log_y, new_figure, require_columns, state, style
from accelsim.hw.host_memory import make_dram

# (preset, channels): the HARPv2 node's 4 x DDR4-2400, a faster DDR4, DDR5 with 4 sub-channels (two DIMMs),
# one HBM2 stack (8 channels).
PRESETS: tuple[tuple[str, int], ...] = (("ddr4_2400", 4), ("ddr4_3200", 4), ("ddr5_4800", 4), ("hbm2", 8))
LOADS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
PATTERNS: tuple[str, ...] = ("random", "sequential")
REQUESTS = 20_000
# Presets differ by marker (two presets of one standard share its colour); patterns by line style and fill.
_MARKERS = ("o", "s", "^", "D", "v", "P")
PATTERN_STYLES = {"random": {"linestyle": "-", "markerfacecolor": "white"},
                  "sequential": {"linestyle": (0, (3, 1.5))}}
PATTERN_LABELS = {"random": "random 64 B reads (uniform over capacity)",
                  "sequential": "sequential 64 B reads (consecutive lines)"}


def _addresses(pattern: str, rng: np.random.Generator, requests: int, burst: int, capacity: int) -> np.ndarray:
    if pattern == "random":
        return rng.integers(0, capacity // burst, requests) * burst
    if pattern == "sequential":
        return (np.arange(requests, dtype=np.int64) * burst) % capacity
    raise InputError(f"DRAM curve pattern: expected one of {', '.join(PATTERNS)}, got {pattern!r}")


def dram_curve_data(presets: Sequence[tuple[str, int]] = PRESETS, loads: Sequence[float] = LOADS,
                    requests: int = REQUESTS, seed: int = 0, fidelity: str = "detailed",
                    patterns: Sequence[str] = PATTERNS) -> pd.DataFrame:
    """One row per (preset, pattern, offered load): offered/delivered GB/s, average and p99 read latency (ns)."""
    if requests < 1 or not loads or min(loads) <= 0:
        raise InputError(f"need requests >= 1 and positive loads, got {requests} and {list(loads)}")
    if fidelity not in ("analytic", "detailed"):
        raise InputError(f"fidelity: expected analytic or detailed, got {fidelity!r}")
    rows = []
    for preset, channels in presets:
        cfg = load_dram(preset, channels=channels)
        dram = make_dram(cfg, fidelity)
        peak = cfg.peak_bandwidth_gbps
        for pattern in patterns:
            for k, load in enumerate(loads):
                rng = np.random.default_rng([seed, k])
                rate_per_ns = load * peak / cfg.burst_bytes
                arrival = np.cumsum(rng.exponential(1.0 / rate_per_ns, requests))
                addr = _addresses(pattern, rng, requests, cfg.burst_bytes, cfg.capacity_bytes)
                res = dram.simulate(arrival, addr, np.zeros(requests, dtype=bool))
                stats = res.read_latency_stats()
                rows.append({"preset": preset, "standard": cfg.standard, "channels": channels, "peak_gbps": peak,
                             "pattern": pattern, "fidelity": fidelity, "requests": requests,
                             "offered_load": load, "offered_gbps": load * peak,
                             "delivered_gbps": res.bandwidth_gbps,
                             "read_latency_avg_ns": stats["read_latency_avg_ns"],
                             "read_latency_p99_ns": stats["read_latency_p99_ns"]})
    return pd.DataFrame(rows)


def dram_curves_figure(df: pd.DataFrame) -> Figure:
    """Average read latency (log) vs delivered bandwidth: colour = DRAM standard, marker = preset, line = pattern."""
    require_columns(df, ("preset", "standard", "channels", "peak_gbps", "pattern", "fidelity", "requests",
                         "delivered_gbps", "read_latency_avg_ns"), "DRAM curve table")
    presets = list(dict.fromkeys(df["preset"]))
    patterns = list(dict.fromkeys(df["pattern"]))
    with style():
        fig = new_figure(3.2)
        ax = fig.subplots()
        preset_handles = []
        for i, preset in enumerate(presets):
            d = df[df["preset"] == preset]
            first = d.iloc[0]
            colour, marker = dram_colour(first["standard"]), _MARKERS[i % len(_MARKERS)]
            for pattern in patterns:
                dp = d[d["pattern"] == pattern].sort_values("offered_gbps")
                ax.plot(dp["delivered_gbps"], dp["read_latency_avg_ns"], marker=marker, color=colour,
                        markeredgewidth=0.8, markersize=3.5, label=f"{preset} {pattern}",
                        **PATTERN_STYLES.get(pattern, {"linestyle": ":"}))
            preset_handles.append(Line2D([], [], color=colour, marker=marker, markersize=3.5, linestyle="",
                                         label=f"{first['standard']} ×{first['channels']} ch, "
                                               f"{first['peak_gbps']:.0f} GB/s peak"))
        pattern_handles = [Line2D([], [], color="0.3", marker="o", markersize=3.5, label=PATTERN_LABELS.get(p, p),
                                  **PATTERN_STYLES.get(p, {"linestyle": ":"})) for p in patterns]
        lat = df["read_latency_avg_ns"]
        log_y(ax, lat.min() / 1.2, lat.max() * 1.2)
        ax.set_xlim(0, df["delivered_gbps"].max() * 1.08)
        ax.set_xlabel("delivered bandwidth (GB/s)")
        ax.set_ylabel("average read latency (ns)")
        fig.legend(handles=preset_handles + pattern_handles, loc="outside upper center", ncol=2, handlelength=2.4,
                   columnspacing=1.0)
        loads = sorted(set(df["offered_load"])) if "offered_load" in df else []
        offered = f" at {loads[0]:.0%}–{loads[-1]:.0%} of each preset's peak" if loads else ""
        fidelity = distinct(df, "fidelity")
        model = "request-level: banks, row buffers, FR-FCFS, refresh" if fidelity == "detailed" else "closed form"
        state(fig, hardware="DRAM presets " + ", ".join(presets),
              workload=f"reads only, Poisson arrivals{offered}; " + " vs ".join(patterns),
              fidelity=f"{fidelity} DRAM model ({model}), {int(df['requests'].iloc[0]):,} reads per point")
    return fig
