"""`accelsim serve`: a query stream end to end, and its errors."""

import json
import subprocess
import sys
import time

import pytest

from accelsim.errors import InputError
from accelsim.results import Result
from accelsim.sim.api import resolve_point, run_point
from accelsim.sweep.expand import with_path


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "accelsim", "serve", *args], cwd=cwd, capture_output=True, text=True)


def test_serve_writes_a_result_with_percentiles(tmp_path):
    out = tmp_path / "serve"
    p = run("--hw", "harpv2_centaur", "--workload", "rm1", "--qps", "5000", "--queries", "40", "--batch-size", "8",
            "--query-size", "lognormal:median=4,sigma=1,max_size=16", "--json", "-o", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert s["latency_p50_ns"] <= s["latency_p99_ns"] <= s["latency_p99_9_ns"]
    r = Result.load(out)
    assert len(r.outputs) == 40 and r.config["serve"]["arrivals"]["qps"] == 5000


def test_bad_query_size_is_a_clear_error(tmp_path):
    p = run("--hw", "harpv2_centaur", "--workload", "rm1", "--qps", "10", "--query-size", "lognormal:mu=3",
            cwd=tmp_path)
    assert p.returncode == 2 and "median" in p.stderr and "Traceback" not in p.stderr


def test_serving_parameters_sweep_like_any_field():
    base = dict(hw="harpv2_centaur", workload="rm1", mapping="centaur", batch_size=8, fidelity="analytic", functional=False,
                serve={"arrivals": {"kind": "poisson", "qps": 1000.0}, "queries": 30})
    p99 = [run_point(resolve_point(with_path(base, "serve.arrivals.qps", q))).summary["latency_p99_ns"]
           for q in (1000.0, 200_000.0)]
    assert p99[1] > p99[0]


def test_a_stream_over_the_work_budget_is_refused_at_once_and_a_huge_batch_size_costs_nothing():
    point = dict(hw="harpv2_centaur", workload="rm1", mapping="centaur", fidelity="analytic", functional=False,
                 serve={"arrivals": {"kind": "poisson", "qps": 1000.0}, "queries": 10**8})
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"^serve: serve.queries: 100000000 queries, over the budget of 2e\+05"):
        run_point(resolve_point(point))
    # a batch can hold no more samples than all the queries: batch_size 2,000,000 used to generate them all
    small = {**point, "batch_size": 2_000_000, "serve": {**point["serve"], "queries": 5}}
    assert run_point(resolve_point(small)).summary["queries"] == 5
    assert time.perf_counter() - t0 < 20


TINY = {"name": "tiny", "source": "test", "embedding_dim": 8, "interaction": "dot",
        "tables": [{"rows": 1000, "lookups_per_sample": 4, "count": 2}], "bottom_mlp": [4, 8], "top_mlp": [8, 1],
        "default_batch_size": 4}


def tiny_serve(tmp_path, size: int, env: dict | None = None):
    wl = tmp_path / "tiny.yaml"
    wl.write_text(json.dumps(TINY))
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "accelsim", "serve", "--hw", "harpv2_centaur", "--workload", str(wl),
                        "--queries", "20", "--query-size", f"fixed:{size}", "--qps", "20000", "-o", str(out)],
                       cwd=tmp_path, capture_output=True, text=True, env={**__import__("os").environ, **(env or {})})
    return p, out


@pytest.mark.parametrize("size, batches", [(25000, 125000), (54262, 271310)])
def test_a_stream_of_many_small_batches_is_refused_with_its_loop_estimate(tmp_path, size, batches):
    t0 = time.process_time()
    p, out = tiny_serve(tmp_path, size)
    line = p.stderr.strip()
    assert p.returncode == 2 and "\n" not in line and not out.exists(), p.stderr
    assert f"~{batches} batches x 252 counters needs ~" in line and "CPU s, over the budget of 60 s" in line
    assert "serve.query_size" in line and "batch_size" in line and "ACCELSIM_WORK_SCALE" in line
    assert time.process_time() - t0 < 1  # the parent only waits; the child's CPU is its imports + one batch


def test_work_scale_moves_the_serving_loop_budget(tmp_path):
    p, _ = tiny_serve(tmp_path, 54262, {"ACCELSIM_WORK_SCALE": "2"})
    assert p.returncode == 2 and "over the budget of 120 s" in p.stderr
    p, out = tiny_serve(tmp_path, 4, {"ACCELSIM_WORK_SCALE": "1e-4"})  # 20 batches: ~0.014 s, over 6 ms
    assert p.returncode == 2 and "~20 batches" in p.stderr and "budget of 0.006 s" in p.stderr
    p, out = tiny_serve(tmp_path, 4)
    assert p.returncode == 0 and out.exists(), p.stderr
