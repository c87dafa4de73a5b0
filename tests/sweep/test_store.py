"""Results store: atomic point directories, statuses, merged table, leftovers, lock."""

import json

import pandas as pd
import pytest

import sweep_fixtures as fx
from accelsim.errors import InputError
from accelsim.results import Result
from accelsim.sweep import InProcessExecutor, expand, load_results, load_spec, run_sweep, write_table
from accelsim.sweep.executors import Task, environment, run_task
from accelsim.sweep.hashing import source_digest
from accelsim.sweep.store import PROVENANCE, Store, code_provenance

UNITS = "hw.accelerator.sparse_engine.gather_units"


def stored(tmp_path, axes):
    """A store holding the given points, each run in-process; returns the store and the points."""
    pts = expand(load_spec(fx.spec(axes=axes))[0], allow_code=True)
    store = Store(tmp_path / "out")
    with store.lock():
        store.prepare("name: t\n")
        for p in pts:
            outcome = None if p.error_type else run_task(fx.RUNNER, Task(p.hash, p.config), environment())
            store.write(p, outcome, fx.RUNNER)
    return store, pts


def test_points_are_stored_with_result_config_and_meta(tmp_path):
    store, pts = stored(tmp_path, [{"grid": {UNITS: [8, 32]}, }, {"points": [{"mapping": "centaur"},
                                                                             {"mapping": "explode"}]}])
    assert store.statuses() == {pts[0].hash: "ok", pts[1].hash: "error", pts[2].hash: "error", pts[3].hash: "error"}
    ok = store.points_dir / pts[0].hash
    assert Result.load(ok).summary == fx.run(pts[0].config).summary
    assert json.loads((ok / "config.json").read_text()) == pts[0].config
    meta = json.loads((ok / "meta.json").read_text())
    assert meta["params"] == {UNITS: 8, "mapping": "centaur"} and meta["runner"] == fx.RUNNER
    assert set(meta["versions"]) == {"accelsim", "numpy", "numba", "python"}
    boom = json.loads((store.points_dir / pts[1].hash / "meta.json").read_text())
    assert boom["error_type"] == "RuntimeError"
    assert boom["error_message"] == "the toy runner cannot run mapping 'explode'"
    assert "Traceback" in boom["error_traceback"]
    rejected = json.loads((store.points_dir / pts[2].hash / "meta.json").read_text())
    assert rejected["error_type"] == "DoesNotFit" and rejected["error_traceback"] is None
    assert not (store.points_dir / pts[2].hash / "summary.json").exists()


def test_merged_table_has_one_row_per_point_with_params_metrics_and_status(tmp_path):
    store, pts = stored(tmp_path, [{"grid": {UNITS: [8, 32], "batch_size": [16, 64]}}])
    df = load_results(store.root)
    assert list(df.columns) == ["hash", "status", UNITS, "batch_size", "energy_per_inference_uj",
                                "latency_ns", "qps", "error_type", "error_message", "wall_time_s"]
    assert list(df["hash"]) == sorted(p.hash for p in pts)
    by_hash = df.set_index("hash")
    for p in pts:
        row = by_hash.loc[p.hash]
        assert (row[UNITS], row["batch_size"]) == (p.params[UNITS], p.params["batch_size"])
        if p.error_type:
            assert row["status"] == "error" and pd.isna(row["latency_ns"]) and row["error_type"] == "DoesNotFit"
        else:
            assert row["status"] == "ok" and row["latency_ns"] == fx.run(p.config).summary["latency_ns"]
    write_table(df, tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), df)


def test_mixed_and_structured_param_values_still_make_a_parquet_table(tmp_path):
    store, _ = stored(tmp_path, [{"points": [{"workload": "tiny"}, {"workload": fx.workload("wide")},
                                             {"workload": {**fx.workload("wide"), "tables": 2}}]},
                                 {"grid": {"batch_size": [1, 2]}}])
    df = load_results(store.root)
    assert "tiny" in set(df["workload"])
    assert '"tables":2' in "".join(df["workload"])
    write_table(df, tmp_path / "t.parquet")
    assert len(pd.read_parquet(tmp_path / "t.parquet")) == 6


def test_a_summary_key_that_is_also_a_swept_path_gets_a_prefix(tmp_path):
    store, _ = stored(tmp_path, [{"grid": {"batch_size": [4]}}])
    point_dir = next(store.points_dir.iterdir())
    summary = json.loads((point_dir / "summary.json").read_text())
    (point_dir / "summary.json").write_text(json.dumps({**summary, "batch_size": 5}))
    df = load_results(store.root)
    assert (df.loc[0, "batch_size"], df.loc[0, "summary.batch_size"]) == (4, 5)


def test_leftovers_of_interrupted_writes_are_ignored_then_removed(tmp_path):
    store, pts = stored(tmp_path, [{"grid": {"batch_size": [4]}}])
    (store.points_dir / ".abc.xyz.tmp").mkdir()
    (store.points_dir / ".abc.xyz.tmp" / "summary.json").write_text("{")
    (store.points_dir / ".def.tmp").write_text("")
    assert list(store.statuses()) == [pts[0].hash] and len(load_results(store.root)) == 1
    with store.lock():
        store.prepare("name: t\n")
    assert [d.name for d in store.points_dir.iterdir()] == [pts[0].hash]


