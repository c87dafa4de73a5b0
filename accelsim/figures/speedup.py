"""Figure (c): Centaur's speed-up and energy efficiency over CPU-only, per model, vs batch size."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from accelsim.figures.runs import workload_text
from accelsim.figures.style import (DEVICE_COLOURS, batch_axis, distinct, log_y, model_label, model_style,
                                   new_figure, require_columns, state, style)

# Centaur's headline on HARPv2 (Hwang et al., ISCA 2020), shared/reference/platforms.md [V]:
# 1.7-17.2x speed-up and 1.7-19.5x energy efficiency over CPU-only inference.
PAPER_RANGES: dict[str, tuple[float, float]] = {"speedup": (1.7, 17.2), "energy_efficiency": (1.7, 19.5)}
BAND_COLOUR = "0.88"
# Centaur's gain comes from its FPGA engines: its lines take the FPGA (sparse engine) colour of the other figures.
CENTAUR_COLOUR = DEVICE_COLOURS["sparse_engine"]
PANELS = (("speedup", "speed-up over\nCPU-only (×)"), ("energy_efficiency", "energy efficiency\nover CPU-only (×)"))


def speedup_figure(df: pd.DataFrame) -> Figure:
    """Two panels from a speed-up table (model, batch_size, speedup, energy_efficiency, baseline_hw, hw,
    fidelity), log y, paper band."""
    require_columns(df, ("model", "batch_size", "speedup", "energy_efficiency", "baseline_hw", "hw", "fidelity"),
                    "speed-up table")
    models = list(dict.fromkeys(df["model"]))
    batch_sizes = sorted(set(df["batch_size"]))
    with style():
        fig = new_figure(3.3)
        axes = fig.subplots(2, 1, sharex=True)
        for ax, (col, ylabel) in zip(axes, PANELS):
            lo, hi = PAPER_RANGES[col]
            ax.axhspan(lo, hi, color=BAND_COLOUR, zorder=0, linewidth=0)
            ax.text(0.99, hi / 1.08, f"Centaur paper: {lo:g}–{hi:g}×", transform=ax.get_yaxis_transform(),
                    ha="right", va="top", fontsize=6.5, color="0.35")
            ax.axhline(1.0, color="0.4", linewidth=0.6, zorder=1)
            for i, model in enumerate(models):
                d = df[df["model"] == model].sort_values("batch_size")
                sty = {**model_style(model, i), "color": CENTAUR_COLOUR}
                ax.plot(d["batch_size"], d[col], label=model_label(model), zorder=3, markerfacecolor="white",
                        markeredgewidth=0.9, **sty)
            values = df[col].to_numpy()
            log_y(ax, min(values.min(), 1.0) / 1.6, max(values.max(), hi) * 1.6)
            ax.set_ylabel(ylabel)
        batch_axis(axes[-1], batch_sizes)
        handles, labels = axes[0].get_legend_handles_labels()
        handles.append(Patch(color=BAND_COLOUR, label="range reported by Centaur"))
        fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), handlelength=2.2,
                   columnspacing=0.9)
        state(fig, hardware=f"centaur on {distinct(df, 'hw')} over cpu_only on {distinct(df, 'baseline_hw')}",
              workload=workload_text(df), fidelity=distinct(df, "fidelity"))
    return fig
