"""Serving against queueing closed forms: M/D/1 mean wait (Pollaczek-Khinchine) and Little's law."""

import numpy as np
import pytest

import accelsim

MD1 = dict(hw="broadwell_cpu_only", workload="rm1", mapping="cpu_only", batch_size=1, fidelity="analytic",
           policy="fixed", in_flight=1, query_size={"dist": "fixed", "size": 1})


def little_holds(s: dict) -> bool:
    return s["queries_in_system_mean"] == pytest.approx(s["arrival_rate_per_ns"] * s["latency_mean_ns"], rel=1e-6)


def service_ns() -> float:
    # One query alone: no queue, so its latency is the deterministic service time.
    r = accelsim.serve(**MD1, arrivals={"kind": "poisson", "qps": 1.0}, queries=3)
    return float(r.outputs["latency_ns"].iloc[0])


@pytest.mark.parametrize("rho, queries", [(0.5, 30_000), (0.8, 100_000)])
def test_md1_mean_wait_matches_pollaczek_khinchine(rho, queries):
    s_ns = service_ns()
    r = accelsim.serve(**MD1, arrivals={"kind": "poisson", "qps": rho / s_ns * 1e9}, queries=queries)
    lat = r.outputs["latency_ns"].to_numpy()
    assert lat.min() == pytest.approx(s_ns, rel=1e-9)  # service is deterministic
    pk_wait = rho * s_ns / (2 * (1 - rho))
    assert (lat - s_ns).mean() == pytest.approx(pk_wait, rel=0.03)
    assert little_holds(r.summary)


@pytest.mark.parametrize("arrivals", [{"kind": "poisson", "qps": 20_000.0},
                                      {"kind": "closed", "clients": 3, "think_us": 20.0}])
@pytest.mark.parametrize("policy", ["fixed", "dynamic", "split"])
def test_littles_law_and_accounting_on_every_policy(arrivals, policy):
    r = accelsim.serve(hw="harpv2_centaur", workload="rm1", mapping="centaur", batch_size=8, arrivals=arrivals,
                       queries=150, policy=policy, timeout_us=30.0,
                       query_size={"dist": "lognormal", "median": 4, "sigma": 1.0, "max_size": 32})
    s, q = r.summary, r.outputs
    assert little_holds(s)
    assert (q["latency_ns"] >= q["wait_ns"]).all() and (q["wait_ns"] >= 0).all()
    # Every sample of every query went through exactly one batch.
    assert s["samples"] == int(q["size"].sum())
    assert s["mean_batch_samples"] * s["batches"] == pytest.approx(s["samples"])
    if policy == "fixed":
        assert s["mean_batch_samples"] <= 8


def test_closed_loop_never_has_more_queries_than_clients_in_flight():
    r = accelsim.serve(hw="harpv2_centaur", workload="rm1", mapping="centaur", batch_size=4,
                       arrivals={"kind": "closed", "clients": 2, "think_us": 0.0}, queries=60, policy="split",
                       query_size={"dist": "fixed", "size": 4}, sharing=False)
    q = r.outputs.sort_values("arrival_ns")
    t = np.concatenate([q["arrival_ns"], q["done_ns"]])
    step = np.concatenate([np.ones(len(q)), -np.ones(len(q))])
    order = np.lexsort((step, t))  # an answer at t lets the next query in at t
    assert np.cumsum(step[order]).max() <= 2


def test_timestamp_file_arrivals(tmp_path):
    f = tmp_path / "arrivals.txt"
    f.write_text("0\n10\n10\n500\n")
    r = accelsim.serve(hw="harpv2_centaur", workload="rm1", batch_size=4, arrivals={"kind": "file", "path": str(f)},
                       queries=10, policy="fixed", query_size={"dist": "fixed", "size": 2})
    assert r.outputs["arrival_ns"].tolist() == [0.0, 10_000.0, 10_000.0, 500_000.0]


def test_bad_timestamp_file_names_the_line(tmp_path):
    from accelsim.errors import InputError
    f = tmp_path / "arrivals.txt"
    f.write_text("0\n10\n5\n")
    with pytest.raises(InputError, match="line 3"):
        accelsim.serve(hw="harpv2_centaur", workload="rm1", arrivals={"kind": "file", "path": str(f)})
