import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.errors import InputError
from accelsim.hw.scratchpad import Scratchpad


def test_pins_most_frequent_rows_with_deterministic_ties():
    counts = [np.array([5, 0, 9, 5]), np.array([9, 1])]
    pad = Scratchpad.from_hot_rows(3 * 64, 64, counts=counts)
    # Ranked: (t0, r2)=9 and (t1, r0)=9 tie -> table 0 first; then (t0, r0)=5 before (t0, r3)=5 by row id.
    np.testing.assert_array_equal(pad.pinned(0), [0, 2])
    np.testing.assert_array_equal(pad.pinned(1), [0])
    assert pad.used_bytes == 192


def test_ranks_by_lookups_per_byte_and_never_pins_unused_rows():
    pad = Scratchpad.from_hot_rows(1000, [256, 64], counts=[np.array([8, 0]), np.array([3, 0, 0])])
    # 8/256 < 3/64, so the small row goes first; the big one still fits; rows never looked up stay out.
    np.testing.assert_array_equal(pad.pinned(0), [0])
    np.testing.assert_array_equal(pad.pinned(1), [0])


def test_stops_at_first_row_that_does_not_fit():
    pad = Scratchpad.from_hot_rows(300, [256, 64], counts=[np.array([8]), np.array([30, 20, 10])])
    np.testing.assert_array_equal(pad.pinned(1), [0, 1, 2])
    assert pad.pinned(0).size == 0


@given(st.lists(st.lists(st.integers(0, 20), max_size=60), min_size=1, max_size=3), st.integers(0, 20))
def test_index_streams_profile_hits_like_a_set(streams, capacity_rows):
    arrays = [np.array(s, dtype=np.int64) for s in streams]
    pad = Scratchpad.from_hot_rows(capacity_rows * 32, 32, index_streams=arrays)
    same = Scratchpad.from_hot_rows(capacity_rows * 32, 32,
                                    counts=[np.bincount(a) if a.size else a for a in arrays])
    total_pinned = 0
    for t, a in enumerate(arrays):
        pinned = set(pad.pinned(t).tolist())
        assert pinned == set(same.pinned(t).tolist())
        np.testing.assert_array_equal(pad.lookup(t, a), [r in pinned for r in a.tolist()])
        total_pinned += len(pinned)
        if pinned:  # every pinned row is at least as frequent as every unpinned row of its table
            c = np.bincount(a)
            unpinned = [r for r in range(c.size) if r not in pinned]
            assert not unpinned or c[list(pinned)].min() >= c[unpinned].max()
    assert total_pinned <= capacity_rows
    assert pad.lookups.sum() == sum(a.size for a in arrays)


def test_explicit_pins_and_counters():
    pad = Scratchpad(256, 64, [np.array([7, 3]), np.array([1])])
    np.testing.assert_array_equal(pad.lookup(0, np.array([3, 4, 7, 7])), [True, False, True, True])
    np.testing.assert_array_equal(pad.lookup(1, np.array([0, 1])), [False, True])
    np.testing.assert_array_equal(pad.hits, [3, 1])
    np.testing.assert_array_equal(pad.lookups, [4, 2])
    pad.reset_counters()
    assert pad.hits.sum() == 0 and pad.lookups.sum() == 0


def test_bad_input_is_input_error():
    with pytest.raises(InputError, match="capacity"):
        Scratchpad(100, 64, [np.array([0, 1])])
    with pytest.raises(InputError, match="exactly one"):
        Scratchpad.from_hot_rows(100, 64)
    with pytest.raises(InputError, match="table 2"):
        Scratchpad(128, 64, [np.array([0])]).lookup(2, np.array([0]))
    with pytest.raises(InputError, match="row_bytes"):
        Scratchpad(128, [64, 64], [np.array([0])])
    with pytest.raises(InputError, match="negative"):
        Scratchpad(128, 64, [np.array([0])]).lookup(0, np.array([-1]))
