"""Each figure from small inputs: axes, series, labels and values read back from the matplotlib objects."""

from __future__ import annotations

import matplotlib.colors
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from accelsim.errors import InputError
from accelsim.figures import (HeatmapData, bandwidth_figure, bandwidth_table, breakdown_figure, breakdown_table,
                              device_roofs, dram_curve_data, dram_curves_figure, heatmap_figure, roofline_figure,
                              roofline_points, run_grid, speedup_figure, speedup_table, sweep_heatmap_data)
from accelsim.figures.roofline import STAGE_LABELS
from accelsim.figures.style import (AXIS_LABELS, DEVICE_COLOURS, DRAM_STANDARD_COLOURS, axis_label, dram_colour,
                                    stated)

BATCHES = [1, 8]


@pytest.fixture(scope="module")
def results():
    return run_grid(["rm1"], BATCHES, "analytic")


@pytest.fixture(scope="module")
def roofs(results):
    return device_roofs([r.config["hw"] for r in results])


def _legend_texts(fig) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


def test_breakdown_bars_stack_the_table(results):
    df = breakdown_table(results)
    assert set(df["part"]) == {"embedding", "MLP", "other"}
    fig = breakdown_figure(df)
    (ax,) = fig.axes
    assert "µs" in ax.get_ylabel() and "batch size" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "8"]
    assert len(ax.containers) == 3 and all(len(c) == len(BATCHES) for c in ax.containers)
    tops = np.array([[bar.get_y() + bar.get_height() for bar in c] for c in ax.containers])
    totals = df.groupby("batch_size")["time_us"].sum().to_numpy()
    np.testing.assert_allclose(tops[-1], totals)
    assert any("embedding" in t for t in _legend_texts(fig)) and any("MLP" in t for t in _legend_texts(fig))
    # CPU-only runs one stage after another: the parts add up to the batch latency.
    cpu = {r.summary["batch_size"]: r.summary["latency_ns"] / 1e3
           for r in results if r.summary["mapping"] == "cpu_only"}
    np.testing.assert_allclose(totals, [cpu[b] for b in BATCHES], rtol=1e-9)


def test_breakdown_one_panel_per_model():
    df = pd.DataFrame([{"model": m, "batch_size": b, "part": p, "time_us": 1.0, "hw": "x", "fidelity": "analytic"}
                       for m in ("rm1", "rm3") for b in (1, 2, 4) for p in ("embedding", "MLP", "other")])
    fig = breakdown_figure(df)
    assert len(fig.axes) == 2
    assert all(len(ax.containers) == 3 and len(ax.containers[0]) == 3 for ax in fig.axes)


def test_bandwidth_lines_per_model_and_device(results, roofs):
    df = bandwidth_table(results)
    assert set(df["device"]) == {"cpu", "sparse_engine"}
    np.testing.assert_allclose(df["dram_gbps"] + df["cache_gbps"], df["bandwidth_gbps"])
    assert (df["dram_gbps"] > 0).all() and (df["cache_gbps"] >= 0).all()
    fig = bandwidth_figure(df)
    dram_ax, cache_ax = fig.axes
    assert len(dram_ax.lines) == len(cache_ax.lines) == 2  # 1 model x 2 devices
    assert "DRAM" in dram_ax.get_ylabel() and "cache" in cache_ax.get_ylabel() and "GB/s" in dram_ax.get_ylabel()
    assert {"CPU", "FPGA sparse engine", "RM1"} <= set(_legend_texts(fig))
    for ax, col in ((dram_ax, "dram_gbps"), (cache_ax, "cache_gbps")):
        cpu_line = next(line for line in ax.lines if line.get_label().startswith("CPU"))
        np.testing.assert_allclose(cpu_line.get_ydata(), df[df["device"] == "cpu"][col])
    with_roofs = bandwidth_figure(df, roofs)
    memory = roofs[roofs["kind"] == "memory"]
    # The peaks bound the DRAM-served panel only; cache hits are drawn apart from them.
    assert len(with_roofs.axes[0].lines) == 2 + len(memory) and len(with_roofs.axes[1].lines) == 2
    assert (df["dram_gbps"] <= memory["value"].max() * 1.01).all()


