"""Figure (e): roofline of every stage on every device: achieved GFLOP/s vs operational intensity (FLOP/byte).

Ceilings come from the hardware configs: CPU cores x clock x 2 x SIMD lanes x FMA units; the dense engine's
rows x cols x 2 x clock; the sparse engine's gather units x reduce lanes x clock (one add per lane per cycle);
roofs: DRAM peak bandwidth (what the CPU reads from) and the total CPU-FPGA link bandwidth (what the FPGA
engines read host memory through). A point's FLOPs come from the run's counters (CPU flops, dense-engine
MACs x 2, embedding lookups x dim adds); its bytes are the stage's compulsory traffic: the rows gathered
(bytes_gathered counter) for embeddings, weights + input + output activations for MLP layers.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from accelsim.config.base import parse_model
from accelsim.config.system import SystemConfig
from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.figures.runs import workload_text
from accelsim.figures.style import DEVICE_COLOURS, distinct, new_figure, state, style
from accelsim.results import Result

COMPUTE_PHASES = ("gather", "gemm", "interact")
STAGE_MARKERS = {"embedding": "o", "bottom_mlp": "s", "top_mlp": "^", "interaction": "D"}
STAGE_LABELS = {"embedding": "embedding", "bottom_mlp": "bottom MLP", "top_mlp": "top MLP",
                "interaction": "interaction"}
# Which memory roof bounds each compute device.
DEVICE_MEMORY = {"cpu": "dram", "sparse_engine": "links", "dense_engine": "links"}


def _counter(counters: pd.DataFrame, device: str, component: str, counter: str) -> float:
    sel = (counters["device"] == device) & (counters["component"] == component) & (counters["counter"] == counter)
    return float(counters.loc[sel, "value"].sum())


def _mlp_bytes(layers: Sequence[tuple[int, int]], batch: int, elem_bytes: int) -> float:
    """Weights, biases, input and output activations of each Linear, read or written once."""
    return float(sum((i * o + o + batch * (i + o)) * elem_bytes for i, o in layers))


def _stage_work(r: Result, spec: ModelSpec, stage: str, device: str) -> tuple[float, float]:
    """(FLOPs, compulsory bytes) of one stage over all the run's batches."""
    c, batch, batches = r.counters, int(r.summary["batch_size"]), int(r.summary["batches"])
    if stage == "embedding":
        return (_counter(c, "workload", "embedding", "lookups") * spec.embedding_dim,
                _counter(c, "workload", "embedding", "bytes_gathered"))
    flops = _counter(c, "cpu", stage, "flops") if device == "cpu" else 2 * _counter(c, device, stage, "macs")
    if stage in ("bottom_mlp", "top_mlp"):
        layers = spec.bottom_layers if stage == "bottom_mlp" else spec.top_layers
        return flops, batches * _mlp_bytes(layers, batch, spec.elem_bytes)
    f, d = spec.num_features, spec.embedding_dim
    return flops, float(batches * batch * (f * d + spec.top_input_width) * spec.elem_bytes)


def roofline_points(results: Sequence[Result]) -> pd.DataFrame:
    """One row per (run, stage, device) that computes: flops, bytes, time_ns, intensity_flop_per_byte, gflops
    (with the run's model, batch_size, mapping, hw and fidelity)."""
    rows = []
    for r in results:
        spec = ModelSpec.model_validate(r.config["workload"])
        st = r.stages[r.stages["phase"].isin(COMPUTE_PHASES)]
        for (stage, device), t in st.groupby(["stage", "device"])["duration_ns"].sum().items():
            flops, nbytes = _stage_work(r, spec, stage, device)
            if flops <= 0 or nbytes <= 0 or t <= 0:
                continue  # a 'cat' interaction computes nothing
            rows.append({"model": r.summary["workload"], "batch_size": r.summary["batch_size"],
                         "mapping": r.summary["mapping"], "hw": r.summary["hw"], "fidelity": r.summary["fidelity"],
                         "stage": stage, "device": device,
                         "flops": flops, "bytes": nbytes, "time_ns": float(t),
                         "intensity_flop_per_byte": flops / nbytes, "gflops": flops / float(t)})
    if not rows:
        raise InputError("roofline: no stage with FLOPs in these runs")
    return pd.DataFrame(rows)


