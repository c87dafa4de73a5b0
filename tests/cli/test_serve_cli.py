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
