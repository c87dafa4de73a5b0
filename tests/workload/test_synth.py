import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.workload.stackdist import profile_trace, write_distribution
from accelsim.workload.stats import trace_stats
from accelsim.workload.synth import HashPermutation, first_distinct, synthesize
from accelsim.workload.trace import open_trace


def spec(rows=100_000, lookups=20, count=2, bag="fixed"):
    return parse_model(ModelSpec, dict(name="s", source="test", embedding_dim=4,
                                       tables=[{"rows": rows, "lookups_per_sample": lookups, "count": count,
                                                "bag_size_dist": bag}],
                                       bottom_mlp=[3, 4], top_mlp=[1]))


def all_indices(path, table=0):
    return [b.tables[table] for b in open_trace(path)]


@given(st.integers(1, 5000), st.integers(0, 2**63))
def test_hash_permutation_is_a_bijection(n, key):
    y = HashPermutation(n, key)(np.arange(n))
    assert y.min() >= 0 and y.max() < n
    assert np.array_equal(np.sort(y), np.arange(n))


def test_hash_permutation_is_keyed_and_scatters():
    a, b = HashPermutation(1 << 20, 1)(np.arange(1000)), HashPermutation(1 << 20, 2)(np.arange(1000))
    assert not np.array_equal(a, b)
    assert np.ptp(a) > (1 << 19)  # consecutive ids land all over the table


def test_first_distinct_keeps_first_occurrences_up_to_the_limit():
    values = np.array([5, 5, 3, 5, 1, 2, 2, 9, 9, 9])
    bag_of = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    idx, off = first_distinct(values, bag_of, np.array([2, 5, 1, 4]), 4)
    assert idx.tolist() == [5, 3, 2, 9, 9] and off.tolist() == [0, 2, 4, 5, 5]
    # ids too large for a combined (bag, row) sort key take the lexsort path, with the same result
    big, off2 = first_distinct(values + 2**62, bag_of, np.array([2, 5, 1, 4]), 4)
    assert (big - 2**62).tolist() == idx.tolist() and off2.tolist() == off.tolist()


@pytest.mark.parametrize("dist", ["uniform", "zipf"])
def test_deterministic_per_seed_and_distinct_within_bags(tmp_path, dist):
    s = spec(rows=500, lookups=30, bag="uniform")
    a = synthesize(s, dist=dist, batches=3, batch_size=64, seed=5, out=tmp_path / "a.trace")
    b = synthesize(s, dist=dist, batches=3, batch_size=64, seed=5, out=tmp_path / "b.trace")
    c = synthesize(s, dist=dist, batches=3, batch_size=64, seed=6, out=tmp_path / "c.trace")
    for x, y in zip(open_trace(a), open_trace(b)):
        for tx, ty in zip(x.tables, y.tables):
            assert np.array_equal(tx.indices, ty.indices) and np.array_equal(tx.offsets, ty.offsets)
    assert not np.array_equal(open_trace(a).batch(0).tables[0].indices, open_trace(c).batch(0).tables[0].indices)
    lengths_seen = set()
    for batch in open_trace(a):
        assert not np.array_equal(batch.tables[0].indices, batch.tables[1].indices)  # tables draw independently
        for t in batch.tables:
            for lo, hi in zip(t.offsets[:-1], t.offsets[1:]):
                bag = t.indices[lo:hi]
                assert len(np.unique(bag)) == len(bag) and 1 <= len(bag) <= 30
                lengths_seen.add(len(bag))
    assert len(lengths_seen) > 10  # bag sizes vary: U[1, 30]


def test_fixed_bags_shrink_only_by_duplicates(tmp_path):
    big = synthesize(spec(rows=10**7, lookups=20), dist="uniform", batches=1, batch_size=50, seed=1,
                     out=tmp_path / "big.trace")
    assert (np.diff(open_trace(big).batch(0).tables[0].offsets) == 20).all()
    small = synthesize(spec(rows=25, lookups=20), dist="uniform", batches=1, batch_size=50, seed=1,
                       out=tmp_path / "small.trace")
    lengths = np.diff(open_trace(small).batch(0).tables[0].offsets)
    assert lengths.max() <= 20 and lengths.mean() < 19  # dlrm-style np.unique removes repeats


def hot_share(path, key="top_1pct_rows"):
    return trace_stats(open_trace(path))["overall"]["hot_set_access_share"][key]


def test_zipf_head_and_hot_set_coverage_grow_with_alpha(tmp_path):
    shares, heads = [], []
    for alpha in (0.9, 1.05, 1.2, 1.5):
        path = synthesize(spec(rows=50_000, lookups=10), dist="zipf", alpha=alpha, batches=4, batch_size=128,
                          seed=3, out=tmp_path / f"z{alpha}.trace")
        shares.append(hot_share(path))
        idx = np.concatenate([t.indices for b in open_trace(path) for t in b.tables[:1]])
        heads.append(np.bincount(idx).max() / len(idx))
    assert shares == sorted(shares) and shares[-1] > shares[0] + 0.3
    assert heads == sorted(heads)
    assert open_trace(tmp_path / "z0.9.trace").meta.extra["effective_dist"] == "uniform"  # FBGEMM: alpha <= 1


