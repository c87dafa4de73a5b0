from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.config.base import parse_model
from accelsim.config.cache import CacheConfig
from accelsim.errors import InputError
from accelsim.hw.cache import (AnalyticCache, Cache, CacheHierarchy, analytic_hit_rate, reuse_profile,
                               row_addresses)

LINE = 64


class RefLRU:
    """Brute-force LRU: one OrderedDict per set, most recent last; values are dirty flags."""

    def __init__(self, sets, ways):
        self.sets, self.ways = sets, ways
        self.data = [OrderedDict() for _ in range(sets)]

    def lookup(self, line):
        s = self.data[line % self.sets]
        if line in s:
            s.move_to_end(line)
            return True
        return False

    def fill(self, line):
        s = self.data[line % self.sets]
        evicted = s.popitem(last=False) if len(s) == self.ways else None
        s[line] = False
        return evicted

    def invalidate(self, line):
        return self.data[line % self.sets].pop(line, None)

    def set_dirty(self, line):
        s = self.data[line % self.sets]
        if line in s:
            s[line] = True
            return True
        return False


class RefSRRIP:
    """Brute-force SRRIP-HP: per set a list of [line, rrpv, dirty] ways; None is an empty way."""

    def __init__(self, sets, ways, rrpv_bits):
        self.sets, self.ways, self.max = sets, ways, (1 << rrpv_bits) - 1
        self.data = [[None] * ways for _ in range(sets)]

    def _way(self, line):
        for w, e in enumerate(self.data[line % self.sets]):
            if e is not None and e[0] == line:
                return w
        return None

    def lookup(self, line):
        w = self._way(line)
        if w is None:
            return False
        self.data[line % self.sets][w][1] = 0
        return True

    def fill(self, line):
        ways = self.data[line % self.sets]
        evicted = None
        if None in ways:
            w = ways.index(None)
        else:
            while not any(e[1] == self.max for e in ways):
                for e in ways:
                    e[1] += 1
            w = next(i for i, e in enumerate(ways) if e[1] == self.max)
            evicted = (ways[w][0], ways[w][2])
        ways[w] = [line, self.max - 1, False]
        return evicted

    def invalidate(self, line):
        w = self._way(line)
        if w is None:
            return None
        dirty = self.data[line % self.sets][w][2]
        self.data[line % self.sets][w] = None
        return dirty

    def set_dirty(self, line):
        w = self._way(line)
        if w is None:
            return False
        self.data[line % self.sets][w][2] = True
        return True


def ref_hierarchy(cfgs, lines, writes, inclusive):
    """Reference of the documented hierarchy semantics, built on the brute-force levels."""
    levels = [RefLRU(c.sets, c.ways) if c.policy == "lru" else RefSRRIP(c.sets, c.ways, c.rrpv_bits) for c in cfgs]
    n = len(levels)
    counts = np.zeros((n, 6), dtype=np.int64)  # accesses hits misses evictions writebacks back_invalidations
    served_by, memory_writebacks = [], 0

    def write_back(line, below):
        nonlocal memory_writebacks
        if not any(lv.set_dirty(line) for lv in levels[below:]):
            memory_writebacks += 1

    for line, write in zip(lines, writes):
        served = n
        for i, lv in enumerate(levels):
            counts[i, 0] += 1
            if lv.lookup(line):
                counts[i, 1] += 1
                served = i
                break
            counts[i, 2] += 1
        for i in range(served - 1, -1, -1):
            evicted = levels[i].fill(line)
            if evicted is None:
                continue
            old, dirty = evicted
            counts[i, 3] += 1
            if inclusive:
                for up in range(i):
                    d = levels[up].invalidate(old)
                    if d is not None:
                        counts[up, 5] += 1
                        dirty = dirty or d
            if dirty:
                counts[i, 4] += 1
                write_back(old, i + 1)
        if write:
            levels[0].set_dirty(line)
        served_by.append(served)
    return np.array(served_by), counts, memory_writebacks


def cfg(name="c", sets=4, ways=2, policy="lru", rrpv_bits=2, hit_latency_ns=1.0, line_bytes=LINE):
    return CacheConfig(name=name, size_bytes=sets * ways * line_bytes, ways=ways, line_bytes=line_bytes,
                       hit_latency_ns=hit_latency_ns, policy=policy, rrpv_bits=rrpv_bits)


def counter_matrix(counters):
    return np.array([[c.accesses, c.hits, c.misses, c.evictions, c.writebacks, c.back_invalidations]
                     for c in counters])


traces = st.lists(st.tuples(st.integers(0, 24), st.booleans()), min_size=30, max_size=150)
geometry = st.tuples(st.sampled_from([1, 2, 3, 4]), st.sampled_from([1, 2, 3, 4]))


