"""`accelsim sweep` and `accelsim results` end to end."""

import pandas as pd
import pytest
import yaml

import sweep_fixtures as fx
from accelsim.cli import main
from accelsim.sweep import load_results, pareto_front

UNITS = "hw.accelerator.sparse_engine.gather_units"


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(fx.spec(axes=[{"grid": {"hw.links.channels.0.bandwidth_gbps": [8, 16, 32],
                                                           UNITS: [4, 8, 32]}},
                                                 {"zip": {"batch_size": [16, 256], "trace.alpha": [1.05, 1.2]}}])))
    return path


def test_sweep_then_results_and_pareto(spec_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(spec_file), "-o", str(out), "--in-process", "--allow-code"]) == 1  # points failed
    captured = capsys.readouterr()
    assert captured.out.strip() == "18 points: 12 done, 0 skipped (already in store), 6 failed"
    assert "accelsim: 6 points failed:\n  6 x DoesNotFit, e.g. sparse engine needs" in captured.err
    assert "pt/s" in captured.err and "failed=6" in captured.err  # the progress bar
    assert main(["sweep", str(spec_file), "-o", str(out), "--in-process", "--limit", "3", "--allow-code"]) == 0
    assert capsys.readouterr().out.strip() == "18 points: 0 done, 18 skipped (already in store), 0 failed"

    table = tmp_path / "all.parquet"
    assert main(["results", str(out), "-o", str(table)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 18 rows to {table}"
    pd.testing.assert_frame_equal(pd.read_parquet(table), load_results(out))

    assert main(["results", str(out), "--pareto", "latency_ns,max:qps"]) == 0
    text = capsys.readouterr().out
    front = pareto_front(load_results(out), ["latency_ns", "max:qps"])
    assert len(front) >= 2  # small batches win latency, large ones throughput
    assert text.splitlines()[0] == f"Pareto front over latency_ns, max:qps: {len(front)} of 12 ok points"
    assert all(h in text for h in front["hash"]) and len(text.splitlines()) == 2 + len(front)
    # swept paths in spec-file order (safe_dump sorted them), then the objectives
    assert text.splitlines()[1].split() == ["hash", UNITS, "hw.links.channels.0.bandwidth_gbps", "batch_size",
                                            "trace.alpha", "latency_ns", "qps"]

    assert main(["results", str(out), "--minimize", "latency_ns", "--maximize", "qps"]) == 0
    assert capsys.readouterr().out.startswith("Pareto front over latency_ns, qps:")


@pytest.mark.parametrize("axes, message", [
    ([{"zip": {"batch_size": [1, 2], "workload": ["tiny"]}}], "zip: lists differ in length"),
    ([{"grid": {"hw.links.channels.0.bandwith_gbps": [1]}}], "no key 'bandwith_gbps'"),
])
def test_a_bad_spec_exits_2_with_one_line(tmp_path, capsys, axes, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(fx.spec(axes=axes)))
    assert main(["sweep", str(path), "-o", str(tmp_path / "out"), "--in-process", "--allow-code"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"accelsim: error: {path}") and message in err and err.count("\n") == 1


def test_bad_arguments_exit_2(spec_file, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["sweep", str(spec_file), "-o", out, "--workers", "0", "--allow-code"]) == 2
    assert main(["sweep", str(spec_file), "-o", out, "--limit", "-1", "--allow-code"]) == 2
    assert main(["results", str(tmp_path)]) == 2
    assert main(["sweep", str(spec_file), "-o", out, "--in-process", "--limit", "0", "--allow-code"]) == 0
    assert main(["results", out, "--pareto", "latency_ns,nope"]) == 2
    assert main(["results", out, "--minimize", "qps", "--maximize", "qps"]) == 2
    assert "--minimize and --maximize both name qps" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["sweep", str(spec_file), "-o", out, "--in-process", "--workers", "2", "--allow-code"])
    assert exc.value.code == 2


def test_a_store_of_other_code_exits_2_until_rebuilt(spec_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(spec_file), "-o", str(out), "--in-process", "--allow-code", "--limit", "4"]) == 0
    record = out / "provenance.json"
    record.write_text(record.read_text().replace('"numba": "', '"numba": "0.0-'))  # as if another numba ran them
    capsys.readouterr()
    assert main(["sweep", str(spec_file), "-o", str(out), "--in-process", "--allow-code"]) == 2
    err = capsys.readouterr().err
    assert f"{out}: its 4 points were computed by other code (numba 0.0-" in err and "--rebuild" in err
    assert len(list((out / "points").iterdir())) == 4
    assert main(["sweep", str(spec_file), "-o", str(out), "--in-process", "--allow-code", "--rebuild",
                 "--limit", "2"]) == 0
    captured = capsys.readouterr()
    assert "deleted 4 points computed by other code" in captured.err
    assert captured.out.strip() == "18 points: 2 done, 0 skipped (already in store), 0 failed, 16 not run (--limit)"