def test_zipf_permutation_removes_spatial_locality(tmp_path):
    path = synthesize(spec(rows=1_000_000, lookups=10, count=1), dist="zipf", alpha=1.5, batches=2,
                      batch_size=256, seed=1, out=tmp_path / "z.trace")
    idx = np.concatenate([b.tables[0].indices for b in open_trace(path)])
    hot = np.argsort(np.bincount(idx, minlength=1_000_000))[::-1][:20]
    assert hot.max() > 1000  # without the permutation Zipf's hottest rows are rows 0, 1, 2, ...


@pytest.mark.parametrize("reuse", [0.2, 0.5])
def test_reuse_fraction_is_close_to_requested(tmp_path, reuse):
    path = synthesize(spec(rows=10**8, lookups=20, count=2), dist="uniform", reuse=reuse, batches=4,
                      batch_size=256, seed=2, out=tmp_path / "r.trace")
    batches = list(open_trace(path))
    for t in range(2):
        fracs = [np.isin(cur.tables[t].indices, prev.tables[t].indices).mean()
                 for prev, cur in zip(batches[:-1], batches[1:])]
        assert np.allclose(fracs, reuse, atol=0.02)
    assert np.isin(batches[0].tables[0].indices, batches[1].tables[1].indices).mean() < 0.01


def test_stackdist_trace_draws_from_the_distribution(tmp_path):
    rng = np.random.default_rng(0)
    n = 4000
    stream = np.arange(n) // 4 + rng.integers(0, 8, n)
    dist_file = tmp_path / "d.log"
    write_distribution(dist_file, *profile_trace(stream))
    s = spec(rows=2000, lookups=1, count=2)
    path = synthesize(s, dist="stackdist", stackdist_file=dist_file, batches=8, batch_size=500, seed=1,
                      out=tmp_path / "s.trace")
    idx = np.concatenate([b.tables[0].indices for b in open_trace(path)])
    assert set(idx.tolist()) <= set(stream.tolist())
    _, d1, c1 = profile_trace(stream)
    _, d2, c2 = profile_trace(idx)
    f1 = np.concatenate([[0], c1])[np.searchsorted(d1, np.arange(20), "right")]
    f2 = np.concatenate([[0], c2])[np.searchsorted(d2, np.arange(20), "right")]
    assert np.abs(f1 - f2).max() < 0.04
    with pytest.raises(InputError, match=r"d.log: row \d+ in the unique accesses is out of range for table 0"):
        synthesize(spec(rows=100), dist="stackdist", stackdist_file=dist_file, batches=1, batch_size=1, seed=1,
                   out=tmp_path / "bad.trace")


def test_stackdist_per_table_files(tmp_path):
    write_distribution(tmp_path / "d0.log", np.array([1, 2]), np.array([0, 1]), np.array([0.5, 1.0]))
    write_distribution(tmp_path / "d1.log", np.array([7, 8]), np.array([0, 1]), np.array([0.5, 1.0]))
    path = synthesize(spec(rows=10, lookups=1), dist="stackdist", stackdist_file=tmp_path / "d{table}.log",
                      batches=2, batch_size=10, seed=0, out=tmp_path / "p.trace")
    b = open_trace(path).batch(1)
    assert set(b.tables[0].indices.tolist()) <= {1, 2} and set(b.tables[1].indices.tolist()) <= {7, 8}


def test_generator_streams_in_chunks(tmp_path):
    path = synthesize(spec(rows=1000, lookups=10), dist="zipf", batches=12, batch_size=32, seed=0,
                      out=tmp_path / "c.trace", chunk_lookups=1200)
    assert len(list(path.glob("chunk_*.indices.npy"))) == 6  # 640 lookups a batch: a chunk every 2 batches
    assert open_trace(path).meta.num_batches == 12


@pytest.mark.parametrize("kwargs,needle", [
    (dict(dist="zipf", batches=0), "batches and batch size must be >= 1"),
    (dict(dist="zipf", seed=-1), "seed must be >= 0"),
    (dict(dist="uniform", reuse=1.5), "reuse must be a fraction"),
    (dict(dist="gauss"), "unknown distribution"),
    (dict(dist="stackdist"), "needs a distribution file"),
    (dict(dist="stackdist", stackdist_file="/nonexistent/d.log"), "/nonexistent/d.log: cannot read"),
    (dict(dist="uniform", stackdist_file="d.log"), "only used with --dist stackdist"),
])
def test_bad_parameters_write_nothing(tmp_path, kwargs, needle):
    args = dict(batches=1, batch_size=4, seed=0, out=tmp_path / "x.trace") | kwargs
    with pytest.raises(InputError, match=needle):
        synthesize(spec(), **args)
    assert os.listdir(tmp_path) == []
