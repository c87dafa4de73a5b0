"""Figure (b): effective embedding bandwidth (bytes gathered / gather time) vs batch size, CPU vs FPGA."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from accelsim.figures.style import (DEVICE_COLOURS, DEVICE_LABELS, batch_axis, model_label, model_style, new_figure,
                                   require_columns, style)


def bandwidth_figure(df: pd.DataFrame, roofs: pd.DataFrame | None = None) -> Figure:
    """Lines from a bandwidth table (model, batch_size, device, bandwidth_gbps): colour = device, marker = model.

    `roofs` (see roofline.device_roofs) adds the memory roofs (kind == "memory") as horizontal references.
    """
    require_columns(df, ("model", "batch_size", "device", "bandwidth_gbps"), "bandwidth table")
    with style():
        fig = new_figure(2.7)
        ax = fig.subplots()
        if roofs is not None:
            for _, r in roofs[roofs["kind"] == "memory"].iterrows():
                colour = DEVICE_COLOURS.get(r["device"], "0.5")
                ax.axhline(r["value"], color=colour, linestyle=(0, (4, 2)), linewidth=0.8, zorder=1)
                ax.annotate(f"{r['label']} peak\n{r['value']:.3g} GB/s", (1.0, r["value"]),
                            xycoords=("axes fraction", "data"), xytext=(3, 0), textcoords="offset points",
                            va="center", ha="left", fontsize=6.5, color=colour, annotation_clip=False)
        models = list(dict.fromkeys(df["model"]))
        devices = list(dict.fromkeys(df["device"]))
        for i, model in enumerate(models):
            sty = model_style(model, i)
            for device in devices:
                d = df[(df["model"] == model) & (df["device"] == device)].sort_values("batch_size")
                if d.empty:
                    continue
                ax.plot(d["batch_size"], d["bandwidth_gbps"], color=DEVICE_COLOURS.get(device, "0.3"),
                        marker=sty["marker"], linestyle=sty["linestyle"], markerfacecolor="white",
                        markeredgewidth=0.9, label=f"{DEVICE_LABELS.get(device, device)}, {model_label(model)}",
                        zorder=3)
        batch_axis(ax, sorted(set(df["batch_size"])))
        ax.set_ylabel("effective embedding\nbandwidth (GB/s)")
        memory = list(roofs[roofs["kind"] == "memory"]["value"]) if roofs is not None else []
        ax.set_ylim(0, max([df["bandwidth_gbps"].max(), *memory]) * 1.08)
        # Colour tells the device and line style the model: one legend for each, above the plot.
        device_handles = [Line2D([], [], color=DEVICE_COLOURS.get(d, "0.3"), label=DEVICE_LABELS.get(d, d))
                          for d in devices]
        model_handles = [Line2D([], [], color="0.25", marker=model_style(m, i)["marker"], markerfacecolor="white",
                                linestyle=model_style(m, i)["linestyle"], label=model_label(m))
                         for i, m in enumerate(models)]
        fig.legend(handles=device_handles + model_handles, loc="outside upper center",
                   ncol=len(devices) + len(models), handlelength=2.0, columnspacing=0.8, handletextpad=0.4)
    return fig
