"""Figure (b): embedding bandwidth (bytes / gather time) vs batch size, CPU vs FPGA, split by where bytes came from.

Top: the bytes DRAM served (they count against the DRAM and link peaks drawn there). Bottom: the bytes that hit
in a cache (the CPU's caches; on the FPGA, its link-side cache), which no DRAM peak bounds. Their sum is the
effective embedding bandwidth, the table's bandwidth_gbps column.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from accelsim.figures.runs import workload_text
from accelsim.figures.style import (DEVICE_COLOURS, DEVICE_LABELS, batch_axis, marker_face, model_label, model_style,
                                   new_figure, require_columns, state, style)

PANELS = (("dram_gbps", "from DRAM\n(GB/s)"), ("cache_gbps", "from cache hits\n(GB/s)"))


def bandwidth_figure(df: pd.DataFrame, roofs: pd.DataFrame | None = None) -> Figure:
    """Two panels from a bandwidth table (see runs.bandwidth_table): colour = device, marker = model.

    `roofs` (see roofline.device_roofs) adds the memory roofs (kind == "memory") to the DRAM panel.
    """
    require_columns(df, ("model", "batch_size", "device", "hw", "mapping", "fidelity", "dram_gbps", "cache_gbps"),
                    "bandwidth table")
    models = list(dict.fromkeys(df["model"]))
    devices = list(dict.fromkeys(df["device"]))
    memory = roofs[roofs["kind"] == "memory"] if roofs is not None else pd.DataFrame(columns=["value"])
    top = max(df["dram_gbps"].max(), df["cache_gbps"].max(), *memory["value"]) * 1.08
    with style():
        fig = new_figure(3.6)
        axes = fig.subplots(2, 1, sharex=True)
        for ax, (col, ylabel) in zip(axes, PANELS):
            for i, model in enumerate(models):
                sty = model_style(model, i)
                for device in devices:
                    d = df[(df["model"] == model) & (df["device"] == device)].sort_values("batch_size")
                    if d.empty:
                        continue
                    colour = DEVICE_COLOURS.get(device, "0.3")
                    ax.plot(d["batch_size"], d[col], color=colour, marker=sty["marker"], linestyle=sty["linestyle"],
                            markerfacecolor=marker_face(device, colour),
                            markeredgewidth=0.9, label=f"{DEVICE_LABELS.get(device, device)}, {model_label(model)}",
                            zorder=3)
            ax.set_ylabel(ylabel)
            ax.set_ylim(0, top)  # one scale: the panels' heights add up to the effective bandwidth
        for _, r in memory.iterrows():
            colour = DEVICE_COLOURS.get(r["device"], "0.5")
            axes[0].axhline(r["value"], color=colour, linestyle=(0, (4, 2)), linewidth=0.8, zorder=1)
            axes[0].annotate(f"{r['label']} peak\n{r['value']:.3g} GB/s", (1.0, r["value"]),
                             xycoords=("axes fraction", "data"), xytext=(3, 0), textcoords="offset points",
                             va="center", ha="left", fontsize=6.5, color=colour, annotation_clip=False)
        axes[1].text(0.02, 0.95, "hits in the CPU caches / the FPGA's link-side cache:\nno DRAM peak bounds them; "
                     "top + bottom = effective bandwidth", transform=axes[1].transAxes, va="top", ha="left",
                     fontsize=6, color="0.35")
        batch_axis(axes[-1], sorted(set(df["batch_size"])))
        # Colour tells the device and line style the model: one legend for each, above the plot.
        device_handles = [Line2D([], [], color=DEVICE_COLOURS.get(d, "0.3"), marker="o", markersize=3.5,
                                 markerfacecolor=marker_face(d, DEVICE_COLOURS.get(d, "0.3")),
                                 label=DEVICE_LABELS.get(d, d)) for d in devices]
        model_handles = [Line2D([], [], color="0.25", marker=model_style(m, i)["marker"], markerfacecolor="white",
                                linestyle=model_style(m, i)["linestyle"], label=model_label(m))
                         for i, m in enumerate(models)]
        fig.legend(handles=device_handles + model_handles, loc="outside upper center",
                   ncol=len(devices) + len(models), handlelength=2.0, columnspacing=0.8, handletextpad=0.4)
        systems = ", ".join(f"{m} on {hw}" for m, hw in dict.fromkeys(zip(df["mapping"], df["hw"])))
        state(fig, hardware=systems, workload=f"embedding gathers of {workload_text(df)}",
              fidelity=", ".join(dict.fromkeys(df["fidelity"])))
    return fig