@given(traces, geometry, st.sampled_from(["lru", "srrip"]), st.integers(1, 3), st.integers(0, 150))
def test_single_cache_matches_brute_force(trace, geom, policy, rrpv_bits, split):
    c = cfg(sets=geom[0], ways=geom[1], policy=policy, rrpv_bits=rrpv_bits)
    lines = np.array([t[0] for t in trace], dtype=np.int64)
    writes = np.array([t[1] for t in trace])
    cache = Cache(c)
    # Two calls: state must persist between them.
    hit = np.concatenate([cache.access(lines[:split] * LINE + 5, writes[:split]),
                          cache.access(lines[split:] * LINE, writes[split:])])
    served, counts, _ = ref_hierarchy([c], lines, writes, inclusive=False)
    np.testing.assert_array_equal(hit, served == 0)
    np.testing.assert_array_equal(counter_matrix([cache.counters]), counts)


@given(traces, st.lists(st.tuples(geometry, st.sampled_from(["lru", "srrip"])), min_size=1, max_size=3),
       st.booleans())
def test_hierarchy_matches_reference_and_counts_add_up(trace, levels, inclusive):
    cfgs = [cfg(name=f"L{i}", sets=g[0], ways=g[1], policy=p) for i, (g, p) in enumerate(levels)]
    lines = np.array([t[0] for t in trace], dtype=np.int64)
    writes = np.array([t[1] for t in trace])
    h = CacheHierarchy(cfgs, inclusive=inclusive)
    served = h.access(lines * LINE, writes)
    ref_served, ref_counts, ref_mem_wb = ref_hierarchy(cfgs, lines, writes, inclusive)
    np.testing.assert_array_equal(served, ref_served)
    m = counter_matrix(h.counters)
    np.testing.assert_array_equal(m, ref_counts)
    assert h.memory_writebacks == ref_mem_wb
    assert (m[:, 1] + m[:, 2] == m[:, 0]).all()
    assert (m[1:, 0] == m[:-1, 2]).all()
    assert m[0, 0] == len(trace)
    np.testing.assert_array_equal(np.bincount(served, minlength=len(cfgs) + 1)[:-1], m[:, 1])
    assert h.memory_accesses == int((served == len(cfgs)).sum())


def test_inclusive_back_invalidates_and_non_inclusive_keeps():
    small, big = cfg(name="L1", sets=1, ways=4), cfg(name="L2", sets=1, ways=2)
    lines = np.array([0, 1, 2, 0]) * LINE  # L2 evicts line 0 on the fill of line 2
    nine = CacheHierarchy([small, big])
    assert nine.access(lines)[-1] == 0
    incl = CacheHierarchy([small, big], inclusive=True)
    assert incl.access(lines)[-1] == 2
    assert incl.counters[0].back_invalidations == 2  # line 0 on the fill of 2, then line 1 on the refill of 0


def test_srrip_keeps_a_reused_line_through_a_scan_that_lru_loses():
    trace = np.array([0, 0, 1, 2, 0]) * LINE
    assert Cache(cfg(sets=1, ways=2, policy="srrip")).access(trace).tolist() == [False, True, False, False, True]
    assert Cache(cfg(sets=1, ways=2, policy="lru")).access(trace).tolist() == [False, True, False, False, False]


def test_direct_mapped_conflicts_and_two_ways_do_not():
    a, b = 0, 8 * LINE  # same set of an 8-set cache
    trace = np.array([a, b] * 10)
    dm = Cache(cfg(sets=8, ways=1))
    assert not dm.access(trace).any()
    two = Cache(cfg(sets=4, ways=2))  # same capacity
    assert two.access(trace)[2:].all()
    assert dm.counters.evictions == trace.size - 1


def test_writes_make_dirty_evictions_write_back_once():
    c = Cache(cfg(sets=1, ways=1))
    c.access(np.array([0, 0, LINE, 2 * LINE]), np.array([True, False, False, False]))
    assert c.counters.writebacks == 1
    assert c.counters.evictions == 2


def test_reset_empties_state_and_counters():
    c = Cache(cfg())
    c.access(np.arange(4) * LINE)
    c.reset()
    assert not c.access(np.arange(4) * LINE).any()
    assert c.counters.accesses == 4


def test_latency_sums_levels_probed():
    h = CacheHierarchy([cfg(name="L1", hit_latency_ns=1.5), cfg(name="L2", sets=8, hit_latency_ns=4.0)])
    np.testing.assert_allclose(h.latency_ns(np.array([0, 1, 2]), memory_latency_ns=80.0), [1.5, 5.5, 85.5])


def _zipf_lines(n, rows, seed):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, rows + 1) ** 1.05
    return rng.permutation(rows)[np.searchsorted(np.cumsum(p) / p.sum(), rng.random(n))]


