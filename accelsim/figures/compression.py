"""Compressed embeddings: table memory vs latency and energy per inference, per model and machine, Pareto marked."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from accelsim.figures.style import DEVICE_COLOURS, new_figure, require_columns, style
from accelsim.sweep.pareto import pareto_mask

# A machine is drawn in the colour of the device that gathers its embeddings (the palette of every figure).
MACHINES: dict[str, tuple[str, str]] = {
    "broadwell_cpu_only": ("Broadwell CPU only", DEVICE_COLOURS["cpu"]),
    "harpv2_centaur": ("HARPv2 Centaur", DEVICE_COLOURS["sparse_engine"]),
    "spr_hbm_ucie_chiplet": ("SPR HBM chiplet", DEVICE_COLOURS["links"]),
}
SCHEME_MARKERS = {"fp32": "o", "fp16": "s", "int8": "D", "int4": "d", "qr": "^", "md": "v", "lowrank": "<",
                  "tt": ">", "hash": "P"}
COLUMNS = ("hw", "workload", "table_bytes", "latency_ns", "energy_per_inference_uj")


def _setting(row: pd.Series) -> str:
    comp = row.get("workload.tables.0.compression")
    if isinstance(comp, str) and comp:
        comp = json.loads(comp)
    if isinstance(comp, dict):
        return comp["scheme"]
    dtype = row.get("workload.tables.0.dtype")
    return dtype if isinstance(dtype, str) and dtype else "fp32"


def compression_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per point: machine, model, scheme, table GB, latency us, energy uJ, on the (GB, latency) front."""
    require_columns(df, COLUMNS, "compression figure")
    ok = df[df["status"] == "ok"] if "status" in df else df
    out = pd.DataFrame({"hw": ok["hw"], "workload": ok["workload"], "scheme": ok.apply(_setting, axis=1),
                        "table_gb": ok["table_bytes"] / 1e9, "latency_us": ok["latency_ns"] / 1e3,
                        "energy_uj": ok["energy_per_inference_uj"]}).reset_index(drop=True)
    out["pareto_latency"] = False
    out["pareto_energy"] = False
    for _, g in out.groupby(["hw", "workload"]):
        out.loc[g.index, "pareto_latency"] = pareto_mask(g[["table_gb", "latency_us"]].to_numpy())
        out.loc[g.index, "pareto_energy"] = pareto_mask(g[["table_gb", "energy_uj"]].to_numpy())
    return out.sort_values(["workload", "hw", "table_gb"]).reset_index(drop=True)


def compression_figure(table: pd.DataFrame) -> Figure:
    """Rows: latency, energy per inference; columns: models. Colour = machine, marker = scheme, line = front."""
    models = sorted(table["workload"].unique())
    with style():
        fig = new_figure(3.6, 7.0)
        axes = fig.subplots(2, len(models), squeeze=False)
        for j, model in enumerate(models):
            for i, (col, front, label) in enumerate((("latency_us", "pareto_latency", "latency per batch (us)"),
                                                     ("energy_uj", "pareto_energy", "energy / inference (uJ)"))):
                ax = axes[i][j]
                for hw, (name, colour) in MACHINES.items():
                    g = table[(table["workload"] == model) & (table["hw"] == hw)]
                    for scheme, s in g.groupby("scheme"):
                        ax.scatter(s["table_gb"], s[col], marker=SCHEME_MARKERS.get(scheme, "x"), s=14,
                                   facecolor="none", edgecolor=colour, linewidth=0.8)
                    f = g[g[front]].sort_values("table_gb")
                    ax.step(f["table_gb"], f[col], where="post", color=colour, linewidth=0.9)
                ax.set_xscale("log")
                ax.set_yscale("log")
                if i == 0:
                    ax.set_title(model)
                else:
                    ax.set_xlabel("table memory (GB)")
                if j == 0:
                    ax.set_ylabel(label)
        handles = [axes[0][0].scatter([], [], marker="s", color=c, label=n) for n, c in MACHINES.values()]
        handles += [axes[0][0].scatter([], [], marker=m, facecolor="none", edgecolor="#444444", label=k)
                    for k, m in SCHEME_MARKERS.items()]
        fig.legend(handles=handles, loc="lower center", ncol=6, bbox_to_anchor=(0.5, -0.12))
        fig.suptitle("Compressed tables: analytic fidelity, batch 16, uniform rows; lines = Pareto front "
                     "(memory vs latency / energy) per machine", fontsize=7)
    return fig


def figure_from_store(store_dir: str, out_dir: str) -> list:
    """Read a compression sweep store and write compression_pareto.{pdf,png} and its table."""
    from accelsim.figures.style import save_figure
    from accelsim.sweep import load_results
    table = compression_table(load_results(store_dir))
    return save_figure(compression_figure(table), out_dir, "i_compression_pareto")
