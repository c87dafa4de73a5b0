import json

import pandas as pd
import pytest

from accelsim.cli import main
from accelsim.results import Result
from accelsim.sim.api import resolve_point, run_point

SMALL = """name: small
source: test
embedding_dim: 16
interaction: cat
tables:
  - {rows: 100000, lookups_per_sample: 6, count: 2}
bottom_mlp: [8, 16]
top_mlp: [8, 1]
"""


def workload(tmp_path):
    p = tmp_path / "small.yaml"
    p.write_text(SMALL)
    return str(p)


def test_run_prints_breakdown_and_writes_results(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["run", "--hw", "harpv2_centaur", "--workload", workload(tmp_path), "--mapping", "centaur",
               "--batch-size", "4", "-o", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "embedding" in text and "gather" in text and "sparse_engine" in text
    assert "samples/s" in text and "uJ/inference" in text and "FPGA resources: dsp" in text
    res = Result.load(out)
    assert {"stage", "device", "duration_ns"} <= set(res.stages.columns)
    assert len(res.outputs) == 4 and res.outputs["ctr"].between(0, 1).all()
    # The saved config alone reproduces the run, bit for bit.
    again = run_point(resolve_point(json.loads((out / "config.json").read_text())))
    assert again.summary == res.summary
    pd.testing.assert_frame_equal(again.stages, res.stages)


def test_run_json_has_unit_keys(tmp_path, capsys):
    rc = main(["run", "--hw", "broadwell_cpu_only", "--workload", workload(tmp_path), "--mapping", "cpu_only",
               "--batch-size", "2", "--fidelity", "analytic", "--json", "-o", str(tmp_path / "r")])
    s = json.loads(capsys.readouterr().out)
    assert rc == 0
    for key in ("latency_ns", "throughput_samples_per_s", "embedding_bandwidth_gbps", "energy_per_inference_uj"):
        assert s[key] > 0


def test_run_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["run", "--hw", "no_such_machine", "--workload", workload(tmp_path), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown hardware config 'no_such_machine'" in err and len(err.strip().splitlines()) == 1
    rc = main(["run", "--hw", "broadwell_cpu_only", "--workload", workload(tmp_path), "--mapping", "centaur",
               "-o", str(out)])
    assert rc == 2 and "broadwell_cpu_only.yaml: accelerator: mapping 'centaur' puts bottom_mlp on the dense engine" in \
        capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".res*"))


def test_main_job_table(tmp_path, capsys):
    out = tmp_path / "t.csv"
    rc = main(["main", "--batch-sizes", "1", "--fidelity", "analytic", "--store", str(tmp_path / "store"),
               "-o", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    assert list(df["model"]) == ["rm1", "rm2", "rm3"]
    assert df["speedup"].to_numpy() == pytest.approx((df["cpu_only_latency_us"] / df["centaur_latency_us"]).to_numpy())
    assert "speed-up" in capsys.readouterr().out


def test_batch_size_defaults_to_the_workloads(tmp_path, capsys):
    spec = tmp_path / "w.yaml"
    spec.write_text(SMALL + "default_batch_size: 6\n")
    rc = main(["run", "--hw", "harpv2_centaur", "--workload", str(spec), "--fidelity", "analytic", "--json",
               "-o", str(tmp_path / "r")])
    assert rc == 0 and json.loads(capsys.readouterr().out)["batch_size"] == 6
