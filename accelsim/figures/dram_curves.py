"""Figure (f): DRAM bandwidth-latency curves: random 64 B reads at a Poisson rate from 5% to 100% of peak.

Each point runs `requests` reads through the request-level model (accelsim.hw.dram.Dram); addresses are
uniform over the whole capacity. Past saturation the queue grows for as long as requests keep arriving, so
the latency there depends on the trace length: the curve's wall, not its height, is the result.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from accelsim.config.dram import load_dram
from accelsim.errors import InputError
from accelsim.figures.style import DEVICE_COLOURS, log_y, new_figure, shade, style, require_columns
from accelsim.hw.dram import Dram

# (preset, channels): the HARPv2 node's 4 x DDR4-2400, a faster DDR4, DDR5 with 4 sub-channels (two DIMMs),
# one HBM2 stack (8 channels).
PRESETS: tuple[tuple[str, int], ...] = (("ddr4_2400", 4), ("ddr4_3200", 4), ("ddr5_4800", 4), ("hbm2", 8))
LOADS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
REQUESTS = 20_000
_STYLES = (("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", "-"))
# Every preset is DRAM, so every line is a shade of the DRAM colour (see style.shade).
_SHADES = (0.0, 0.45, -0.4, 0.7, 0.25)


def dram_curve_data(presets: Sequence[tuple[str, int]] = PRESETS, loads: Sequence[float] = LOADS,
                    requests: int = REQUESTS, seed: int = 0) -> pd.DataFrame:
    """One row per (preset, offered load): offered/delivered GB/s, average and p99 read latency (ns)."""
    if requests < 1 or not loads or min(loads) <= 0:
        raise InputError(f"need requests >= 1 and positive loads, got {requests} and {list(loads)}")
    rows = []
    for preset, channels in presets:
        cfg = load_dram(preset, channels=channels)
        dram = Dram(cfg)
        peak = cfg.peak_bandwidth_gbps
        for k, load in enumerate(loads):
            rng = np.random.default_rng([seed, k])
            rate_per_ns = load * peak / cfg.burst_bytes
            arrival = np.cumsum(rng.exponential(1.0 / rate_per_ns, requests))
            addr = rng.integers(0, cfg.capacity_bytes // cfg.burst_bytes, requests) * cfg.burst_bytes
            res = dram.simulate(arrival, addr, np.zeros(requests, dtype=bool))
            stats = res.read_latency_stats()
            rows.append({"preset": preset, "standard": cfg.standard, "channels": channels, "peak_gbps": peak,
                         "offered_load": load, "offered_gbps": load * peak, "delivered_gbps": res.bandwidth_gbps,
                         "read_latency_avg_ns": stats["read_latency_avg_ns"],
                         "read_latency_p99_ns": stats["read_latency_p99_ns"]})
    return pd.DataFrame(rows)


def dram_curves_figure(df: pd.DataFrame) -> Figure:
    """Average read latency (log) vs delivered bandwidth, one line per preset (its peak in the legend)."""
    require_columns(df, ("preset", "standard", "channels", "peak_gbps", "delivered_gbps", "read_latency_avg_ns"),
                    "DRAM curve table")
    with style():
        fig = new_figure(2.6)
        ax = fig.subplots()
        for i, (preset, d) in enumerate(df.groupby("preset", sort=False)):
            d = d.sort_values("offered_gbps") if "offered_gbps" in d else d
            marker, ls = _STYLES[i % len(_STYLES)]
            colour = shade(DEVICE_COLOURS["dram"], _SHADES[i % len(_SHADES)])
            first = d.iloc[0]
            ax.plot(d["delivered_gbps"], d["read_latency_avg_ns"], marker=marker, linestyle=ls, color=colour,
                    markerfacecolor="white", markeredgewidth=0.8, markersize=3.5,
                    label=f"{first['standard']} ×{first['channels']} ch, {first['peak_gbps']:.0f} GB/s peak")
        lat = df["read_latency_avg_ns"]
        log_y(ax, lat.min() / 1.2, lat.max() * 1.2)
        ax.set_xlim(0, df["delivered_gbps"].max() * 1.08)
        ax.set_xlabel("delivered bandwidth (GB/s)")
        ax.set_ylabel("average read latency (ns)")
        fig.legend(loc="outside upper center", ncol=2, handlelength=2.4, columnspacing=1.0)
    return fig
