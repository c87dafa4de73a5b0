"""Each figure from small inputs: axes, series, labels and values read back from the matplotlib objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from accelsim.errors import InputError
from accelsim.figures import (HeatmapData, bandwidth_figure, bandwidth_table, breakdown_figure, breakdown_table,
                              device_roofs, dram_curve_data, dram_curves_figure, heatmap_figure, roofline_figure,
                              roofline_points, run_grid, speedup_figure, speedup_table, sweep_heatmap_data)
from accelsim.figures.roofline import STAGE_LABELS

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
    df = pd.DataFrame([{"model": m, "batch_size": b, "part": p, "time_us": 1.0}
                       for m in ("rm1", "rm3") for b in (1, 2, 4) for p in ("embedding", "MLP", "other")])
    fig = breakdown_figure(df)
    assert len(fig.axes) == 2
    assert all(len(ax.containers) == 3 and len(ax.containers[0]) == 3 for ax in fig.axes)


def test_bandwidth_lines_per_model_and_device(results, roofs):
    df = bandwidth_table(results)
    assert set(df["device"]) == {"cpu", "sparse_engine"}
    fig = bandwidth_figure(df)
    (ax,) = fig.axes
    assert len(ax.lines) == 2  # 1 model x 2 devices
    assert "GB/s" in ax.get_ylabel()
    assert {"CPU", "FPGA sparse engine", "RM1"} <= set(_legend_texts(fig))
    cpu_line = next(line for line in ax.lines if line.get_label().startswith("CPU"))
    np.testing.assert_allclose(cpu_line.get_ydata(), df[df["device"] == "cpu"]["bandwidth_gbps"])
    with_roofs = bandwidth_figure(df, roofs)
    assert len(with_roofs.axes[0].lines) == 2 + int((roofs["kind"] == "memory").sum())


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
    combos.attrs["param_columns"] = cols
    return combos


def test_heatmap_grid_shape_labels_and_failed_cells():
    df = _sweep_table({"hw.links.channels.0.bandwidth_gbps": [12.8, 25.6],
                       "hw.accelerator.sparse_engine.gather_units": [4, 8, 16]}, failed={5})
    data = sweep_heatmap_data(df)
    assert data.y_label.replace("\n", "") == "links.channels.0.bandwidth (GB/s)"  # wrapped: too long
    assert data.x_label == "sparse_engine.gather_units" and data.value_label == "latency (µs)"
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
    assert data.y_label == "a.x (GB/s) (+1 zipped)" and data.x_label == "b"
    assert data.title == "at c = 0" and len(data.cells) == 6
    assert heatmap_figure(data).axes[0].images[0].get_array().shape == (2, 3)


def test_heatmap_needs_two_axes():
    with pytest.raises(InputError, match="two axes"):
        sweep_heatmap_data(_sweep_table({"b": [1, 2, 3]}))


def test_heatmap_rejects_empty_cells():
    with pytest.raises(InputError):
        heatmap_figure(HeatmapData(pd.DataFrame(columns=["x", "y", "value"]), "x", "y", "v"))


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
    assert df["delivered_gbps"].iloc[0] == pytest.approx(df["offered_gbps"].iloc[0], rel=0.1)
    lat = df["read_latency_avg_ns"].to_numpy()
    assert lat[-1] > 1.3 * lat[0]  # queueing near the peak
    assert df["peak_gbps"].iloc[0] == pytest.approx(76.8, rel=1e-3)
    fig = dram_curves_figure(df)
    (ax,) = fig.axes
    assert len(ax.lines) == 1 and len(ax.lines[0].get_xdata()) == 3
    assert "GB/s" in ax.get_xlabel() and "ns" in ax.get_ylabel() and ax.get_yscale() == "log"
    assert any("DDR4-2400" in t for t in _legend_texts(fig))


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
