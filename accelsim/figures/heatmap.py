"""Figure (d): a heatmap over two axes of a design sweep (a stored sweep, or a small built-in one)."""

from __future__ import annotations

import json
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from accelsim.errors import InputError
from accelsim.figures.runs import CENTAUR, CPU_ONLY, grid_point
from accelsim.figures.style import axis_label, distinct, new_figure, state, style
from accelsim.sim.api import resolve_point, run_point
from accelsim.sweep import InProcessExecutor, load_results, run_sweep

# The built-in sweep: RM1 at batch 64 on Centaur, every CPU-FPGA channel scaled together x gather units.
BUILTIN_MODEL, BUILTIN_BATCH = "rm1", 64
LINK_SCALES: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
GATHER_UNITS: tuple[int, ...] = (4, 8, 16, 24, 32)
MAX_LABEL_CHARS = 32


@dataclass(frozen=True)
class HeatmapData:
    """Long-format cells (columns x, y, value, optional note; NaN value = no result) and how to label them.

    x_order / y_order list the tick labels in axis order; empty means sorted as numbers where they are numbers.
    hardware, workload and fidelity are stated above the figure (heatmap_figure requires them).
    """

    cells: pd.DataFrame
    x_label: str
    y_label: str
    value_label: str
    title: str = ""
    x_order: tuple[str, ...] = ()
    y_order: tuple[str, ...] = ()
    hardware: str = ""
    workload: str = ""
    fidelity: str = ""