def test_speedup_two_panels_with_paper_band(results):
    df = speedup_table(results)
    s = {(r.summary["mapping"], r.summary["batch_size"]): r.summary for r in results}
    np.testing.assert_allclose(df["speedup"], [s["cpu_only", b]["latency_ns"] / s["centaur", b]["latency_ns"]
                                               for b in BATCHES])
    fig = speedup_figure(df)
    assert len(fig.axes) == 2
    for ax, (lo, hi) in zip(fig.axes, [(1.7, 17.2), (1.7, 19.5)]):
        assert "×" in ax.get_ylabel() and ax.get_yscale() == "log"
        data_lines = [line for line in ax.lines if not line.get_label().startswith("_")]
        assert [line.get_label() for line in data_lines] == ["RM1"]  # one line per model
        (band,) = ax.patches
        assert band.get_y() == pytest.approx(lo) and band.get_y() + band.get_height() == pytest.approx(hi)
    assert "RM1" in _legend_texts(fig)


def _sweep_table(grid: dict[str, list], failed: set = frozenset()) -> pd.DataFrame:
    """A results table as load_results returns it, over the full grid of `grid` (first key slowest)."""
    cols = list(grid)
    combos = pd.MultiIndex.from_product(grid.values(), names=cols).to_frame(index=False)
    combos["status"] = ["error" if i in failed else "ok" for i in range(len(combos))]
    combos["error_type"] = ["ResourceOverflow" if i in failed else None for i in range(len(combos))]
    combos["latency_ns"] = [np.nan if i in failed else 1000.0 * (i + 1) for i in range(len(combos))]
    combos = combos.assign(hw="harpv2_centaur", mapping="centaur", workload="rm1", batch_size=4, fidelity="analytic")
    combos.attrs["param_columns"] = cols
    return combos


def test_heatmap_grid_shape_labels_and_failed_cells():
    df = _sweep_table({"hw.links.channels.0.bandwidth_gbps": [12.8, 25.6],
                       "hw.accelerator.sparse_engine.gather_units": [4, 8, 16]}, failed={5})
    data = sweep_heatmap_data(df)
    assert data.y_label == AXIS_LABELS["hw.links.channels.*.bandwidth_gbps"]  # words with a unit, not the path
    assert data.x_label == "gather units (sparse engine)" and data.value_label == "latency (µs)"
    over = sweep_heatmap_data(df, labels={"hw.accelerator.sparse_engine.gather_units": "EB-Streamer units"})
    assert over.x_label == "EB-Streamer units" and over.y_label == data.y_label
    fig = heatmap_figure(data)
    ax, cbar_ax = fig.axes
    arr = ax.images[0].get_array()
    assert arr.shape == (2, 3)
    assert arr.mask[1, 2] and arr.mask.sum() == 1
    assert arr[0, 0] == pytest.approx(1.0) and arr[1, 1] == pytest.approx(5.0)  # ns -> µs
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4", "8", "16"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["12.8", "25.6"]
    assert "µs" in cbar_ax.get_ylabel()
    assert any("does not" in t.get_text() for t in ax.texts)


def test_heatmap_zip_axis_is_one_axis_and_extra_axes_are_fixed():
    df = _sweep_table({"a.x_gbps": [1.0, 2.0], "b": [1, 2, 3], "c": [0, 1]})
    df["a.y_gbps"] = df["a.x_gbps"] * 10  # walked together with a.x_gbps (a zip axis)
    df.attrs["param_columns"] = ["a.x_gbps", "a.y_gbps", "b", "c"]
    data = sweep_heatmap_data(df)
    assert data.y_label == "a x (GB/s) (+1 zipped)" and data.x_label == "b"
    assert data.title == "at c = 0" and len(data.cells) == 6
    assert heatmap_figure(data).axes[0].images[0].get_array().shape == (2, 3)


def test_heatmap_needs_two_axes():
    with pytest.raises(InputError, match="two axes"):
        sweep_heatmap_data(_sweep_table({"b": [1, 2, 3]}))


def test_heatmap_rejects_empty_cells():
    with pytest.raises(InputError):
        heatmap_figure(HeatmapData(pd.DataFrame(columns=["x", "y", "value"]), "x", "y", "v"))


