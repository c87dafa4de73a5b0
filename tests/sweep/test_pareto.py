"""Pareto front: checked against a brute-force dominance test."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from accelsim.errors import InputError
from accelsim.sweep.pareto import parse_objectives, pareto_front, pareto_mask


def brute_force(costs):
    n = len(costs)
    return np.array([not any(np.all(costs[j] <= costs[i]) and np.any(costs[j] < costs[i]) for j in range(n))
                     for i in range(n)], dtype=bool)


@given(st.integers(1, 3).flatmap(lambda k: arrays(np.int64, st.tuples(st.integers(0, 40), st.just(k)),
                                                  elements=st.integers(0, 5))))
def test_mask_equals_brute_force(costs):  # small integers: many ties and duplicates
    costs = costs.astype(float)
    np.testing.assert_array_equal(pareto_mask(costs), brute_force(costs))


@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.just(2)), elements=st.floats(-1e6, 1e6)),
       st.booleans())
def test_front_of_a_table_minimising_and_maximising(values, maximise_second):
    df = pd.DataFrame({"hash": [f"h{i}" for i in range(len(values))], "status": "ok",
                       "latency_ns": values[:, 0], "qps": values[:, 1]})
    second = "max:qps" if maximise_second else "qps"
    front = pareto_front(df, ["latency_ns", second])
    costs = values * np.array([1.0, -1.0 if maximise_second else 1.0])
    assert set(front["hash"]) == set(df["hash"][brute_force(costs)])
    assert list(front["latency_ns"]) == sorted(front["latency_ns"])


def test_failed_points_and_missing_values_are_not_on_the_front():
    df = pd.DataFrame({"status": ["ok", "error", "ok", "ok"], "a": [2.0, 0.0, np.nan, 3.0], "b": [2.0, 0.0, 0.0, 1.0]})
    front = pareto_front(df, ["a", "b"])
    assert list(front.index) == [0, 3]
    assert list(pareto_front(df, ["a", "b"], maximize=["b"]).index) == [0]


def test_objective_names():
    assert parse_objectives(["latency_ns", "max:qps", "min:energy_uj"]) == [
        ("latency_ns", False), ("qps", True), ("energy_uj", False)]
    assert parse_objectives(["a", "b"], maximize=["b"]) == [("a", False), ("b", True)]
    with pytest.raises(InputError, match="distinct"):
        parse_objectives(["a", "max:a"])
    df = pd.DataFrame({"status": ["ok"], "a": [1.0], "w": ["rm1"]})
    with pytest.raises(InputError, match="no column zz; columns are: status, a, w"):
        pareto_front(df, ["a", "zz"])
    with pytest.raises(InputError, match="must be numeric"):
        pareto_front(df, ["a", "w"])