def _cell_text(value) -> str:
    """A table cell as a tick label: a section given as a value ({"preset": "hbm2"}) shows its values."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            return ", ".join(str(v) for v in json.loads(value).values())
        except (ValueError, AttributeError):
            return value
    return f"{value:g}" if isinstance(value, float) else str(value)


def _axis_groups(df: pd.DataFrame, params: list[str]) -> list[list[str]]:
    """Swept columns that vary, grouped so that columns walked together (a zip axis) form one group."""
    varying = [c for c in params if df[c].astype(str).nunique() > 1]
    groups: list[list[str]] = []
    for col in varying:
        for g in groups:
            a, b = df[g[0]].astype(str), df[col].astype(str)
            if (b.groupby(a).nunique() == 1).all() and (a.groupby(b).nunique() == 1).all():
                g.append(col)
                break
        else:
            groups.append([col])
    return groups


def _notes(df: pd.DataFrame) -> pd.Series:
    """What a cell says when its point failed: a design that does not fit the device, or just 'failed'."""
    failed = df["status"] != "ok"
    kind = df["error_type"].fillna("") if "error_type" in df else pd.Series("", index=df.index)
    return pd.Series(np.where(~failed, "", np.where(kind == "ResourceOverflow", "does not\nfit", "failed")),
                     index=df.index)


def _order(values) -> list:
    """Distinct values, ascending as numbers when they all read as numbers, else in order of appearance."""
    uniq = list(dict.fromkeys(values))
    try:
        return sorted(uniq, key=float)
    except (TypeError, ValueError):
        return uniq


def sweep_heatmap_data(df: pd.DataFrame, metric: str = "latency_ns",
                       labels: dict[str, str] | None = None) -> HeatmapData:
    """Cells of the first two varying axes of a results table (load_results); further axes at their first value.

    Axis words come from style.AXIS_LABELS; `labels` ({path: words with unit}) overrides or extends them.
    """
    params = list(df.attrs.get("param_columns", []))
    if metric not in df.columns:
        raise InputError(f"sweep results have no metric {metric!r} (no point finished?)")
    groups = _axis_groups(df, params)
    if len(groups) < 2:
        raise InputError(f"a heatmap needs a sweep over two axes; this one varies {len(groups)}: "
                         f"{', '.join(c for g in groups for c in g) or 'nothing'}")
    fixed = []
    for g in groups[2:]:
        first = _order(df[g[0]])[0]
        df = df[df[g[0]] == first]
        fixed.append(f"at {axis_label(g[0], labels)} = {_cell_text(first)}")
    (y_col, *y_more), (x_col, *x_more) = groups[0], groups[1]
    value = df[metric].where(df["status"] == "ok")
    cells = pd.DataFrame({"x": df[x_col].map(_cell_text), "y": df[y_col].map(_cell_text),
                          "value": value / 1e3 if metric.endswith("_ns") else value, "note": _notes(df)})
    value_label = axis_label(metric[:-3] + "_us" if metric.endswith("_ns") else metric, labels)
    return HeatmapData(cells, _axis_label(x_col, x_more, labels), _axis_label(y_col, y_more, labels), value_label,
                       "; ".join(fixed), tuple(_cell_text(v) for v in _order(df[x_col])),
                       tuple(_cell_text(v) for v in _order(df[y_col])), **_about(df))


def _about(df: pd.DataFrame) -> dict[str, str]:
    """Hardware, workload and fidelity of a results table, from its hw, mapping, workload, batch_size columns."""
    ok = df[df["status"] == "ok"] if "status" in df else df
    missing = [c for c in ("hw", "workload", "fidelity") if c not in ok or ok[c].isna().all()]
    if missing:
        raise InputError(f"sweep results name no {', '.join(missing)} (no point finished?)")
    systems = ", ".join(f"{m} on {h}" for m, h in dict.fromkeys(zip(ok.get("mapping", ok["hw"]), ok["hw"])))
    batch = f", batch {distinct(ok, 'batch_size')}" if "batch_size" in ok else ""
    return {"hardware": systems, "workload": f"{distinct(ok, 'workload')}{batch}", "fidelity": distinct(ok, "fidelity")}


def _axis_label(col: str, zipped: list[str], labels: dict[str, str] | None) -> str:
    """axis_label(col), wrapped between words when too long for one line at column width."""
    label = axis_label(col, labels) + (f" (+{len(zipped)} zipped)" if zipped else "")
    return textwrap.fill(label, MAX_LABEL_CHARS)


def builtin_sweep_spec(fidelity: str = "analytic") -> dict:
    """RM1 at batch 64 on Centaur: all CPU-FPGA channels scaled by LINK_SCALES x gather units."""
    base = grid_point(BUILTIN_MODEL, BUILTIN_BATCH, CENTAUR, fidelity)
    channels = resolve_point(base)["hw"]["links"]["channels"]
    zipped = {f"hw.links.channels.{i}.bandwidth_gbps": [ch["bandwidth_gbps"] * s for s in LINK_SCALES]
              for i, ch in enumerate(channels)}
    return {"name": "figure_link_bw_x_gather_units",
            "description": "RM1 batch 64 on HARPv2 Centaur: CPU-FPGA link bandwidth scale x EB-Streamer gather units",
            "base": base, "axes": [{"zip": zipped},
                                   {"grid": {"hw.accelerator.sparse_engine.gather_units": list(GATHER_UNITS)}}]}


def run_builtin_sweep(fidelity: str = "analytic") -> HeatmapData:
    """Run the built-in sweep in this process (temporary store) and give its speed-up over CPU-only."""
    with tempfile.TemporaryDirectory(prefix="accelsim-figsweep-") as tmp:
        run_sweep(builtin_sweep_spec(fidelity), Path(tmp) / "store", InProcessExecutor())
        df = load_results(Path(tmp) / "store")
    cpu = run_point(resolve_point(grid_point(BUILTIN_MODEL, BUILTIN_BATCH, CPU_ONLY, fidelity))).summary
    link_cols = [c for c in df.attrs["param_columns"] if c.startswith("hw.links.channels.")]
    ok = df["status"] == "ok"
    cells = pd.DataFrame({"x": df[link_cols].sum(axis=1).map(lambda v: f"{v:.3g}"),
                          "y": df["hw.accelerator.sparse_engine.gather_units"].map(str),
                          "value": (cpu["latency_ns"] / df["latency_ns"]).where(ok), "note": _notes(df)})
    return HeatmapData(cells, "total CPU–FPGA link bandwidth (GB/s)", "gather units (EB-Streamer)",
                       "speed-up over CPU-only (×)", "",
                       hardware=f"centaur on {CENTAUR[0]} (links and gather units swept) over cpu_only on "
                                f"{CPU_ONLY[0]}",
                       workload=f"{BUILTIN_MODEL.upper()} (shipped trace), batch {BUILTIN_BATCH}", fidelity=fidelity)


def _value_text(v: float) -> str:
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def heatmap_figure(data: HeatmapData) -> Figure:
    """Colour = value (its number written in each cell); hatched cells are points that failed or are missing."""
    cells = data.cells
    if cells.empty:
        raise InputError("heatmap: no cells")
    if not (data.hardware and data.workload and data.fidelity):
        raise InputError("heatmap: say which hardware, workload and fidelity it shows (HeatmapData fields)")
    x_order = list(data.x_order) or _order(cells["x"])
    y_order = list(data.y_order) or _order(cells["y"])
    grid = cells.pivot_table(index="y", columns="x", values="value", aggfunc="mean", dropna=False)
    grid = grid.reindex(index=y_order, columns=x_order)
    values = np.ma.masked_invalid(grid.to_numpy(dtype=float))
    notes = {} if "note" not in cells else {(r.y, r.x): r.note for r in cells.itertuples() if r.note}
    with style():
        fig = new_figure(max(2.0, 0.9 + 0.32 * len(y_order)))
        ax = fig.subplots()
        ax.set_facecolor("0.92")
        ax.patch.set_hatch("////")
        ax.patch.set_edgecolor("0.75")
        img = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest")
        finite = values.compressed()
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for (i, j), v in np.ndenumerate(values.filled(np.nan)):
            if np.isnan(v):
                ax.text(j, i, notes.get((y_order[i], x_order[j]), "no data"), ha="center", va="center",
                        fontsize=6, linespacing=0.9, color="0.3")
            else:
                ax.text(j, i, _value_text(v), ha="center", va="center", fontsize=6.5,
                        color="black" if v > mid else "white")
        ax.set_xticks(range(len(x_order)), x_order)
        ax.set_yticks(range(len(y_order)), y_order)
        ax.set_xlabel(data.x_label)
        ax.set_ylabel(data.y_label)
        ax.spines[:].set_visible(False)
        ax.tick_params(length=0)
        if data.title:
            ax.set_title(data.title, fontsize=7, loc="left")
        cbar = fig.colorbar(img, ax=ax, pad=0.02, fraction=0.06)
        cbar.set_label(data.value_label)
        cbar.outline.set_linewidth(0.4)
        state(fig, hardware=data.hardware, workload=data.workload, fidelity=data.fidelity)
    return fig