def test_heatmap_refuses_to_draw_without_saying_what_it_shows():
    cells = pd.DataFrame({"x": ["1"], "y": ["2"], "value": [3.0]})
    with pytest.raises(InputError, match="hardware, workload and fidelity"):
        heatmap_figure(HeatmapData(cells, "x", "y", "v"))


def test_roofline_ceilings_points_and_labels(results, roofs):
    r = roofs.set_index("name")["value"]
    assert r["cpu"] == pytest.approx(14 * 2.4 * 2 * 8 * 2)  # cores x GHz x 2 x SIMD lanes x FMA units
    assert r["dense_engine"] == pytest.approx(32 * 32 * 2 * 0.2)
    assert r["sparse_engine"] == pytest.approx(16 * 16 * 0.2)
    assert r["dram"] == pytest.approx(4 * 19.2, rel=1e-3)
    assert r["links"] == pytest.approx(12.8 + 2 * 7.88)
    pts = roofline_points(results)
    emb = pts[pts["stage"] == "embedding"]
    np.testing.assert_allclose(emb["intensity_flop_per_byte"], 0.25)  # one FP32 add per 4-byte element
    assert set(pts["device"]) == {"cpu", "sparse_engine", "dense_engine"}
    np.testing.assert_allclose(pts["gflops"], pts["flops"] / pts["time_ns"])
    fig = roofline_figure(pts, roofs)
    (ax,) = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "FLOP/byte" in ax.get_xlabel() and "GFLOP/s" in ax.get_ylabel()
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == pts.groupby(["device", "stage"]).ngroups
    assert sum(len(c.get_offsets()) for c in scatters) == len(pts)
    texts = _legend_texts(fig)
    assert any("GB/s" in t and "DRAM" in t for t in texts) and any("GFLOP/s" in t and "CPU" in t for t in texts)
    assert {STAGE_LABELS[s] for s in pts["stage"]} <= set(texts)


def test_dram_curves_deliver_the_offered_load_at_low_load_and_queue_near_peak():
    df = dram_curve_data([("ddr4_2400", 4)], loads=[0.1, 0.5, 0.95], requests=4000)
    rnd, seq = df[df["pattern"] == "random"], df[df["pattern"] == "sequential"]
    assert rnd["delivered_gbps"].iloc[0] == pytest.approx(rnd["offered_gbps"].iloc[0], rel=0.1)
    lat = rnd["read_latency_avg_ns"].to_numpy()
    assert lat[-1] > 1.3 * lat[0]  # queueing near the peak
    assert df["peak_gbps"].iloc[0] == pytest.approx(76.8, rel=1e-3)
    # Consecutive lines hit open rows: lower latency than random reads at the same offered load.
    assert (seq["read_latency_avg_ns"].to_numpy() < rnd["read_latency_avg_ns"].to_numpy()).all()
    fig = dram_curves_figure(df)
    (ax,) = fig.axes
    assert len(ax.lines) == 2 and all(len(line.get_xdata()) == 3 for line in ax.lines)
    assert "GB/s" in ax.get_xlabel() and "ns" in ax.get_ylabel() and ax.get_yscale() == "log"
    texts = _legend_texts(fig)
    assert any("DDR4-2400" in t for t in texts) and any("random 64 B" in t for t in texts)
    assert any("sequential" in t for t in texts)
    about = stated(fig)
    assert "ddr4_2400" in about["hardware"] and "random" in about["workload"] and "sequential" in about["workload"]
    assert about["fidelity"].startswith("detailed")


def test_dram_curves_same_seed_same_data():
    a = dram_curve_data([("ddr4_2400", 1)], loads=[0.5], requests=500, seed=3)
    b = dram_curve_data([("ddr4_2400", 1)], loads=[0.5], requests=500, seed=3)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("func", [breakdown_figure, bandwidth_figure, speedup_figure, dram_curves_figure])
def test_figures_reject_tables_without_their_columns(func):
    with pytest.raises(InputError):
        func(pd.DataFrame({"model": ["rm1"]}))


def test_roofline_intensity_does_not_depend_on_how_many_batches_ran():
    from accelsim import simulate
    runs = [simulate("harpv2_centaur", "rm1", "centaur", 4, batches=n, fidelity="analytic", functional=False)
            for n in (1, 3)]
    one, three = (roofline_points([r]).set_index(["stage", "device"]) for r in runs)
    np.testing.assert_allclose(three["intensity_flop_per_byte"], one.loc[three.index, "intensity_flop_per_byte"])
    np.testing.assert_allclose(three["flops"], 3 * one.loc[three.index, "flops"])


