"""`accelsim trace capture --module`, `accelsim run --trace` with the trace's own spec, `accelsim replay`."""

import json
import shutil

import pytest

from accelsim.cli import main
from accelsim.workload.trace import open_trace

FACTORY = '''
import torch
from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.workload.torch_model import build_torch_dlrm, generate_inputs, torch_bags

SPEC = parse_model(ModelSpec, dict(name="x", source="test", embedding_dim=8, interaction="cat",
                                   tables=[{"rows": 500, "lookups_per_sample": 4, "count": 3}],
                                   bottom_mlp=[6, 8], top_mlp=[8, 1]))


def make():
    model = build_torch_dlrm(SPEC, seed=2)
    sizes = (16, 16, 16, 5)  # a short last batch
    return model, [(torch.from_numpy(d), torch_bags(b))
                   for d, b in (generate_inputs(SPEC, n, 4, i) for i, n in enumerate(sizes))]
'''


@pytest.fixture
def captured(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cli_factory_mod.py").write_text(FACTORY)
    rc = main(["trace", "capture", "--module", "cli_factory_mod:make", "--with-weights", "--name", "mydlrm",
               "-o", "m.trace"])
    out = capsys.readouterr().out
    assert rc == 0 and "4 batches, 53 samples, 3 tables, workload spec mydlrm, weights" in out
    return tmp_path / "m.trace"


def test_capture_run_and_replay_a_users_module(captured, tmp_path, capsys):
    spec = open_trace(captured).meta.spec
    assert spec["interaction"] == "cat" and spec["bottom_mlp"] == [6, 8] and spec["top_mlp"] == [8, 1]
    assert main(["replay", str(captured), "--json", "-o", "r.parquet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 53 and report["batches"] == 4 and report["ctr_max_abs_diff_vs_captured"] < 1e-6
    assert (tmp_path / "r.parquet").is_file()
    assert main(["replay", str(captured), "-o", "r.parquet"]) == 0  # its own previous output is replaced
    (tmp_path / "mine.parquet").write_text("a user's file")
    capsys.readouterr()
    assert main(["replay", str(captured), "-o", "mine.parquet"]) == 2  # a user's file never is
    assert "--force" in capsys.readouterr().err and (tmp_path / "mine.parquet").read_text() == "a user's file"
    # run: the trace's own spec and batches, the short last batch included
    assert main(["run", "--hw", "broadwell_cpu_only", "--mapping", "cpu_only", "--trace", str(captured),
                 "--fidelity", "analytic", "--json", "-o", "res"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["workload"] == "mydlrm" and s["batches"] == 4 and s["samples"] == 53
    # re-batching to another size keeps every sample: 53 = 3 x 20 - 7
    assert main(["run", "--hw", "broadwell_cpu_only", "--mapping", "cpu_only", "--trace", str(captured),
                 "--batch-size", "20", "--fidelity", "analytic", "--json", "-o", "res20"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["batches"] == 3 and s["samples"] == 53


def test_run_checks_a_given_workload_against_the_traces_spec(captured, tmp_path, capsys):
    (tmp_path / "wrong.yaml").write_text("name: wrong\nsource: t\nembedding_dim: 16\ninteraction: dot\n"
                                         "tables: [{rows: 500, lookups_per_sample: 4, count: 3}]\n"
                                         "bottom_mlp: [6, 16]\ntop_mlp: [8, 1]\n")
    rc = main(["run", "--hw", "broadwell_cpu_only", "--mapping", "cpu_only", "--trace", str(captured),
               "--workload", "wrong.yaml", "--fidelity", "analytic", "-o", "res"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "workload wrong is not the model this trace was made with (mydlrm)" in err
    assert "embedding_dim: trace 8, workload 16" in err and "interaction: trace 'cat', workload 'dot'" in err
    assert not (tmp_path / "res").exists()


def test_capture_module_errors_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cli_bad_factory.py").write_text("def make():\n    return 3\n")
    for argv, needle in [(["--module", "nowhere_mod:make"], "cannot import nowhere_mod"),
                         (["--module", "cli_bad_factory"], "expected PKG.MOD:FACTORY"),
                         (["--module", "cli_bad_factory:make"], "must return (model, inputs)"),
                         (["--module", "cli_bad_factory:make", "--batch-size", "3"], "apply to --workload")]:
        assert main(["trace", "capture", *argv, "-o", "x.trace"]) == 2
        assert needle in capsys.readouterr().err
    assert not (tmp_path / "x.trace").exists()


def test_run_of_a_trace_without_a_spec_needs_a_workload(tmp_path, capsys):
    import numpy as np

    from accelsim.workload.trace import Batch, TableBags, TraceWriter

    with TraceWriter(tmp_path / "n.trace", source="test", table_rows=[10]) as w:
        w.write(Batch((TableBags(np.array([1, 2]), np.array([0, 1, 2])),)))
    rc = main(["run", "--hw", "broadwell_cpu_only", "--mapping", "cpu_only", "--trace", str(tmp_path / "n.trace"),
               "-o", str(tmp_path / "res")])
    assert rc == 2 and "the trace stores no workload spec" in capsys.readouterr().err
    assert main(["run", "--hw", "broadwell_cpu_only", "--mapping", "cpu_only", "-o", str(tmp_path / "r")]) == 2
    assert "give --workload, or --trace" in capsys.readouterr().err


def test_simulate_with_the_captured_weights_reports_the_difference(captured, tmp_path):
    import accelsim

    r = accelsim.simulate(hw="broadwell_cpu_only", mapping="cpu_only", trace=str(captured), fidelity="analytic",
                          weights=captured / "weights")
    assert r.summary["samples"] == 53 and r.summary["ctr_max_abs_diff_vs_captured"] < 1e-6
    assert r.config["trace"]["weights"] == str(captured / "weights")
    own = accelsim.simulate(hw="broadwell_cpu_only", mapping="cpu_only", trace=str(captured), fidelity="analytic")
    assert own.config["trace"]["weights"] == str(captured / "weights")  # the trace's own, by default
    assert own.summary["ctr_max_abs_diff_vs_captured"] == r.summary["ctr_max_abs_diff_vs_captured"]
    shutil.copytree(captured, tmp_path / "bare.trace", ignore=shutil.ignore_patterns("weights"))
    bare = accelsim.simulate(hw="broadwell_cpu_only", mapping="cpu_only", trace=str(tmp_path / "bare.trace"),
                             fidelity="analytic")
    assert bare.config["trace"]["weights"] is None
    assert bare.summary["ctr_max_abs_diff_vs_captured"] > 1e-3  # generated weights: another model
