"""`accelsim main`: the study sweep (sweeps/centaur_main.yaml) into a store, resumed, reused, the same table."""

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time

import pandas as pd
import pytest

from accelsim.cli import main
from accelsim.cli.main_cmd import STUDY_SPEC, centaur_table, study_spec
from accelsim.config.workload import REPO_ROOT
from accelsim.figures.runs import BATCH_SIZES, CENTAUR, CPU_ONLY, MODELS, grid_point, run_grid
from accelsim.sim.api import resolve_point
from accelsim.sweep import InProcessExecutor, expand, load_spec, run_sweep
from accelsim.sweep.hashing import point_hash
from accelsim.sweep.store import Store

FAST = ["--fidelity", "analytic", "--models", "rm1,rm3"]


def run_main(tmp_path, *args, store="store", out="t.csv"):
    """`accelsim main` into tmp_path; returns (exit status, the table's bytes or None)."""
    rc = main(["main", *FAST, *args, "--store", str(tmp_path / store), "-o", str(tmp_path / out)])
    return rc, (tmp_path / out).read_bytes() if (tmp_path / out).exists() else None


def point_mtimes(store):
    return {d.name: (d / "meta.json").stat().st_mtime_ns for d in (store / "points").iterdir()}


def test_the_shipped_study_is_the_grid_of_the_reference_path():
    """Every point of sweeps/centaur_main.yaml is, config for config, one `run_grid` simulates (bit-identity)."""
    points = expand(load_spec(study_spec())[0])
    want = {point_hash(resolve_point(grid_point(m, b, s, "detailed")))
            for m in MODELS for b in BATCH_SIZES for s in (CPU_ONLY, CENTAUR)}
    assert len(points) == 48 and {p.hash for p in points} == want
    assert [p.params["batch_size"] for p in points[::6]] == sorted(BATCH_SIZES, reverse=True)  # longest first


def test_the_table_equals_the_reference_path_and_a_second_run_reads_the_store(tmp_path, capsys):
    rc, table = run_main(tmp_path, "--batch-sizes", "1,16", "--workers", "1")
    assert rc == 0
    reference = centaur_table(run_grid(["rm1", "rm3"], [1, 16], "analytic"))
    reference.to_csv(tmp_path / "reference.csv", index=False)
    assert table == (tmp_path / "reference.csv").read_bytes()
    out = capsys.readouterr().out
    assert "speed-up" in out and "CPU software profile pytorch_2019" in out
    assert "(8 points: 8 computed, 0 read from the store" in out
    before = point_mtimes(tmp_path / "store")
    rc, again = run_main(tmp_path, "--batch-sizes", "1,16", "--workers", "1")
    assert rc == 0 and again == table and point_mtimes(tmp_path / "store") == before
    assert "(8 points: 0 computed, 8 read from the store" in capsys.readouterr().out


def test_an_interrupted_study_resumes_and_equals_a_full_run(tmp_path, capsys):
    """A partial store (what an interrupt leaves) is completed: only missing points run, same table."""
    assert run_main(tmp_path, "--batch-sizes", "4", "--workers", "1", out="part.csv")[0] == 0
    part = point_mtimes(tmp_path / "store")
    capsys.readouterr()
    rc, resumed = run_main(tmp_path, "--batch-sizes", "1,4", "--workers", "2")
    assert rc == 0 and "(8 points: 4 computed, 4 read from the store" in capsys.readouterr().out
    assert {h: t for h, t in point_mtimes(tmp_path / "store").items() if h in part} == part
    rc, full = run_main(tmp_path, "--batch-sizes", "1,4", "--workers", "1", store="fresh", out="full.csv")
    assert rc == 0 and resumed == full  # 2 workers and resumed vs 1 worker from scratch: bit-identical


