"""Resume: a SIGKILLed sweep restarts where it stopped; failures are kept, retried only on request."""

import json
import os
import signal
import subprocess
import sys
import time

import yaml

import sweep_fixtures as fx
from accelsim.sweep import InProcessExecutor, expand, load_results, load_spec, run_sweep

UNITS = "hw.accelerator.sparse_engine.gather_units"


def live_in_group(pgid):
    """Processes of a process group that are still running (zombies excluded); Linux /proc."""
    live = []
    for stat in os.listdir("/proc"):
        try:
            fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat))
    return live


def runs(log):
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


def test_a_killed_sweep_resumes_without_recomputing_finished_points(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(fx.spec(axes=[{"grid": {"batch_size": list(range(1, 41))}}])))
    expected = {p.hash for p in expand(load_spec(spec_path)[0], allow_code=True)}
    out, log1, log2 = tmp_path / "out", tmp_path / "run1.log", tmp_path / "run2.log"
    path = os.pathsep.join([str(fx.TESTS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])])  # and this tree
    env = {**os.environ, "PYTHONPATH": path, "ACCELSIM_TEST_SLEEP_S": "0.05",
           "ACCELSIM_TEST_RUN_LOG": str(log1)}
    cmd = [sys.executable, "-m", "accelsim", "sweep", str(spec_path), "-o", str(out), "--allow-code",
           "--workers", "2", "--chunk-size", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while len([d for d in (out / "points").glob("[!.]*")]) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while live_in_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live_in_group(proc.pid) == [], "pool workers must exit when the sweep process is killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the pool's workers, should they outlive their parent
    finished = {d.name: (d / "meta.json").stat().st_mtime_ns for d in (out / "points").glob("[!.]*")}
    assert 6 <= len(finished) < len(expected), "the kill should land mid-sweep"
    (out / "points" / ".deadbeef.x.tmp").mkdir()  # what a kill during a write leaves

    env.update(ACCELSIM_TEST_SLEEP_S="0", ACCELSIM_TEST_RUN_LOG=str(log2))
    done = subprocess.run([*cmd[:-4], "--in-process"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"40 points: {40 - len(finished)} done, {len(finished)} skipped "
                                   f"(already in store), 0 failed")
    names = [d.name for d in (out / "points").iterdir()]
    assert sorted(names) == sorted(expected)  # every point exactly once, no leftovers
    rerun = runs(log2)
    assert set(rerun) == expected - set(finished) and len(rerun) == len(set(rerun))
    assert {h: (out / "points" / h / "meta.json").stat().st_mtime_ns for h in finished} == finished
    assert set(runs(log1)) >= set(finished)


def test_failed_points_are_recorded_and_retried_only_on_request(tmp_path, monkeypatch):
    log = tmp_path / "runs.log"
    monkeypatch.setenv("ACCELSIM_TEST_RUN_LOG", str(log))
    spec = fx.spec(axes=[{"grid": {UNITS: [4, 32]}}, {"points": [{"mapping": "centaur"}, {"mapping": "explode"}]}])
    first = run_sweep(spec, tmp_path / "out", InProcessExecutor(), allow_code=True)
    assert (first.done, first.failed, first.skipped) == (1, 3, 0)
    df = load_results(tmp_path / "out")
    assert sorted(df["error_type"].fillna("-")) == ["-", "DoesNotFit", "DoesNotFit", "RuntimeError"]
    assert len(runs(log)) == 2  # rejected points never reach the runner

    again = run_sweep(spec, tmp_path / "out", InProcessExecutor(), allow_code=True)
    assert (again.done, again.failed, again.skipped) == (0, 0, 4) and len(runs(log)) == 2

    retried = run_sweep(spec, tmp_path / "out", InProcessExecutor(), retry_failed=True, allow_code=True)
    assert (retried.done, retried.failed, retried.skipped) == (0, 3, 1)
    ok_hash = df.loc[df["status"] == "ok", "hash"].item()
    assert runs(log)[2:] == [df.loc[df["error_type"] == "RuntimeError", "hash"].item()] and ok_hash not in runs(log)[2:]


def test_limit_runs_part_of_the_sweep_and_the_rest_later(tmp_path):
    spec = fx.spec()
    part = run_sweep(spec, tmp_path, InProcessExecutor(), limit=5, allow_code=True)
    assert (part.done, part.not_run) == (5, 7) and part.line().endswith(", 7 not run (--limit)")
    rest = run_sweep(spec, tmp_path, InProcessExecutor(), allow_code=True)
    assert (rest.done, rest.skipped, rest.not_run) == (7, 5, 0) and len(load_results(tmp_path)) == 12
    assert json.loads(json.dumps(yaml.safe_load((tmp_path / "sweep.yaml").read_text()))) == {
        k: v for k, v in spec.items()}
