"""Paper figures, regenerated from the raw configs: each figure is a function of a DataFrame returning a Figure.

(a) breakdown_figure      CPU-only latency breakdown per model and batch size
(b) bandwidth_figure      effective embedding bandwidth, CPU vs FPGA sparse engine
(c) speedup_figure        Centaur speed-up and energy efficiency over CPU-only
(d) heatmap_figure        two axes of a design sweep
(e) roofline_figure       every stage on every device against the machines' ceilings
(f) dram_curves_figure    DRAM bandwidth-latency under offered load, random and sequential reads
(g) serving_latency_figure  p99 latency vs offered QPS, CPU-only vs Centaur (accelsim.figures.serving)
(h) qps_at_sla_figure     QPS at a p99 SLA per system
(i) compression_figure    table memory vs latency and energy per compression scheme (accelsim.figures.compression)
`make_figures` runs what they need and writes each as PDF and PNG; every figure states the hardware, workload
and fidelity it shows (style.state), in one palette (style.DEVICE_COLOURS, style.DRAM_STANDARD_COLOURS).
"""

from __future__ import annotations

import importlib

# Names exported here, by the module that defines them. They load on first use (PEP 562), so a command that
# only needs a table (`accelsim main` reads accelsim.figures.runs) does not import matplotlib.
_EXPORTS = {
    "make": ("FIGURE_NAMES", "SERVING_FIGURE_NAMES", "make_figures"),
    "bandwidth": ("bandwidth_figure",), "breakdown": ("breakdown_figure",),
    "dram_curves": ("dram_curve_data", "dram_curves_figure"),
    "heatmap": ("HeatmapData", "heatmap_figure", "run_builtin_sweep", "sweep_heatmap_data"),
    "roofline": ("device_roofs", "roofline_figure", "roofline_points"),
    "runs": ("bandwidth_table", "breakdown_table", "run_grid", "speedup_table", "summary_table"),
    "serving": ("qps_at_sla_figure", "serving_latency_figure", "serving_table", "sla_table"),
    "speedup": ("speedup_figure",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    """Import the module that defines `name` when it is first asked for."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
