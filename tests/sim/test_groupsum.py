"""group_sums is pandas' groupby sum bit for bit: keys in any order or already sorted (pandas' two summations),
NaN, infinities, signed zeros and cancellation."""

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.sim.groupsum import group_sums

VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                   st.floats(-1e6, 1e6), st.sampled_from([0.1, 1e-9, 3.0e12, -0.0, 1e16, -1e16]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["cpu", "links", "sparse_engine", "dense_engine", "dram", "a", "B"]),
                          VALUES), max_size=60), st.booleans())
def test_group_sums_are_pandas_groupby_sums(rows, presorted):
    if presorted:
        rows = sorted(rows, key=lambda r: r[0])
    keys = [k for k, _ in rows]
    values = np.array([v for _, v in rows], dtype=np.float64)
    want = pd.DataFrame({"k": keys, "v": values}).groupby("k")["v"].sum()
    got = group_sums(keys, values)
    assert list(got) == list(want.index)
    for k, v in want.items():
        assert math.isnan(got[k]) if math.isnan(v) else \
            np.float64(got[k]).view(np.int64) == np.float64(v).view(np.int64), (k, got[k], v)
