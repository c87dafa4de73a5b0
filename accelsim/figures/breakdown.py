"""Figure (a): CPU-only latency per model and batch size, split into embedding, MLP and other (stacked bars)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from accelsim.figures.runs import BREAKDOWN_ORDER, workload_text
from accelsim.figures.style import (DEVICE_COLOURS, distinct, model_label, new_figure, require_columns, shade, state,
                                   style)


# Every part runs on the CPU, so every part is a tint of the CPU colour.
PART_COLOURS = {"embedding": shade(DEVICE_COLOURS["cpu"], 0.0), "MLP": shade(DEVICE_COLOURS["cpu"], -0.45),
                "other": shade(DEVICE_COLOURS["cpu"], -0.8)}
# Hatching tells the parts apart in greyscale as well.
PART_HATCHES = {"embedding": "", "MLP": "////", "other": "...."}
PART_LABELS = {"embedding": "embedding", "MLP": "MLP (bottom + top)", "other": "other (interaction, transfers)"}


def breakdown_figure(df: pd.DataFrame) -> Figure:
    """Stacked bars from a breakdown table (model, batch_size, part, time_us, hw, fidelity): one panel per model."""
    require_columns(df, ("model", "batch_size", "part", "time_us", "hw", "fidelity"), "breakdown table")
    models = list(dict.fromkeys(df["model"]))
    parts = [p for p in BREAKDOWN_ORDER if p in set(df["part"])]
    with style():
        fig = new_figure(0.35 + 1.15 * len(models))
        axes = fig.subplots(len(models), 1, sharex=True, squeeze=False)[:, 0]
        for ax, model in zip(axes, models):
            table = df[df["model"] == model].pivot_table(index="batch_size", columns="part", values="time_us",
                                                         aggfunc="sum").reindex(columns=parts, fill_value=0.0)
            x = np.arange(len(table))
            bottom = np.zeros(len(table))
            for part in parts:
                ax.bar(x, table[part].to_numpy(), 0.7, bottom=bottom, color=PART_COLOURS.get(part, "0.5"),
                       edgecolor="white", linewidth=0.3, hatch=PART_HATCHES.get(part, "xx"),
                       label=PART_LABELS.get(part, part))
                bottom += table[part].to_numpy()
            ax.set_ylabel("latency (µs)")
            ax.text(0.02, 0.95, f"{model_label(model)}, CPU-only", transform=ax.transAxes, va="top", ha="left",
                    fontweight="bold")
            ax.set_ylim(0, bottom.max() * 1.18)
            ax.set_xticks(x, [str(b) for b in table.index])
        axes[-1].set_xlabel("batch size (samples)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncol=len(parts), handlelength=1.2,
                   columnspacing=1.0)
        state(fig, hardware=f"{distinct(df, 'hw')} (CPU-only: every stage on the CPU)", workload=workload_text(df),
              fidelity=distinct(df, "fidelity"))
    return fig