# --- what every figure states, and one palette across them -------------------------------------------------------

def _all_figures(results, roofs):
    return {"a": breakdown_figure(breakdown_table(results)), "b": bandwidth_figure(bandwidth_table(results), roofs),
            "c": speedup_figure(speedup_table(results)),
            "e": roofline_figure(roofline_points(results), roofs),
            "f": dram_curves_figure(dram_curve_data([("ddr4_2400", 1), ("hbm2", 2)], loads=[0.2], requests=300,
                                                    fidelity="analytic"))}


def test_every_figure_states_hardware_workload_and_fidelity(results, roofs):
    for name, fig in _all_figures(results, roofs).items():
        about = stated(fig)
        assert set(about) == {"hardware", "workload", "fidelity"}, name
        assert about["fidelity"].startswith("analytic"), name  # the fidelity the runs used
        if name != "f":
            assert "harpv2_centaur" in about["hardware"] or "broadwell_cpu_only" in about["hardware"], name
            assert "RM1" in about["workload"] and "batch 1–8" in about["workload"], name
    assert "broadwell_cpu_only" in stated(_all_figures(results, roofs)["c"])["hardware"]


def test_detailed_runs_say_detailed(roofs):
    detailed = run_grid(["rm1"], [2], "detailed")
    for fig in (breakdown_figure(breakdown_table(detailed)), speedup_figure(speedup_table(detailed)),
                bandwidth_figure(bandwidth_table(detailed), roofs)):
        assert stated(fig)["fidelity"] == "detailed"


def _data_lines(fig):
    return [line for ax in fig.axes for line in ax.lines if not line.get_label().startswith("_")]


def test_series_differ_without_colour(results, roofs):
    # Greyscale or colour-blind: every series of a panel differs in marker, line style or fill, not only colour.
    for name, fig in _all_figures(results, roofs).items():
        for ax in fig.axes:
            lines = [line for line in ax.lines if not line.get_label().startswith("_")]
            looks = {(line.get_marker(), str(line.get_linestyle()), str(line.get_markerfacecolor()) == "white")
                     for line in lines}
            assert len(looks) == len(lines), name


def test_one_colour_per_device_and_per_dram_standard(results, roofs):
    okabe_ito = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}
    assert set(DEVICE_COLOURS.values()) | set(DRAM_STANDARD_COLOURS.values()) <= okabe_ito
    assert len(set(DRAM_STANDARD_COLOURS.values())) == len(DRAM_STANDARD_COLOURS)
    assert dram_colour("DDR4-2400") == dram_colour("DDR4-3200") == DEVICE_COLOURS["dram"]
    assert dram_colour("DDR5-4800") != dram_colour("HBM2") and dram_colour("HBM2") not in DEVICE_COLOURS.values()
    figs = _all_figures(results, roofs)
    to_hex = lambda c: matplotlib.colors.to_hex(c).upper()  # noqa: E731
    cpu_lines = [line for line in _data_lines(figs["b"]) if line.get_label().startswith("CPU")]
    assert {to_hex(line.get_color()) for line in cpu_lines} == {DEVICE_COLOURS["cpu"]}
    assert to_hex(figs["a"].axes[0].containers[0][0].get_facecolor()) == DEVICE_COLOURS["cpu"]
    fpga = [line for line in _data_lines(figs["c"])]
    assert {to_hex(line.get_color()) for line in fpga} == {DEVICE_COLOURS["sparse_engine"]}
    hbm = [line for line in _data_lines(figs["f"]) if line.get_label().startswith("hbm2")]
    assert {to_hex(line.get_color()) for line in hbm} == {DRAM_STANDARD_COLOURS["HBM2"]}


def test_axis_labels_are_words_with_units():
    assert axis_label("hw.links.channels.1.bandwidth_gbps") == "CPU–FPGA link bandwidth (GB/s)"
    assert axis_label("hw.dram.tck_ns") == "dram tck (ns)"  # unknown paths: last names, unit in brackets
    assert axis_label("hw.dram.tck_ns", {"hw.dram.tck_ns": "DRAM clock period (ns)"}) == "DRAM clock period (ns)"