BASE = dict(name="base", size_bytes=4096, ways=4, line_bytes=64, hit_latency_ns=2.0, policy="srrip", rrpv_bits=2)


@pytest.mark.parametrize("field,value", [("size_bytes", 8192), ("ways", 2), ("line_bytes", 128),
                                         ("policy", "lru"), ("rrpv_bits", 3), ("hit_latency_ns", 3.0),
                                         ("name", "other")])
def test_every_config_field_changes_a_result(field, value):
    addr = _zipf_lines(20_000, 4096, seed=1) * 64 + 32

    def outcome(c):
        h = CacheHierarchy([c])
        served = h.access(addr)
        return h.counters[0].name, h.counters[0].hits, float(h.latency_ns(served, 50.0).sum())

    assert outcome(CacheConfig(**BASE)) != outcome(CacheConfig(**{**BASE, field: value}))


@pytest.mark.parametrize("patch,field", [
    ({"size_bytes": 4000}, "size_bytes"), ({"line_bytes": 48}, "line_bytes"), ({"policy": "fifo"}, "policy"),
    ({"ways": 0}, "ways"), ({"rrpv_bits": 0}, "rrpv_bits"), ({"sizebytes": 1}, "sizebytes"),
])
def test_bad_config_is_one_line_input_error_naming_field(patch, field):
    with pytest.raises(InputError, match=field) as err:
        parse_model(CacheConfig, {**BASE, **patch}, source="hw.yaml")
    assert "\n" not in str(err.value) and str(err.value).startswith("hw.yaml")


def test_hierarchy_rejects_mixed_line_sizes_and_bad_addresses():
    with pytest.raises(InputError, match="line size"):
        CacheHierarchy([cfg(), cfg(line_bytes=128)])
    with pytest.raises(InputError, match="addr_bytes"):
        Cache(cfg()).access(np.array([64, -1]))
    with pytest.raises(InputError, match="is_write"):
        Cache(cfg()).access(np.array([64]), np.array([1, 0]))


@given(st.integers(0, 1000), st.lists(st.integers(0, 50), max_size=20), st.integers(1, 300),
       st.sampled_from([32, 64, 128]))
def test_row_addresses_cover_each_rows_bytes(base, rows, row_bytes, line_bytes):
    got = row_addresses(base, np.array(rows, dtype=np.int64), row_bytes, line_bytes)
    want = [a for r in rows for a in
            sorted({(base + r * row_bytes + b) // line_bytes * line_bytes for b in range(row_bytes)})]
    np.testing.assert_array_equal(got, want)


@given(st.lists(st.integers(0, 30), max_size=200))
def test_reuse_profile_matches_brute_force_stack(lines):
    stack, dists, cold = [], [], 0
    for x in lines:
        if x in stack:
            d = len(stack) - 1 - stack.index(x)
            dists.append(d)
            stack.remove(x)
        else:
            cold += 1
        stack.append(x)
    prof = reuse_profile(np.array(lines, dtype=np.int64) * LINE, LINE)
    assert prof.cold == cold
    np.testing.assert_array_equal(prof.distance_counts, np.bincount(np.array(dists, dtype=np.int64)))


@given(st.lists(st.integers(0, 60), min_size=1, max_size=300), st.integers(1, 16), st.integers(0, 300))
def test_analytic_is_exact_for_fully_associative_lru(lines, ways, split):
    c = cfg(sets=1, ways=ways)
    addr = np.array(lines, dtype=np.int64) * LINE
    detailed = Cache(c).access(addr).mean()
    assert analytic_hit_rate(addr, c) == pytest.approx(detailed)
    twin = AnalyticCache(c)  # state must carry across calls
    twin.access(addr[:split])
    twin.access(addr[split:])
    assert twin.hit_rate == pytest.approx(detailed)


@pytest.mark.parametrize("sets,ways", [(64, 16), (128, 8), (512, 2), (1024, 1)])
@pytest.mark.parametrize("trace", ["uniform", "zipf"])
def test_analytic_tracks_set_associative_lru(sets, ways, trace):
    """Stated bound: |analytic - detailed| hit rate <= 0.01 absolute for LRU, 60k accesses over 16x capacity."""
    rows = 16 * sets * ways
    lines = np.random.default_rng(3).integers(0, rows, 60_000) if trace == "uniform" \
        else _zipf_lines(60_000, rows, seed=3)
    c = cfg(sets=sets, ways=ways)
    addr = lines * LINE
    detailed = Cache(c).access(addr).mean()
    twin = AnalyticCache(c)
    twin.access(addr[:30_000])
    twin.access(addr[30_000:])
    assert abs(twin.hit_rate - detailed) <= 0.01
    assert abs(analytic_hit_rate(addr, c) - detailed) <= 0.01
