"""Serving figures: p99 latency against offered load, and the highest load that meets a p99 target.

(g) serving_latency_figure   p99 latency vs offered QPS, CPU-only vs Centaur, one panel per model
(h) qps_at_sla_figure        QPS at a p99 SLA per system and model
Both serve Poisson arrivals of heavy-tailed queries through dynamic batching (SERVE below).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from accelsim.figures.runs import CENTAUR, CPU_ONLY
from accelsim.figures.style import DEVICE_COLOURS, model_label, model_style, new_figure, require_columns
from accelsim.sim.api import find_max_qps, resolve_point, run_point

SYSTEMS = {"CPU-only": CPU_ONLY, "Centaur": CENTAUR}
SYSTEM_COLOURS = {"CPU-only": DEVICE_COLOURS["cpu"], "Centaur": DEVICE_COLOURS["sparse_engine"]}
# ASSUMPTION: a DeepRecSys-style heavy-tailed query (log-normal, median 8 samples) and a dynamic batcher.
SERVE = {"queries": 200, "policy": "dynamic", "timeout_us": 100.0, "in_flight": 2,
         "query_size": {"dist": "lognormal", "median": 8, "sigma": 1.0, "max_size": 128}}
BATCH_SIZE = 32
QPS_GRID = tuple(float(q) for q in np.logspace(2.5, 5.5, 7))
SLA_P99_MS = 5.0  # ASSUMPTION: a tail target that both systems meet at light load on RM1-RM3


def _point(model: str, system: str, fidelity: str, qps: float) -> dict:
    hw, mapping = SYSTEMS[system]
    return dict(hw=hw, workload=model, mapping=mapping, batch_size=BATCH_SIZE, fidelity=fidelity,
                functional=False, serve=dict(SERVE, arrivals={"kind": "poisson", "qps": qps}))


def serving_table(models: Sequence[str], fidelity: str, qps_grid: Sequence[float] = QPS_GRID) -> pd.DataFrame:
    """p99 latency and served QPS at every offered load, per model and system."""
    rows = []
    for model in models:
        for system in SYSTEMS:
            for qps in qps_grid:
                s = run_point(resolve_point(_point(model, system, fidelity, qps))).summary
                rows.append((model, system, fidelity, qps, s["throughput_qps"], s["latency_p99_ns"] / 1e6))
    return pd.DataFrame(rows, columns=["model", "system", "fidelity", "offered_qps", "served_qps", "p99_ms"])


def sla_table(models: Sequence[str], fidelity: str, sla_p99_ms: float = SLA_P99_MS) -> pd.DataFrame:
    """Highest Poisson QPS meeting the p99 SLA, per model and system."""
    rows = []
    for model in models:
        for system in SYSTEMS:
            qps, _, _ = find_max_qps(_point(model, system, fidelity, 1000.0), sla_p99_ms, rtol=0.1)
            rows.append((model, system, fidelity, sla_p99_ms, qps))
    return pd.DataFrame(rows, columns=["model", "system", "fidelity", "sla_p99_ms", "max_qps"])


def serving_latency_figure(df: pd.DataFrame) -> Figure:
    """p99 latency (log) against offered QPS (log), one panel per model, a colour per system."""
    require_columns(df, ["model", "system", "fidelity", "offered_qps", "p99_ms"], "serving latency figure")
    models = list(dict.fromkeys(df["model"]))
    fig = new_figure(2.2, 2.4 * len(models))
    axes = fig.subplots(1, len(models), sharey=True, squeeze=False)[0]
    for i, (ax, model) in enumerate(zip(axes, models)):
        st = model_style(model, i)
        for system, g in df[df["model"] == model].groupby("system", sort=False):
            ax.plot(g["offered_qps"], g["p99_ms"], marker=st["marker"], linestyle=st["linestyle"],
                    color=SYSTEM_COLOURS[system], label=system)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axhline(SLA_P99_MS, color="#777777", linewidth=0.6, linestyle=":")
        ax.set_title(model_label(model))
        ax.set_xlabel("offered load (queries/s)")
    axes[0].set_ylabel("p99 latency (ms)")
    axes[0].legend(loc="upper left")
    fig.suptitle(f"Poisson queries, log-normal sizes (median 8), dynamic batching <= {BATCH_SIZE}; "
                 f"{df['fidelity'].iloc[0]} fidelity; dotted: {SLA_P99_MS:g} ms SLA", fontsize=7)
    return fig


def qps_at_sla_figure(df: pd.DataFrame) -> Figure:
    """Bars of the highest QPS meeting the SLA, grouped by model, a colour (and hatch) per system."""
    require_columns(df, ["model", "system", "fidelity", "sla_p99_ms", "max_qps"], "QPS-at-SLA figure")
    models = list(dict.fromkeys(df["model"]))
    fig = new_figure(2.2)
    ax = fig.subplots()
    width = 0.38
    for k, (system, hatch) in enumerate(zip(SYSTEMS, ("", "//"))):
        vals = [float(df[(df["model"] == m) & (df["system"] == system)]["max_qps"].iloc[0]) for m in models]
        ax.bar(np.arange(len(models)) + (k - 0.5) * width, vals, width, color=SYSTEM_COLOURS[system],
               hatch=hatch, edgecolor="black", linewidth=0.5, label=system)
    ax.set_xticks(range(len(models)), [model_label(m) for m in models])
    ax.set_ylabel(f"QPS at p99 <= {df['sla_p99_ms'].iloc[0]:g} ms")
    ax.set_title(f"Highest Poisson load meeting the SLA ({df['fidelity'].iloc[0]} fidelity)")
    ax.legend()
    return fig
