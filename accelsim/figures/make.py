"""make_figures: run what every figure needs and write each as PDF + PNG with the CSV behind it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

from matplotlib.figure import Figure

from accelsim.atomic import atomic_path
from accelsim.errors import InputError
from accelsim.figures.bandwidth import bandwidth_figure
from accelsim.figures.breakdown import breakdown_figure
from accelsim.figures.dram_curves import dram_curve_data, dram_curves_figure
from accelsim.figures.heatmap import HeatmapData, heatmap_figure, run_builtin_sweep, sweep_heatmap_data
from accelsim.figures.roofline import device_roofs, roofline_figure, roofline_points
from accelsim.figures.runs import (BATCH_SIZES, MODELS, bandwidth_table, breakdown_table, run_grid,
                                   speedup_table, summary_table)
from accelsim.figures.serving import qps_at_sla_figure, serving_latency_figure, serving_table, sla_table
from accelsim.figures.speedup import speedup_figure
from accelsim.figures.style import save_figure

FIGURE_NAMES: tuple[str, ...] = ("a_latency_breakdown", "b_embedding_bandwidth", "c_speedup_energy",
                                 "d_sweep_heatmap", "e_roofline", "f_dram_bandwidth_latency")
SERVING_FIGURE_NAMES: tuple[str, ...] = ("g_serving_p99_vs_qps", "h_qps_at_sla")  # with serving=True


def make_figures(out_dir: str | Path, sweep_dir: str | Path | None = None, *, fidelity: str,
                 models: Sequence[str] = MODELS, batch_sizes: Sequence[int] = BATCH_SIZES,
                 labels: dict[str, str] | None = None,
                 log: Callable[[str], None] | None = None, serving: bool = False,
                 grid: Callable[[Sequence[str], Sequence[int], str], list] = run_grid) -> dict[str, Figure]:
    """Run the simulations every figure needs, write each as PDF + PNG (and its data as CSV) into `out_dir`.

    `fidelity` applies to every simulation (the CLI defaults it to `accelsim main`'s); `labels` overrides the
    heatmap's axis words ({config path: words with unit}, see style.AXIS_LABELS); `serving` adds (g) and (h).
    `grid(models, batch_sizes, fidelity)` gives the CPU-only and Centaur Results (the CLI reads them from
    `accelsim main`'s store).
    """
    if fidelity not in ("analytic", "detailed"):
        raise InputError(f"fidelity: expected analytic or detailed, got {fidelity!r}")
    say = log or (lambda _msg: None)
    # Read a given sweep first, so that a bad directory fails before any simulation runs.
    sweep = sweep_heatmap_data(_load_sweep(sweep_dir), labels=labels) if sweep_dir is not None else None
    t0 = time.perf_counter()
    results = grid(models, batch_sizes, fidelity)
    say(f"CPU-only and Centaur runs: {len(results)} points, {time.perf_counter() - t0:.1f} s")
    roofs = device_roofs([r.config["hw"] for r in results])
    points = roofline_points(results)
    t1 = time.perf_counter()
    if sweep is None:
        sweep = run_builtin_sweep(fidelity)
        say(f"built-in sweep: {len(sweep.cells)} points, {time.perf_counter() - t1:.1f} s")
    t2 = time.perf_counter()
    dram = dram_curve_data(fidelity=fidelity)
    say(f"DRAM curves: {len(dram)} points, {time.perf_counter() - t2:.1f} s")
    data = {
        "a_latency_breakdown": breakdown_table(results),
        "b_embedding_bandwidth": bandwidth_table(results),
        "c_speedup_energy": speedup_table(results),
        "d_sweep_heatmap": sweep.cells,
        "e_roofline": points,
        "f_dram_bandwidth_latency": dram,
    }
    figures = {
        "a_latency_breakdown": breakdown_figure(data["a_latency_breakdown"]),
        "b_embedding_bandwidth": bandwidth_figure(data["b_embedding_bandwidth"], roofs),
        "c_speedup_energy": speedup_figure(data["c_speedup_energy"]),
        "d_sweep_heatmap": heatmap_figure(sweep),
        "e_roofline": roofline_figure(points, roofs),
        "f_dram_bandwidth_latency": dram_curves_figure(dram),
    }
    if serving:  # query streams at many loads: about a minute per model in analytic fidelity
        t3 = time.perf_counter()
        data["g_serving_p99_vs_qps"] = serving_table(models, fidelity)
        data["h_qps_at_sla"] = sla_table(models, fidelity)
        figures["g_serving_p99_vs_qps"] = serving_latency_figure(data["g_serving_p99_vs_qps"])
        figures["h_qps_at_sla"] = qps_at_sla_figure(data["h_qps_at_sla"])
        say(f"serving runs: {len(data['g_serving_p99_vs_qps'])} loads + QPS-at-SLA searches, "
            f"{time.perf_counter() - t3:.1f} s")
    out_dir = Path(out_dir)
    for name, fig in figures.items():
        save_figure(fig, out_dir, name)
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            data[name].to_csv(tmp, index=False)
    return figures


def _load_sweep(sweep_dir: str | Path):
    from accelsim.sweep import load_results
    path = Path(sweep_dir)
    if not path.is_dir():
        raise InputError("--sweep: not a directory", source=str(path))
    return load_results(path)
