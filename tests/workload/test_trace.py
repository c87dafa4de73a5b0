import json
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.workload.trace import (SCHEMA_VERSION, Batch, TableBags, TraceWriter, check_against_spec, open_trace,
                                     validate_batch)

SPEC = parse_model(ModelSpec, dict(name="tiny", source="test", embedding_dim=4,
                                   tables=[{"rows": 10, "lookups_per_sample": 2, "count": 2}],
                                   bottom_mlp=[3, 4], top_mlp=[1]))


def bags(lengths, rows, rng, weights=False):
    off = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    idx = rng.integers(0, rows, off[-1])
    return TableBags(idx, off, rng.random(off[-1]).astype(np.float32) if weights else None)


@st.composite
def traces(draw):
    T = draw(st.integers(1, 3))
    rows = draw(st.lists(st.integers(1, 50), min_size=T, max_size=T))
    weighted = draw(st.lists(st.booleans(), min_size=T, max_size=T))
    dense = draw(st.sampled_from([None, 1, 3]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(draw(st.integers(1, 5))):
        B = draw(st.integers(1, 5))
        batches.append(Batch(tuple(bags(rng.integers(0, 5, B), r, rng, w) for r, w in zip(rows, weighted)),
                             dense=None if dense is None else rng.random((B, dense), dtype=np.float32),
                             outputs=None if dense is None else rng.random(B, dtype=np.float32)))
    return rows, batches, draw(st.integers(1, 30))


def same(a: Batch, b: Batch):
    assert len(a.tables) == len(b.tables)
    for x, y in zip(a.tables, b.tables):
        np.testing.assert_array_equal(x.indices, y.indices)
        np.testing.assert_array_equal(x.offsets, y.offsets)
        assert (x.weights is None) == (y.weights is None)
        if x.weights is not None:
            np.testing.assert_array_equal(x.weights, y.weights)
    for x, y in ((a.dense, b.dense), (a.outputs, b.outputs)):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)


@given(traces())
def test_round_trip_ragged_csr_with_and_without_weights(tmp_path_factory, case):
    rows, batches, chunk = case
    path = tmp_path_factory.mktemp("t") / "x.trace"
    with TraceWriter(path, source="test", table_rows=rows, seed=7, extra={"k": 1}, chunk_lookups=chunk) as w:
        for b in batches:
            w.write(b)
    r = open_trace(path)
    assert len(r) == len(batches)
    assert r.meta.table_rows == tuple(rows) and r.meta.seed == 7 and r.meta.extra == {"k": 1}
    assert r.meta.num_lookups == sum(b.num_lookups for b in batches)
    assert r.meta.batch_size == max(b.batch_size for b in batches)
    assert r.meta.weighted_tables == tuple(t for t, b in enumerate(batches[0].tables) if b.weights is not None)
    assert r.meta.has_weights == bool(r.meta.weighted_tables)
    assert r.meta.num_samples == sum(b.batch_size for b in batches)
    for a, b in zip(batches, r):
        same(a, b)


def test_many_batches_stream_across_chunk_boundaries(tmp_path):
    rng = np.random.default_rng(0)
    batches = [Batch((bags(rng.integers(0, 4, 8), 100, rng), bags(rng.integers(0, 4, 8), 7, rng)))
               for _ in range(60)]
    path = tmp_path / "many.trace"
    with TraceWriter(path, source="test", table_rows=[100, 7], chunk_lookups=50) as w:
        for b in batches:
            w.write(b)
    chunks = sorted(p.name for p in path.glob("chunk_*.indices.npy"))
    assert len(chunks) > 5
    r = open_trace(path)
    for i in (59, 0, 31, 30, 2):  # random access, including both sides of chunk boundaries
        same(r.batch(i), batches[i])
    for a, b in zip(r, batches):
        same(a, b)
    assert not r.batch(3).tables[0].indices.flags.owndata  # a view of the memory-mapped chunk, not a copy
    meta = json.loads((path / "meta.json").read_text())
    assert next(iter(meta)) == "schema_version" and meta["schema_version"] == SCHEMA_VERSION


def ok_batch():
    return Batch((TableBags(np.array([1, 2, 3]), np.array([0, 1, 3])),
                  TableBags(np.array([4, 5, 9, 0]), np.array([0, 2, 4]))))


def tb(idx, off, w=None):
    return TableBags(np.array(idx), np.array(off), None if w is None else np.array(w, np.float32))


BAD = [
    (Batch((tb([1, 2, 3], [0, 1, 3]), tb([4, 5, 10, 0], [0, 2, 4]))),
     "batch 0, table 1, index position 2: row 10 out of range [0, 10)"),
    (Batch((tb([1, -2, 3], [0, 1, 3]), tb([4], [0, 1, 1]))), "table 0, index position 1: row -2 out of range"),
    (Batch((tb([1, 2, 3], [0, 2, 1, 3]), tb([4], [0, 1, 1, 1]))), "table 0, offset position 2: 1 < previous 2"),
    (Batch((tb([1, 2, 3], [1, 1, 3]), tb([4], [0, 1, 1]))), "table 0, offset position 0: 1, expected 0"),
    (Batch((tb([1, 2, 3], [0, 1, 2]), tb([4], [0, 1, 1]))),
     "table 0, offset position 2: 2, expected len(indices) = 3 (ragged)"),
    (Batch((tb([1, 2, 3], [0, 1, 3]), tb([4], [0, 1]))), "table 1: batch size 1, expected 2"),
    (Batch((tb([1, 2, 3], [0, 1, 3], [1, 1]), tb([4], [0, 1, 1], [1]))), "table 0: weights length 2, expected 3"),
    (Batch((tb([1, 2, 3], [0, 1, 3], [1, 1, 1]), tb([4], [0, 1, 1]))), "table 0: has per-sample weights but"),
    (Batch((tb([1, 2, 3], [0, 1, 3]), tb([4], [0, 1, 1])), dense=np.zeros((3, 2), np.float32)),
     "dense inputs must be a 2-D float array with 2 rows"),
    (Batch((tb([1, 2, 3], [0, 1, 3]),)), "batch 0: 1 tables, expected 2"),
    (Batch(()), "batch 0: batch has no tables"),
    (Batch((tb([1.5], [0, 1]), tb([4], [0, 1]))), "table 0: indices must be a 1-D integer array"),
    (Batch((tb([1], [0, 1], [np.nan]), tb([4], [0, 1], [1]))), "table 0, weight position 0: nan is not finite"),
]


@pytest.mark.parametrize("batch,needle", BAD)
def test_bad_batches_name_file_batch_table_position_and_leave_nothing(tmp_path, batch, needle):
    out = tmp_path / "bad.trace"
    with pytest.raises(InputError) as err:
        with TraceWriter(out, source="test", table_rows=[10, 10]) as w:
            w.write(ok_batch())
            w.write(ok_batch())
            w.write(batch)
    msg = str(err.value)
    assert "\n" not in msg and str(out) in msg and needle.replace("batch 0", "batch 2") in msg
    assert os.listdir(tmp_path) == []


def test_validate_batch_where_prefix():
    with pytest.raises(InputError, match=r"^t.trace: batch 3, table 0, index position 0: row 99"):
        validate_batch(Batch((tb([99], [0, 1]),)), [10], where="t.trace: batch 3")


def test_empty_trace_and_weight_switch_are_rejected(tmp_path):
    with pytest.raises(InputError, match="empty trace"):
        with TraceWriter(tmp_path / "e.trace", source="test", table_rows=[10]):
            pass
    with pytest.raises(InputError, match="batch 1, table 0: has per-sample weights but batch 0 did not"):
        with TraceWriter(tmp_path / "w.trace", source="test", table_rows=[10]) as w:
            w.write(Batch((tb([1], [0, 1]),)))
            w.write(Batch((tb([1], [0, 1], [0.5]),)))
    assert os.listdir(tmp_path) == []


def test_writer_checks_spec_and_meta_records_it(tmp_path):
    with pytest.raises(InputError, match="trace has 1 tables, workload tiny has 2"):
        TraceWriter(tmp_path / "s.trace", source="test", table_rows=[10], spec=SPEC)
    with pytest.raises(InputError, match="table 1: trace has 11 rows, workload tiny has 10"):
        TraceWriter(tmp_path / "s.trace", source="test", table_rows=[10, 11], spec=SPEC)
    with TraceWriter(tmp_path / "s.trace", source="test", table_rows=[10, 10], spec=SPEC) as w:
        w.write(ok_batch())
    meta = open_trace(tmp_path / "s.trace").meta
    assert meta.workload == "tiny" and parse_model(ModelSpec, meta.spec) == SPEC
    check_against_spec(meta, SPEC, where="x")
    other = parse_model(ModelSpec, {**SPEC.model_dump(), "tables": [{"rows": 10, "lookups_per_sample": 2, "count": 3}]})
    with pytest.raises(InputError, match="x: trace has 2 tables, workload tiny has 3"):
        check_against_spec(meta, other, where="x")


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "g.trace"
    with TraceWriter(path, source="test", table_rows=[10, 10]) as w:
        w.write(ok_batch())
    return path


def _edit_meta(path, **changes):
    meta = json.loads((path / "meta.json").read_text())
    meta.update(changes)
    (path / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("damage,needle", [
    (lambda p: _edit_meta(p, schema_version=99), "meta.json: schema_version 99 not supported"),
    (lambda p: (p / "meta.json").write_text("{not json"), "meta.json: unreadable or corrupt JSON"),
    (lambda p: (p / "meta.json").unlink(), "meta.json: missing"),
    (lambda p: _edit_meta(p, num_batches=2), "meta.json: chunks hold 1 batches, num_batches says 2"),
    (lambda p: _edit_meta(p, table_rows=[10, 3]), "batch 0, table 1, index position 0: row 4 out of range [0, 3)"),
    (lambda p: _edit_meta(p, has_weights=True, weighted_tables=[1]), "chunk_00000.weights.npy: missing"),
    (lambda p: _edit_meta(p, has_weights=True), "weighted_tables [] do not fit 2 tables with has_weights True"),
    (lambda p: _edit_meta(p, schema_version=True), "meta.json: schema_version True not supported"),
    (lambda p: (p / "chunk_00000.offsets.npy").unlink(), "chunk_00000.offsets.npy: missing"),
    (lambda p: (p / "chunk_00000.indices.npy").write_bytes((p / "chunk_00000.indices.npy").read_bytes()[:-8]),
     "chunk_00000.indices.npy: corrupt or truncated"),
    (lambda p: np.save(p / "chunk_00000.indices.npy", np.arange(8)), "chunk_00000.bounds.npy: last boundary"),
    (lambda p: np.save(p / "chunk_00000.bounds.npy", np.zeros((2, 2), np.int64)), "chunk_00000.bounds.npy: shape"),
    (lambda p: np.save(p / "chunk_00000.indices.npy", np.arange(7.0)), "expected a 1-D int64 array, got float64"),
])
def test_damaged_traces_name_the_file(good, damage, needle):
    damage(good)
    with pytest.raises(InputError, match=None) as err:
        list(open_trace(good))
    assert needle in str(err.value) and str(good) in str(err.value)


def test_not_a_trace_and_batch_out_of_range(tmp_path, good):
    with pytest.raises(InputError, match="not a trace"):
        open_trace(tmp_path / "nothing")
    with pytest.raises(InputError, match="batch 5 out of range"):
        open_trace(good).batch(5)


def test_a_version_1_trace_still_reads(tmp_path):
    path = tmp_path / "v1.trace"
    batch = Batch((tb([1, 2, 3], [0, 1, 3], [0.5, 1, 2]), tb([4, 5], [0, 2, 2], [3, 4])))
    with TraceWriter(path, source="test", table_rows=[10, 10]) as w:
        w.write(batch)
    meta = json.loads((path / "meta.json").read_text())
    for k in ("weighted_tables", "num_samples", "dense_features", "has_outputs"):
        del meta[k]
    (path / "meta.json").write_text(json.dumps({**meta, "schema_version": 1}))
    r = open_trace(path)
    assert r.meta.weighted_tables == (0, 1) and r.meta.num_samples is None
    same(r.batch(0), batch)


def test_a_given_workload_is_checked_field_by_field_against_the_stored_spec(tmp_path):
    with TraceWriter(tmp_path / "s.trace", source="test", table_rows=[10, 10], spec=SPEC) as w:
        w.write(ok_batch())
    meta = open_trace(tmp_path / "s.trace").meta
    other = parse_model(ModelSpec, {**SPEC.model_dump(), "name": "mine", "embedding_dim": 64, "interaction": "cat",
                                    "pooling": "mean", "bottom_mlp": [3, 64]})
    with pytest.raises(InputError) as err:
        check_against_spec(meta, other, where="s.trace")
    msg = str(err.value)
    assert msg.startswith("s.trace: workload mine is not the model this trace was made with (tiny)")
    for part in ("embedding_dim: trace 4, workload 64", "pooling: trace 'sum', workload 'mean'",
                 "interaction: trace 'dot', workload 'cat'"):
        assert part in msg


@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=5), size=st.integers(1, 8), seed=st.integers(0, 99))
def test_rebatch_keeps_every_sample_in_order(tmp_path_factory, sizes, size, seed):
    from accelsim.workload.trace import batches_at, rebatch

    rng = np.random.default_rng(seed)
    batches = [Batch((bags(rng.integers(0, 3, b), 10, rng, True), bags(rng.integers(0, 3, b), 7, rng)),
                     dense=rng.random((b, 2), dtype=np.float32)) for b in sizes]
    path = tmp_path_factory.mktemp("r") / "r.trace"
    with TraceWriter(path, source="test", table_rows=[10, 7], chunk_lookups=4) as w:
        for b in batches:
            w.write(b)
    r = open_trace(path)
    n = batches_at(r, size)
    cut = rebatch(r, size, n, "r")
    if size == max(sizes):
        assert [b.batch_size for b in cut] == sizes  # the trace's own batches, as they are
    else:
        assert [b.batch_size for b in cut] == [size] * (n - 1) + [sum(sizes) - size * (n - 1)]
    for t in range(2):
        for part in ("indices", "weights"):
            want = [getattr(b.tables[t], part) for b in batches]
            got = [getattr(b.tables[t], part) for b in cut]
            if want[0] is None:
                assert all(g is None for g in got)
            else:
                np.testing.assert_array_equal(np.concatenate(got), np.concatenate(want))
        lengths = np.concatenate([np.diff(b.tables[t].offsets) for b in cut])
        np.testing.assert_array_equal(lengths, np.concatenate([np.diff(b.tables[t].offsets) for b in batches]))
    np.testing.assert_array_equal(np.concatenate([b.dense for b in cut]), np.concatenate([b.dense for b in batches]))
    with pytest.raises(InputError, match=f"cuts into {n} batches at batch size {size}, the point asks for {n + 1}"):
        rebatch(r, size, n + 1, "r")
