"""The validation grid, its YAML form, and `accelsim validate --json` on a tiny grid."""

import json

import pytest

from accelsim.cli import main
from accelsim.config.system import load_system
from accelsim.errors import InputError
from accelsim.validate.grid import DlrmCase, EmbeddingBagCase, MlpCase, default_grid, load_grid
from accelsim.validate.report import Row, regime, summary


def test_default_grid_spans_the_regimes():
    g = default_grid().cases
    eb = [c for c in g if isinstance(c, EmbeddingBagCase)]
    hw = load_system("broadwell_cpu_only")
    llc = hw.cpu.caches[-1].size_bytes
    assert min(c.table_bytes for c in eb) <= hw.cpu.caches[0].size_bytes
    assert max(c.table_bytes for c in eb) >= 4 * llc
    assert {c.dim for c in eb} >= {16, 256} and {c.lookups for c in eb} >= {1, 100}
    assert {c.batch for c in g} >= {1, 2048} and {c.threads for c in g} == {1, 2}
    assert {c.dist for c in eb} == {"uniform", "zipf"} and {c.alpha for c in eb if c.dist == "zipf"} == {1.05, 1.2}
    assert any(isinstance(c, MlpCase) for c in g) and any(isinstance(c, DlrmCase) for c in g)
    assert len({c.name for c in g}) == len(g)


def test_grid_file_errors_name_the_file_and_field(tmp_path, capsys):
    bad = tmp_path / "g.yaml"
    bad.write_text("cases:\n  - {kind: embedding_bag, rows: 0, dim: 4, lookups: 1, batch: 1}\n")
    with pytest.raises(InputError, match=r"g.yaml.*rows"):
        load_grid(bad)
    assert main(["validate", "--grid", str(bad), "--hw", "broadwell_cpu_only"]) == 2
    bad.write_text("cases:\n  - {kind: dlrm, workload: rm9, max_rows: 10, batch: 1}\n")
    with pytest.raises(InputError, match=r"g.yaml: cases.0.dlrm.workload: Value error, unknown workload 'rm9'"):
        load_grid(bad)
    many = tmp_path / "many.yaml"  # refused before any measurement, naming the file and the case's field
    many.write_text("cases:\n  - {kind: mlp, widths: [4, 4], batch: 1, threads: 1000}\n")
    assert main(["validate", "--grid", str(many), "--hw", "broadwell_cpu_only"]) == 2
    assert f"{many}: cases.0.threads: mlp_4-4_b1_t1000 has 1000 threads" in capsys.readouterr().err


def test_summary_and_regimes():
    hw = load_system("broadwell_cpu_only")
    assert regime(EmbeddingBagCase(rows=64, dim=64, lookups=1, batch=1), hw) == "eb_l1"
    assert regime(EmbeddingBagCase(rows=10**7, dim=64, lookups=1, batch=1), hw) == "eb_dram"
    rows = [Row("a", "mlp", "mlp", 1, 1.0, 0.01, 1.1, 1.1), Row("b", "mlp", "mlp", 1, 1.0, 0.5, 0.5, 0.5, True)]
    s = summary(rows)
    assert s["all"]["median_abs_error"] == pytest.approx(0.3) and s["all"]["max_abs_error"] == pytest.approx(0.5)
    assert s["quiet"]["n"] == 1 and s["quiet"]["max_abs_error"] == pytest.approx(0.1)