def test_a_killed_study_resumes(tmp_path):
    """SIGINT (Ctrl-C) to the whole process group part-way; the rerun computes only the rest."""
    store, out = tmp_path / "store", tmp_path / "t.csv"
    cmd = [sys.executable, "-m", "accelsim", "main", "--fidelity", "analytic", "--workers", "2", "--store",
           str(store), "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((store / "points").glob("[!.]*"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done = len(Store(store).statuses())
    assert 3 <= done < 48 and not out.exists(), "the interrupt should land mid-study, before the table"
    again = subprocess.run(cmd[:-6] + ["--workers", "1", "--store", str(store), "-o", str(out)],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"(48 points: {48 - done} computed, {done} read from the store" in again.stdout
    assert len(pd.read_csv(out)) == 24


def test_a_store_of_other_code_is_rebuilt_with_a_note(tmp_path, monkeypatch, capsys):
    rc, table = run_main(tmp_path, "--batch-sizes", "2", "--workers", "1")
    capsys.readouterr()
    meta = tmp_path / "store" / "provenance.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "source_sha256": "0" * 16}))
    rc, again = run_main(tmp_path, "--batch-sizes", "2", "--workers", "1")
    captured = capsys.readouterr()
    assert rc == 0 and again == table
    assert "deleted 4 points that other code computed" in captured.err
    assert "(4 points: 4 computed, 0 read from the store" in captured.out


def test_the_store_never_takes_a_users_folder_or_another_sweep(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    assert main(["main", *FAST, "--batch-sizes", "1", "--store", str(mine), "-o", str(tmp_path / "t.csv"),
                 "--force"]) == 2  # --force is about -o, not the store
    assert "not an accelsim sweep-store output" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    other = tmp_path / "other"
    assert main(["sweep", "sweeps/cpu_vs_centaur_rm1_rm3.yaml", "-o", str(other), "--limit", "0"]) == 0
    assert main(["main", *FAST, "--batch-sizes", "1", "--store", str(other), "-o", str(tmp_path / "t.csv")]) == 2
    assert "holds the sweep 'cpu_vs_centaur_rm1_rm3', not the main study" in capsys.readouterr().err


def test_the_study_runs_from_any_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the spec's trace paths are relative to the repository, not the cwd
    assert main(["main", *FAST, "--batch-sizes", "1", "--workers", "1"]) == 0
    assert (tmp_path / "results" / "main" / "centaur_table.csv").exists()
    assert (tmp_path / "results" / "main" / "store" / "sweep.yaml").exists()  # the documented default
    assert (REPO_ROOT / STUDY_SPEC).is_file()


@pytest.mark.parametrize("args, message", [
    (["--batch-sizes", "1,x"], "--batch-sizes"), (["--batch-sizes", "0"], "--batch-sizes"),
    (["--models", "rm9"], "--models: rm9 not in the study"), (["--workers", "0"], "--workers"),
])
def test_bad_arguments_exit_2_before_any_work(tmp_path, capsys, args, message):
    assert main(["main", *args, "--store", str(tmp_path / "store"), "-o", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("accelsim: error:") and message in err
    assert not (tmp_path / "t.csv").exists() and not (tmp_path / "store" / "points").exists()


def test_progress_bar_on_a_terminal_only(tmp_path):
    """The bar goes to stderr when it is a terminal; not into a pipe, and never with --quiet."""
    def stderr_of(*extra, tty):
        cmd = [sys.executable, "-m", "accelsim", "main", *FAST, "--batch-sizes", "1", "--workers", "1",
               "--store", str(tmp_path / f"s{len(extra)}{tty}"), "-o", str(tmp_path / f"t{len(extra)}{tty}.csv"),
               *extra]
        if not tty:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stderr
        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=follower)
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=300) == 0
        os.close(leader)
        return b"".join(chunks).decode(errors="replace")

    bar = stderr_of(tty=True)
    assert "centaur_main" in bar and "4/4" in bar
    assert stderr_of(tty=False) == ""
    assert stderr_of("--quiet", tty=True) == ""


def test_figures_draw_the_points_main_stored_without_recomputing(tmp_path, monkeypatch, capsys):
    assert run_main(tmp_path, "--batch-sizes", "1,8", "--workers", "1")[0] == 0
    before = point_mtimes(tmp_path / "store")
    heatmap = tmp_path / "heatmap"  # a 2 x 2 sweep for figure (d), so that no built-in sweep runs either
    run_sweep({"name": "tiny", "base": {"hw": "harpv2_centaur", "workload": "rm1", "mapping": "centaur",
                                        "batch_size": 1, "fidelity": "analytic", "functional": False},
               "axes": [{"grid": {"hw.accelerator.clock_ghz": [0.2, 0.4],
                                  "hw.accelerator.sparse_engine.gather_units": [4, 8]}}]}, heatmap, InProcessExecutor())
    capsys.readouterr()

    def no_simulation(point):
        raise AssertionError(f"figures recomputed a point: {point['workload']['name']}")

    monkeypatch.setattr("accelsim.sim.api.run_point", no_simulation)  # the study's runner, looked up per run
    assert main(["figures", "--sweep", str(heatmap), "--models", "rm1,rm3", "--batch-sizes", "1,8", "--fidelity",
                 "analytic", "--workers", "1", "--store", str(tmp_path / "store"), "-o", str(tmp_path / "figs")]) == 0
    assert "main study: 0 points computed, 8 read from the store" in capsys.readouterr().err
    assert point_mtimes(tmp_path / "store") == before
    drawn = pd.read_csv(tmp_path / "figs" / "c_speedup_energy.csv")
    table = pd.read_csv(tmp_path / "t.csv")
    pd.testing.assert_frame_equal(drawn[["model", "batch_size", "speedup", "energy_efficiency"]],
                                  table[["model", "batch_size", "speedup", "energy_efficiency"]], check_exact=True)
