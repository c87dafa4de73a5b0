import math
from collections import Counter

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.workload.stats import HOT_SET_FRACTIONS, trace_stats
from accelsim.workload.trace import Batch, TableBags, TraceWriter, open_trace


def write(path, batches, rows, spec=None):
    with TraceWriter(path, source="test", table_rows=rows, spec=spec, chunk_lookups=13) as w:
        for b in batches:
            w.write(b)
    return open_trace(path)


def brute_table(streams_bags, rows):
    """Plain-Python statistics of one table: streams_bags is a list of bags (lists of rows) in trace order."""
    stream = [x for bag in streams_bags for x in bag]
    stack, sds = [], []
    for x in stream:
        if x in stack:
            sds.append(len(stack) - stack.index(x))
            stack.remove(x)
        else:
            sds.append(0)
        stack.append(x)
    buckets = Counter(d.bit_length() - 1 for d in sds if d > 0)
    counts = sorted(Counter(stream).values(), reverse=True)
    hot = {f: sum(counts[:math.ceil(rows * f)]) / len(stream) if stream else 0.0 for f in HOT_SET_FRACTIONS}
    return dict(lookups=len(stream), bags=len(streams_bags), unique=len(set(stream)),
                empty=sum(1 for b in streams_bags if not b), max_bag=max(map(len, streams_bags)),
                first=sds.count(0), buckets=[buckets.get(k, 0) for k in range(max(buckets, default=-1) + 1)],
                hot=hot)


@st.composite
def small_traces(draw):
    rows = draw(st.lists(st.integers(1, 3000), min_size=1, max_size=3))
    batches = []
    for _ in range(draw(st.integers(1, 4))):
        B = draw(st.integers(1, 6))
        tables = []
        for r in rows:
            bags = [draw(st.lists(st.integers(0, min(r, 40) - 1), max_size=6)) for _ in range(B)]
            tables.append(bags)
        batches.append(tables)
    return rows, batches


@given(small_traces())
def test_stats_match_brute_force(tmp_path_factory, case):
    rows, raw = case
    batches = [Batch(tuple(TableBags(np.array([x for bag in bags for x in bag], np.int64),
                                     np.concatenate([[0], np.cumsum([len(b) for b in bags])]))
                           for bags in tables)) for tables in raw]
    stats = trace_stats(write(tmp_path_factory.mktemp("s") / "t.trace", batches, rows))
    total = 0
    for t, r in enumerate(rows):
        ref = brute_table([bag for tables in raw for bag in tables[t]], r)
        got = stats["tables"][t]
        assert (got["lookups"], got["bags"], got["unique_rows"], got["empty_bags"], got["max_bag_lookups"]) == \
            (ref["lookups"], ref["bags"], ref["unique"], ref["empty"], ref["max_bag"])
        assert got["mean_bag_lookups"] == ref["lookups"] / ref["bags"]
        assert got["unique_fraction"] == (ref["unique"] / ref["lookups"] if ref["lookups"] else 0.0)
        assert got["reuse_distance"]["first_touch"] == ref["first"]
        assert [b["count"] for b in got["reuse_distance"]["log2_buckets"]] == ref["buckets"]
        assert [b["min_distance"] for b in got["reuse_distance"]["log2_buckets"]] == \
            [1 << k for k in range(len(ref["buckets"]))]
        for f, key in zip(HOT_SET_FRACTIONS, got["hot_set_access_share"]):
            assert math.isclose(got["hot_set_access_share"][key], ref["hot"][f])
        assert got["gathered_bytes"] is None
        total += ref["lookups"]
    assert stats["overall"]["lookups"] == total
    assert stats["overall"]["gathered_bytes"] is None and "row sizes unknown" in stats["note"]


def test_gathered_bytes_and_hot_set_from_spec(tmp_path):
    spec = parse_model(ModelSpec, dict(name="b", source="test", embedding_dim=8, dtype="fp16",
                                       tables=[{"rows": 1000, "lookups_per_sample": 4, "count": 2}],
                                       bottom_mlp=[3, 8], top_mlp=[1]))
    # table 0: row 7 takes 6 of 10 accesses; the hottest 0.1 % of 1000 rows is that one row
    t0 = TableBags(np.array([7, 7, 1, 7, 2, 7, 3, 7, 4, 7]), np.array([0, 3, 6, 10]))
    t1 = TableBags(np.array([5, 6]), np.array([0, 0, 1, 2]))
    stats = trace_stats(write(tmp_path / "t.trace", [Batch((t0, t1))], [1000, 1000], spec))
    assert stats["tables"][0]["gathered_bytes"] == 10 * 16 and stats["tables"][0]["row_bytes"] == 16
    assert stats["overall"]["gathered_bytes"] == 12 * 16 and "note" not in stats
    assert stats["tables"][0]["hot_set_access_share"]["top_0.1pct_rows"] == 0.6
    assert stats["tables"][0]["hot_set_access_share"]["top_1pct_rows"] == 1.0
    assert stats["overall"]["hot_set_access_share"]["top_0.1pct_rows"] == (6 + 1) / 12
    assert stats["tables"][1]["empty_bags"] == 1 and stats["overall"]["empty_bags"] == 1
    # row 7 reuse distances: 1 (7,7), 2 (1 between), 2, 2, 2 -> one in [1,1], four in [2,3]
    assert [b["count"] for b in stats["tables"][0]["reuse_distance"]["log2_buckets"]] == [1, 4]


def test_compressed_tables_report_their_closed_forms(tmp_path):
    spec = parse_model(ModelSpec, dict(name="c", source="test", embedding_dim=8, interaction="cat",
                                       tables=[{"rows": 1000, "lookups_per_sample": 2, "name": "u", "dtype": "int8",
                                                "compression": {"scheme": "qr", "collisions": 10}},
                                               {"lookups_per_sample": 1, "shared_with": "u"}],
                                       bottom_mlp=[3, 8], top_mlp=[1]))
    t = TableBags(np.array([7, 8, 9]), np.array([0, 2, 3]))
    stats = trace_stats(write(tmp_path / "t.trace", [Batch((t, t))], [1000, 1000], spec))
    t0, t1 = stats["tables"]
    assert (t0["scheme"], t0["bytes_stored"], t0["row_bytes"]) == ("qr", (100 + 10) * 16, 2 * 16)
    assert t0["extra_flops_per_lookup"] == 2 * 2 * 8 and t0["extra_flops_per_bag"] == 8
    assert (t1["shared_with_table"], t1["bytes_stored"]) == (0, 0)
    assert t0["gathered_bytes"] == 3 * 32