def test_a_second_writer_is_refused(tmp_path):
    store = Store(tmp_path)
    with store.lock():
        with pytest.raises(InputError, match="another sweep is writing to this store"):
            with Store(tmp_path).lock():
                pass
    with Store(tmp_path).lock():  # released
        pass


def test_loading_something_that_is_not_a_store_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not a sweep results store"):
        load_results(tmp_path)


def test_integer_columns_stay_integer_when_some_points_lack_them(tmp_path):
    store, _ = stored(tmp_path, [{"points": [{"batch_size": 16}, {"mapping": "explode"}, {"batch_size": 64}]}])
    df = load_results(store.root)
    assert str(df["batch_size"].dtype) == "Int64" and df["batch_size"].isna().sum() == 1
    assert sorted(df["batch_size"].dropna().tolist()) == [16, 64]
    table = tmp_path / "t.parquet"
    write_table(df, table)
    assert str(pd.read_parquet(table)["batch_size"].dtype) == "Int64"


def test_a_store_of_other_code_is_refused_or_rebuilt_never_reused(tmp_path, monkeypatch):
    spec = fx.spec(axes=[{"grid": {"batch_size": [4, 8]}}])
    out = tmp_path / "out"
    first = run_sweep(spec, out, InProcessExecutor(), allow_code=True)
    assert first.done == 2 and Store(out).provenance() == code_provenance()
    other = {**code_provenance(), "source_sha256": "0" * 16}
    monkeypatch.setattr("accelsim.sweep.store.code_provenance", lambda: other)
    with pytest.raises(InputError, match=r"its 2 points were computed by other code \(source_sha256 .* -> 0{16}\)"):
        run_sweep(spec, out, InProcessExecutor(), allow_code=True)
    assert len(Store(out).statuses()) == 2  # refused: nothing deleted
    again = run_sweep(spec, out, InProcessExecutor(), allow_code=True, rebuild=True)
    assert (again.discarded, again.done, again.skipped) == (2, 2, 0)
    assert Store(out).provenance() == other
    assert run_sweep(spec, out, InProcessExecutor(), allow_code=True).skipped == 2  # same code: reused


def test_a_store_without_a_record_of_its_code_is_stale(tmp_path):
    spec = fx.spec(axes=[{"grid": {"batch_size": [4]}}])
    run_sweep(spec, tmp_path / "out", InProcessExecutor(), allow_code=True)
    (tmp_path / "out" / PROVENANCE).unlink()  # a store written before stores recorded their code
    with pytest.raises(InputError, match="has no provenance.json"):
        run_sweep(spec, tmp_path / "out", InProcessExecutor(), allow_code=True)
    assert run_sweep(spec, tmp_path / "out", InProcessExecutor(), allow_code=True, rebuild=True).discarded == 1


def test_source_digest_follows_every_python_file(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    (pkg / "notes.txt").write_text("not code")
    before = source_digest(pkg)
    (pkg / "notes.txt").write_text("still not code")
    assert source_digest(pkg) == before
    (pkg / "sub" / "b.py").write_text("y = 3\n")
    assert source_digest(pkg) != before
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    (pkg / "sub" / "b.py").rename(pkg / "b.py")  # same bytes, another module
    assert source_digest(pkg) != before
    moved = source_digest(pkg)
    (pkg / "cli").mkdir()
    (pkg / "cli" / "c.py").write_text("z = 1\n")
    assert source_digest(pkg, exclude=("cli",)) == moved != source_digest(pkg)


def test_a_stored_result_reads_back_and_a_failed_one_names_its_error(tmp_path):
    store, pts = stored(tmp_path, [{"points": [{"batch_size": 16}, {"mapping": "explode"}]}])
    ok, failed = pts
    assert store.result(ok.hash).summary == fx.run(ok.config).summary
    with pytest.raises(InputError, match="the point failed: RuntimeError: the toy runner cannot run"):
        store.result(failed.hash)
    with pytest.raises(InputError, match="incomplete"):
        store.result("0" * 16)


def test_report_lists_every_point_in_the_specs_order(tmp_path):
    spec = fx.spec(axes=[{"grid": {"batch_size": [64, 4, 16]}}])
    report = run_sweep(spec, tmp_path / "out", InProcessExecutor(), allow_code=True, limit=1)
    assert report.hashes == tuple(p.hash for p in expand(load_spec(spec)[0], allow_code=True))


def test_a_meta_json_whose_hash_is_not_a_string_is_named(tmp_path):
    store, pts = stored(tmp_path, [{"grid": {UNITS: [4, 8]}}])
    meta = store.points_dir / pts[0].hash / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "hash": [1, 2]}))  # was a pandas ValueError
    with pytest.raises(InputError, match=r"meta.json: hash: expected the point's hash \(a string\), got list"):
        load_results(store.root)


def test_no_module_that_computes_a_point_imports_one_the_code_digest_leaves_out():
    """The store's code digest skips NOT_COMPUTING; a computing module importing one of them would let a change
    there alter results without making the stored points stale."""
    import ast
    from pathlib import Path

    import accelsim
    from accelsim.sweep.store import NOT_COMPUTING
    root = Path(accelsim.__file__).parent
    offenders = []
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).parts
        if rel[0] in NOT_COMPUTING or rel == ("__main__.py",):
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{'/'.join(rel)}: {n}" for n in names
                          if any(n == f"accelsim.{p}" or n.startswith(f"accelsim.{p}.") for p in NOT_COMPUTING)]
    assert not offenders, offenders
