"""`accelsim figures` and make_figures: every figure as PDF + PNG, a stored sweep for the heatmap, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

import pandas as pd

from accelsim.atomic import MARKER
from accelsim.cli import build_parser, main
from accelsim.figures import FIGURE_NAMES, heatmap_figure, make_figures, run_builtin_sweep
from accelsim.figures.runs import TRACES_DIR
from accelsim.figures.style import stated
from accelsim.sweep import InProcessExecutor, run_sweep


def _assert_written(out: Path) -> None:
    for name in FIGURE_NAMES:
        assert (out / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        assert (out / f"{name}.csv").stat().st_size > 0
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != MARKER]  # no temporaries left


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    """A 2 x 2 analytic sweep on RM1 at batch 1: dense-engine clock x gather units."""
    out = tmp_path_factory.mktemp("sweep") / "store"
    spec = {"name": "tiny", "base": {"hw": "harpv2_centaur", "workload": "rm1", "mapping": "centaur",
                                     "batch_size": 1, "fidelity": "analytic", "functional": False,
                                     "trace": {"path": str(TRACES_DIR / "rm1.trace")}},
            "axes": [{"grid": {"hw.accelerator.clock_ghz": [0.2, 0.4],
                               "hw.accelerator.sparse_engine.gather_units": [4, 8]}}]}
    run_sweep(spec, out, InProcessExecutor())
    return out


def test_cli_writes_every_figure_from_a_stored_sweep(tmp_path, tiny_sweep, capsys):
    out = tmp_path / "figs"
    rc = main(["figures", "--sweep", str(tiny_sweep), "--models", "rm1", "--batch-sizes", "1,4",
               "--store", str(tmp_path / "store"), "-o", str(out)])
    assert rc == 0
    _assert_written(out)
    cells = (out / "d_sweep_heatmap.csv").read_text().splitlines()
    assert len(cells) == 1 + 4  # header + the 2 x 2 sweep
    assert f"6 figures written to {out}" in capsys.readouterr().out
    # Without --fidelity the figures use `accelsim main`'s fidelity, and say so.
    assert build_parser().parse_args(["figures"]).fidelity == build_parser().parse_args(["main"]).fidelity
    for name in ("a_latency_breakdown", "b_embedding_bandwidth", "c_speedup_energy", "e_roofline"):
        table = pd.read_csv(out / f"{name}.csv")
        assert set(table["fidelity"]) == {"detailed"}, name


def test_make_figures_returns_the_figures_it_wrote(tmp_path, tiny_sweep):
    figs = make_figures(tmp_path, sweep_dir=tiny_sweep, fidelity="analytic", models=["rm2"], batch_sizes=[2])
    assert list(figs) == list(FIGURE_NAMES)
    assert figs["d_sweep_heatmap"].axes[0].images[0].get_array().shape == (2, 2)
    assert "RM2" in figs["a_latency_breakdown"].axes[0].texts[0].get_text()
    _assert_written(tmp_path)


def test_builtin_sweep_covers_its_grid():
    data = run_builtin_sweep("analytic")
    arr = heatmap_figure(data).axes[0].images[0].get_array()
    assert arr.shape == (5, 4)  # gather units x link bandwidth scales
    assert arr.mask[-1].all() and not arr.mask[:-1].any()  # 32 gather units do not fit next to the PE array
    assert "×" in data.value_label and "GB/s" in data.x_label
    about = stated(heatmap_figure(data))
    assert "harpv2_centaur" in about["hardware"] and "RM1" in about["workload"] and about["fidelity"] == "analytic"


@pytest.mark.parametrize("make_bad", [
    lambda tmp: tmp / "missing",                                   # no such directory
    lambda tmp: tmp,                                               # a directory, but not a results store
])
def test_cli_bad_sweep_dir_exits_2_before_simulating(tmp_path, capsys, make_bad):
    out = tmp_path / "figs"
    assert main(["figures", "--sweep", str(make_bad(tmp_path)), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("accelsim: error:") and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_one_axis_sweep_exits_2(tmp_path, capsys):
    store = tmp_path / "store"
    run_sweep({"name": "one", "base": {"hw": "harpv2_centaur", "workload": "rm1", "mapping": "centaur",
                                       "batch_size": 1, "fidelity": "analytic", "functional": False,
                                       "trace": {"path": str(TRACES_DIR / "rm1.trace")}},
               "axes": [{"grid": {"hw.accelerator.sparse_engine.gather_units": [4, 8]}}]}, store, InProcessExecutor())
    assert main(["figures", "--sweep", str(store), "-o", str(tmp_path / "figs")]) == 2
    assert "two axes" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--batch-sizes", "1,x"], ["--batch-sizes", "0"], ["--models", "rm9"],
                                  ["--models", ","]])
def test_cli_bad_arguments_exit_2(tmp_path, capsys, args):
    assert main(["figures", *args, "-o", str(tmp_path / "figs")]) == 2
    assert capsys.readouterr().err.startswith("accelsim: error:")


def test_cli_label_override_and_bad_label(tmp_path, tiny_sweep, capsys):
    out = tmp_path / "figs"
    assert main(["figures", "--sweep", str(tiny_sweep), "--models", "rm1", "--batch-sizes", "1", "--fidelity",
                 "analytic", "--label", "hw.accelerator.clock_ghz=FPGA fabric clock (GHz)",
                 "--store", str(tmp_path / "store"), "-o", str(out)]) == 0
    fig_d = make_figures(tmp_path / "again", sweep_dir=tiny_sweep, fidelity="analytic", models=["rm1"],
                         batch_sizes=[1], labels={"hw.accelerator.clock_ghz": "FPGA fabric clock (GHz)"})
    assert "FPGA fabric clock (GHz)" in {fig_d["d_sweep_heatmap"].axes[0].get_xlabel(),
                                         fig_d["d_sweep_heatmap"].axes[0].get_ylabel()}
    capsys.readouterr()
    assert main(["figures", "--label", "no-equals", "-o", str(tmp_path / "x")]) == 2
    assert "--label: expected PATH=WORDS" in capsys.readouterr().err