def test_validate_json_on_a_tiny_grid(tmp_path, capsys):
    grid = tmp_path / "g.yaml"
    grid.write_text("cases:\n  - {kind: embedding_bag, rows: 64, dim: 16, lookups: 4, batch: 8}\n"
                    "  - {kind: mlp, widths: [16, 8], batch: 4}\n")
    out = tmp_path / "out"
    assert main(["validate", "--grid", str(grid), "--hw", "broadwell_cpu_only", "--json", "-o", str(out)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    rows, tail = lines[:-1], lines[-1]
    assert [r["kind"] for r in rows] == ["embedding_bag", "mlp"]
    for r in rows:
        assert {"case", "kind", "measured_ms", "measured_spread", "predicted_ms", "ratio"} <= set(r)
        assert r["measured_ms"] > 0 and r["ratio"] == pytest.approx(r["predicted_ms"] / r["measured_ms"])
        assert isinstance(r["quiet_runs"], int) and r["quiet_runs"] >= 0  # timed with the canary
    assert tail["summary"]["all"]["n"] == 2
    machine = tail["summary"]["machine"]  # the machine read before and after, against the config
    assert set(machine["before"]) == set(machine["config"]) == {"llc_latency_ns", "memory_latency_ns",
                                                                 "misses_in_flight", "freq_ghz"}
    assert all(v > 0 for v in machine["before"].values()) and all(v > 0 for v in machine["after"].values())
    assert (out / "rows.csv").exists() and (out / "validate.png").exists() and (out / "summary.json").exists()


def test_a_machine_that_moved_from_its_config_is_flagged():
    from accelsim.config.system import load_system
    from accelsim.validate.drift import Reading, compare, expected
    hw = load_system("broadwell_cpu_only")
    want = expected(hw)
    assert want.llc_latency_ns == pytest.approx(sum(c.hit_latency_ns for c in hw.cpu.caches))
    assert want.memory_latency_ns > want.llc_latency_ns and want.misses_in_flight == hw.cpu.line_fill_buffers_per_core
    same = compare(hw, want, want)
    assert same["moved"] == [] and same["ratio_to_config"]["after"]["freq_ghz"] == pytest.approx(1.0)
    smaller_llc = Reading(want.llc_latency_ns * 1.6, want.memory_latency_ns, want.misses_in_flight * 0.6,
                          want.freq_ghz)
    moved = compare(hw, want, smaller_llc)
    assert moved["moved"] == ["llc_latency_ns", "misses_in_flight"]
    from accelsim.cli.validate_cmd import machine_line
    assert "moved more than 15% from the config: llc_latency_ns, misses_in_flight" in machine_line(moved)

@pytest.mark.parametrize("case, message", [
    # a batch of 10^9 bags: the warm-up used to time it for real, for minutes (fuzz run 2026-12-02)
    ("{kind: embedding_bag, rows: 2000, dim: 16, lookups: 8, batch: 1000000000}",
     "cases.0: detailed run of 1000000000 samples x 8 lookups needs ~8e+09 line requests, over the budget"),
    ("{kind: mlp, widths: [1024, 1024], batch: 100000000}", "cases.0: mlp_1024-1024_b100000000_t1: batch x widths"),
    # a field out of the model's bounds was named by the case's generated name only, not the file
    ("{kind: embedding_bag, rows: 2000, dim: 16, lookups: 8000000, batch: 32}",
     "cases.0: eb_r2000_d16_l8000000_b32_uniform_t1: tables.0.lookups_per_sample"),
])
def test_a_case_over_the_work_budget_or_the_model_bounds_is_refused_naming_file_and_case(tmp_path, capsys, case,
                                                                                          message):
    g = tmp_path / "g.yaml"
    g.write_text(f"cases:\n  - {case}\n")
    assert main(["validate", "--grid", str(g), "--hw", "broadwell_cpu_only", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{g}: {message}" in err and err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_a_grid_is_timed_in_passes_and_each_case_keeps_its_best(tmp_path, capsys):
    from accelsim.validate.measure import measure_grid
    cases = [MlpCase(widths=(16, 8), batch=4), EmbeddingBagCase(rows=64, dim=16, lookups=4, batch=8)]
    one = measure_grid(cases, budget_s=0.05, passes=1)
    three = measure_grid(cases, budget_s=0.15, passes=3)
    for a, b in zip(one, three):
        assert b.timing.runs >= 3 * 3  # at least min_runs in each of the three passes, all counted
        assert b.time_ns == b.timing.min_ns > 0
    assert three[1].batch is not None and three[1].batch.tables[0].indices.size == one[1].batch.tables[0].indices.size
    with pytest.raises(ValueError, match="passes"):
        measure_grid(cases, passes=0)
    grid = tmp_path / "g.yaml"
    grid.write_text("cases:\n  - {kind: mlp, widths: [16, 8], batch: 4}\n")
    assert main(["validate", "--grid", str(grid), "--hw", "broadwell_cpu_only", "--passes", "0"]) == 2
    assert "--passes: expected a positive integer, got 0" in capsys.readouterr().err
    assert main(["validate", "--grid", str(grid), "--hw", "broadwell_cpu_only", "--passes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]["passes"] == 2


def test_a_timed_run_strings_calls_together_for_two_milliseconds_and_reports_per_call():
    from accelsim.probe.repeat import MAX_CALLS, RUN_NS, calls_per_run
    from accelsim.validate.measure import measure
    assert [calls_per_run(ns) for ns in (2 * RUN_NS, RUN_NS, RUN_NS / 4 + 1, RUN_NS / 4, 1.0, 0.0)] == \
        [1, 1, 4, 4, MAX_CALLS, MAX_CALLS]
    tiny = measure(MlpCase(widths=(16, 8), batch=4), budget_s=0.05)
    assert 10 <= tiny.calls_per_run <= MAX_CALLS  # a 16 x 8 Linear takes tens of microseconds at most
    assert 0 < tiny.time_ns == tiny.timing.min_ns <= tiny.timing.median_ns < RUN_NS / 10
    row = Row("a", "mlp", "mlp", 1, 1.0, 0.01, 1.1, 1.1, calls_per_run=7)
    assert row.to_dict()["calls_per_run"] == 7
