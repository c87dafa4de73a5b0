import bisect
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.errors import InputError
from accelsim.workload.stackdist import (StackDistanceGenerator, StackDistanceProfiler, profile_trace,
                                         read_distribution, write_distribution)


def brute_distances(xs):
    """dlrm trace_profile: sd = stack length - position of the row (top = 1), 0 on a first touch."""
    stack, out = [], []
    for x in xs:
        if x in stack:
            i = stack.index(x)
            out.append(len(stack) - i)
            del stack[i]
        else:
            out.append(0)
        stack.append(x)
    return out


@given(st.lists(st.integers(0, 30), min_size=1, max_size=300), st.lists(st.integers(1, 60), max_size=8))
def test_profiler_matches_naive_lru_stack_across_feeds(xs, cuts):
    xs = np.array(xs)
    bounds = sorted({0, len(xs), *(c % (len(xs) + 1) for c in cuts)})
    prof = StackDistanceProfiler()
    got = np.concatenate([prof.feed(xs[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])
    assert got.tolist() == brute_distances(xs.tolist())
    first = list(dict.fromkeys(xs.tolist()))
    assert prof.unique_keys.tolist() == first
    assert prof.access_counts.tolist() == [Counter(xs.tolist())[k] for k in first]


def test_profiler_compacts_its_slots_on_a_long_stream():
    rng = np.random.default_rng(3)
    xs = rng.integers(0, 40, 5000)
    prof = StackDistanceProfiler()
    got = np.concatenate([prof.feed(c) for c in np.array_split(xs, 50)])
    assert got.tolist() == brute_distances(xs.tolist())


def test_profile_trace_distribution_matches_dlrm_definition():
    xs = [5, 3, 5, 5, 7, 3, 9, 5]
    unique, dist, cdf = profile_trace(np.array(xs))
    sds = brute_distances(xs)  # [0, 0, 2, 1, 0, 3, 0, 4]
    c = Counter(sds)
    assert unique.tolist() == [5, 3, 7, 9]
    assert dist.tolist() == sorted(c)
    np.testing.assert_allclose(cdf, np.cumsum([c[d] for d in sorted(c)]) / len(xs))
    assert cdf[-1] == 1.0


def test_distribution_file_round_trips_in_dlrm_format(tmp_path):
    unique, dist, cdf = profile_trace(np.random.default_rng(0).integers(0, 100, 2000))
    path = tmp_path / "dist.log"
    write_distribution(path, unique, dist, cdf)
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    # dlrm write_dist_to_file: str(list(x))[1:-1] per line
    assert lines[0] == str(unique.tolist())[1:-1] and lines[1] == str(dist.tolist())[1:-1]
    assert lines[2] == str([float(x) for x in cdf])[1:-1]
    u2, d2, c2 = read_distribution(path)
    np.testing.assert_array_equal(u2, unique)
    np.testing.assert_array_equal(d2, dist)
    np.testing.assert_array_equal(c2, cdf)


@pytest.mark.parametrize("text,needle", [
    ("1, 2\n0, 1\n", "expected 3 non-empty lines"),
    ("1, x\n0, 1\n0.5, 1.0\n", "line 1 (unique accesses), position 1: 'x' is not an integer"),
    ("1, 2\n0, 1\n0.5, oops\n", "line 3 (CDF), position 1: 'oops' is not a number"),
    ("1, 1\n0, 1\n0.5, 1.0\n", "repeat a row id"),
    ("1, 2\n1, 2\n0.5, 1.0\n", "must start at 0"),
    ("1, 2\n0, 3\n0.5, 1.0\n", "exceeds the 2 unique"),
    ("1, 2\n0, 1\n0.5\n", "1 CDF values for 2 stack distances"),
    ("1, 2\n0, 1\n0.5, 0.9\n", "end at 1"),
])
def test_bad_distribution_files(tmp_path, text, needle):
    path = tmp_path / "d.log"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_distribution(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def dlrm_generate(line_accesses, list_sd, cumm_sd, us):
    """facebookresearch/dlrm trace_generate_lru + generate_stack_distance, with the uniforms given."""
    line_accesses = list(line_accesses)
    max_sd, n, i, out = list_sd[-1], len(line_accesses), 0, []
    for u in us:
        if i < max_sd:
            u *= cumm_sd[bisect.bisect(list_sd, i) - 1]
        sd = next(v for v, f in zip(list_sd, cumm_sd) if u <= f)
        ref = line_accesses.pop(0 if sd == 0 else n - sd)
        i += sd == 0
        line_accesses.append(ref)
        out.append(ref)
    return out


def test_generator_follows_dlrm_trace_generate_lru_exactly():
    rng = np.random.default_rng(1)
    unique, dist, cdf = profile_trace(rng.integers(0, 60, 3000))
    us = np.random.default_rng(9).random(5000)
    gen = StackDistanceGenerator(unique, dist, cdf, np.random.default_rng(9))
    got = np.concatenate([gen.draw(1234), gen.draw(3766)])  # also crosses slot compactions (2*60 < 1024 slots)
    assert got.tolist() == dlrm_generate(unique.tolist(), dist.tolist(), cdf.tolist(), us.tolist())


def test_profile_of_generated_stream_reproduces_the_distribution():
    # a sliding working set: the regime the LRU stack model reproduces (short maximal distance, see docs)
    rng = np.random.default_rng(0)
    n = 20000
    unique, dist, cdf = profile_trace(np.arange(n) // 4 + rng.integers(0, 8, n))
    gen = StackDistanceGenerator(unique, dist, cdf, np.random.default_rng(1))
    _, d2, c2 = profile_trace(gen.draw(n))
    grid = np.arange(max(dist.max(), d2.max()) + 1)
    f1 = np.concatenate([[0], cdf])[np.searchsorted(dist, grid, "right")]
    f2 = np.concatenate([[0], c2])[np.searchsorted(d2, grid, "right")]
    assert np.abs(f1 - f2).max() < 0.02


def test_empty_stream_is_an_input_error():
    with pytest.raises(InputError, match="empty"):
        profile_trace(np.zeros(0, np.int64))
