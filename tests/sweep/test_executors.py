"""Executors: in-process, local process pool and a real Dask LocalCluster give identical result tables."""

import json
import os

import pandas as pd
import pytest

import sweep_fixtures as fx
from accelsim.errors import InputError
from accelsim.sweep import (DaskExecutor, InProcessExecutor, ProcessExecutor, SweepAborted, load_results,
                            run_sweep)
from accelsim.sweep.executors import Task, chunked, environment, run_chunk, run_task

UNITS = "hw.accelerator.sparse_engine.gather_units"
SPEC = fx.spec(axes=[{"grid": {UNITS: [4, 8, 32], "batch_size": [16, 64]}},
                     {"points": [{"mapping": "centaur"}, {"mapping": "explode"}]}])


def pids(log):
    return {line.split()[1] for line in log.read_text().splitlines()}


def table(out):
    return load_results(out).drop(columns="wall_time_s")


def test_in_process_pool_and_dask_give_identical_tables(tmp_path, monkeypatch):
    fx.worker_env(monkeypatch)
    log = tmp_path / "runs.log"
    monkeypatch.setenv("ACCELSIM_TEST_RUN_LOG", str(log))
    reports = {}
    for name, executor in [("inproc", InProcessExecutor()), ("pool", ProcessExecutor(2, chunk_size=1)),
                           ("dask", DaskExecutor(n_workers=2, chunk_size=1))]:
        log.write_text("")
        reports[name] = run_sweep(SPEC, tmp_path / name, executor, allow_code=True)
        used = pids(log)
        if name == "inproc":
            assert used == {str(os.getpid())}
        else:  # real worker processes, not threads of this one
            assert str(os.getpid()) not in used and 1 <= len(used) <= 2
    for r in reports.values():
        # 12 points: 4 rejected by the resolver (32 units do not fit), 4 raise in the runner
        assert (r.total, r.done, r.skipped, r.failed) == (12, 4, 0, 8)
    ref = table(tmp_path / "inproc")
    assert (ref["status"] == "ok").sum() == 4 and set(ref["error_type"].dropna()) == {"DoesNotFit", "RuntimeError"}
    pd.testing.assert_frame_equal(table(tmp_path / "pool"), ref)
    pd.testing.assert_frame_equal(table(tmp_path / "dask"), ref)


def test_run_task_records_what_a_point_raises():
    config = fx.resolve({"hw": "toy_centaur", "workload": "tiny", "mapping": "explode"})
    out = run_task(fx.RUNNER, Task("h", config), environment())
    assert not out.ok and (out.error_type, out.hash) == ("RuntimeError", "h") and "Traceback" in out.error_traceback
    bad = run_task(fx.RUNNER, Task("h", {**config, "mapping": "centaur", "batch_size": 0}), environment())
    assert not bad.ok and bad.error_type == "ZeroDivisionError"
    not_a_result = run_task(fx.RESOLVER, Task("h", config), environment())
    assert not_a_result.error_message == "runner sweep_fixtures:resolve returned dict, expected a Result"
    user_error = run_task(fx.RESOLVER, Task("h", {"hw": "nope"}), environment())
    assert user_error.error_type == "InputError" and user_error.error_traceback is None
    good = run_chunk(fx.RUNNER, [Task("a", {**config, "mapping": "centaur"})])
    assert good[0].ok and json.loads(good[0].files["summary.json"]) == fx.run({**config, "mapping": "centaur"}).summary
    assert set(good[0].files) == {"config.json", "summary.json", "stages.parquet", "counters.parquet",
                                  "energy.parquet", "outputs.parquet"}


def test_chunks_cover_every_task_in_order():
    tasks = [Task(str(i), {}) for i in range(100)]
    for workers, size in [(1, None), (2, None), (2, 7), (64, None)]:
        chunks = chunked(tasks, workers, size)
        assert [t for c in chunks for t in c] == tasks
        assert max(map(len, chunks)) == (size or min(32, -(-100 // (8 * workers))))


def test_a_dying_worker_aborts_the_sweep_and_keeps_finished_points(tmp_path, monkeypatch):
    fx.worker_env(monkeypatch)
    spec = fx.spec(axes=[{"points": [{"mapping": "centaur"}, {"mapping": "die"}]}])
    with pytest.raises(SweepAborted, match="a worker process failed"):
        run_sweep(spec, tmp_path, ProcessExecutor(1, chunk_size=1), allow_code=True)
    assert list(load_results(tmp_path)["status"]) == ["ok"]


def test_executor_arguments_are_checked():
    with pytest.raises(InputError, match="--workers: need at least 1"):
        ProcessExecutor(-1)
    with pytest.raises(InputError, match="exactly one of"):
        DaskExecutor()
    with pytest.raises(InputError, match="--dask-local: need at least 1"):
        DaskExecutor(n_workers=0)


def test_result_save_load_round_trips(tmp_path):
    result = fx.run(fx.resolve({"hw": "toy_centaur", "workload": "tiny", "batch_size": 3}))
    back = type(result).load(result.save(tmp_path / "saved"))
    assert back.summary == result.summary and back.config == result.config
    for name in ("stages", "counters", "energy", "outputs"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(result, name))