def device_roofs(hw_configs: Sequence[dict]) -> pd.DataFrame:
    """Ceilings of the machines: name, kind (compute: GFLOP/s | memory: GB/s), device, value, label."""
    roofs: dict[str, dict] = {}
    for raw in hw_configs:
        hw = parse_model(SystemConfig, raw, source="hw")
        cpu = hw.cpu
        roofs["cpu"] = dict(kind="compute", device="cpu", label="CPU",
                            value=cpu.cores * cpu.freq_ghz * 2 * cpu.simd_fp32_lanes * cpu.fma_units_per_core)
        roofs["dram"] = dict(kind="memory", device="dram", label="DRAM", value=hw.dram.peak_bandwidth_gbps)
        if hw.links is not None:
            roofs["links"] = dict(kind="memory", device="links", label="links",
                                  value=sum(ch.bandwidth_gbps for ch in hw.links.channels))
        acc = hw.accelerator
        if acc is not None and acc.dense_engine is not None:
            de = acc.dense_engine
            roofs["dense_engine"] = dict(kind="compute", device="dense_engine", label="dense engine",
                                         value=de.rows * de.cols * 2 * acc.clock_ghz)
        if acc is not None and acc.sparse_engine is not None:
            se = acc.sparse_engine
            roofs["sparse_engine"] = dict(kind="compute", device="sparse_engine", label="sparse engine",
                                          value=se.gather_units * se.reduce_lanes * acc.clock_ghz)
    return pd.DataFrame([{"name": k, **v} for k, v in roofs.items()])


def roofline_figure(points: pd.DataFrame, roofs: pd.DataFrame) -> Figure:
    """Log-log roofline: each device's roof is its memory roof (slanted, memory colour) up to the ridge, then its
    compute ceiling (flat, device colour). Hollow markers: CPU; filled: FPGA engines; marker shape: stage."""
    if points.empty or roofs.empty:
        raise InputError("roofline: needs points and roofs")
    missing = {"model", "batch_size", "mapping", "hw", "fidelity"} - set(points.columns)
    if missing:
        raise InputError(f"roofline: points need columns {', '.join(sorted(missing))}")
    oi = points["intensity_flop_per_byte"].to_numpy()
    memory = roofs[roofs["kind"] == "memory"].set_index("name")
    compute = roofs[roofs["kind"] == "compute"]
    x_lo, x_hi = oi.min() / 3, oi.max() * 3
    with style():
        fig = new_figure(3.4)
        ax = fig.subplots()
        ax.set_xscale("log")
        ax.set_yscale("log")
        ridge_of_memory: dict[str, float] = {}
        handles = []
        for _, c in compute.iterrows():
            colour = DEVICE_COLOURS.get(c["device"], "0.3")
            mem = DEVICE_MEMORY.get(c["device"])
            ridge = c["value"] / memory.loc[mem, "value"] if mem in memory.index else x_lo
            ridge_of_memory[mem] = max(ridge_of_memory.get(mem, 0.0), ridge)
            ax.plot([max(ridge, x_lo), x_hi], [c["value"], c["value"]], color=colour, linewidth=1.4, zorder=2)
            handles.append(Line2D([], [], color=colour, linewidth=1.4,
                                  label=f"{c['label']} peak {c['value']:.4g} GFLOP/s"))
        for name, m in memory.iterrows():
            colour = DEVICE_COLOURS.get(m["device"], "0.5")
            end = min(ridge_of_memory.get(name, x_hi), x_hi)
            ax.plot([x_lo, end], [m["value"] * x_lo, m["value"] * end], color=colour, linewidth=1.4, zorder=2)
            handles.append(Line2D([], [], color=colour, linewidth=1.4, label=f"{m['label']} {m['value']:.3g} GB/s"))
        for (device, stage), d in points.groupby(["device", "stage"], sort=False):
            colour = DEVICE_COLOURS.get(device, "0.3")
            ax.scatter(d["intensity_flop_per_byte"], d["gflops"], s=12, marker=STAGE_MARKERS.get(stage, "x"),
                       facecolors="none" if device == "cpu" else colour, edgecolors=colour, linewidths=0.7,
                       zorder=3, alpha=0.85)
        for stage in dict.fromkeys(points["stage"]):
            handles.append(Line2D([], [], marker=STAGE_MARKERS.get(stage, "x"), linestyle="", color="0.3",
                                  markersize=4, markerfacecolor="none", label=STAGE_LABELS.get(stage, stage)))
        top = max(compute["value"].max(), points["gflops"].max())
        bottom = min(points["gflops"].min(), memory["value"].min() * x_lo if len(memory) else top)
        ax.set_ylim(bottom / 2, top * 2)
        ax.set_xlim(x_lo, x_hi)
        ax.text(0.98, 0.03, "bytes: rows gathered; MLP weights + activations once\nper batch. Points above a roof "
                "reuse data kept\non chip (LLC, filter buffer) from batch to batch.", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=6, color="0.35")
        ax.set_xlabel("operational intensity (FLOP/byte)")
        ax.set_ylabel("achieved performance (GFLOP/s)")
        fig.legend(handles=handles, loc="outside upper center", ncol=2, handlelength=1.6, columnspacing=1.0)
        systems = ", ".join(f"{m} on {h}" for m, h in dict.fromkeys(zip(points["mapping"], points["hw"])))
        state(fig, hardware=systems, workload=workload_text(points), fidelity=distinct(points, "fidelity"))
    return fig
