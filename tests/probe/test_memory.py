"""Reading the memory probes' curves (made-up curves with known answers), and the chase kernel itself."""

import numpy as np
import pytest

from accelsim.probe.chase import ChaseBuffer, chase
from accelsim.probe.memory import (RowGather, row_gather, streamer_from, WalkRate, walk_intervals, walk_rate, LatencyPoint, MlpPoint, cache_levels, misses_in_flight, translation,
                                   working_sets)
from accelsim.probe.repeat import repeat

KIB, MIB = 1 << 10, 1 << 20


def curve(huge: bool, walk_from: int = 1 << 62, walk_ns: float = 0.0):
    """L1 32 KiB @ 1 ns, L2 1 MiB @ 4 ns, an LLC that really holds 4 MiB (sysfs says 32) @ 15 ns, DRAM 100 ns."""
    out = []
    for ws in working_sets(16 * KIB, 1 << 30):
        lat = 1.0 if ws <= 32 * KIB else 4.0 if ws <= MIB else 15.0 if ws <= 4 * MIB else 100.0
        if not huge and ws >= walk_from:
            lat += walk_ns
        out.append(LatencyPoint(ws, huge, lat, 0.01))
    return out


SYSFS = [("L1D", 32 * KIB), ("L2", MIB), ("L3", 32 * MIB)]


def test_levels_latencies_and_the_effective_llc():
    levels, mem, at = cache_levels(curve(True), SYSFS)
    assert [lv.latency_ns for lv in levels] == [1.0, 4.0, 15.0]
    assert [lv.effective_bytes for lv in levels][:2] == [32 * KIB, MIB]
    assert 4 * MIB <= levels[2].effective_bytes < 6 * MIB  # not the 32 MiB sysfs reports
    assert mem == 100.0 and at >= 64 * levels[2].effective_bytes


def test_an_llc_share_that_ends_before_twice_the_l2_still_shows_its_latency():
    """A guest whose one-chain LLC share (4.5 MiB of 105) ends before twice its 2 MiB L2: the LLC plateau is the
    4 MiB reading, not a point past the share; a single working set the L2 still partly serves is not taken."""
    lat = {2 * MIB: 18.0, 3 * MIB: 44.0, 4 * MIB: 45.0, 6 * MIB: 100.0}
    pts = [LatencyPoint(ws, True, 5.0 if ws <= 48 * KIB else 9.0 if ws < 2 * MIB else lat.get(ws, 145.0), 0.01)
           for ws in working_sets(16 * KIB, 1 << 30)]
    levels, mem, _ = cache_levels(pts, [("L1D", 48 * KIB), ("L2", 2 * MIB), ("L3", 105 * MIB)])
    assert [lv.latency_ns for lv in levels] == [5.0, 9.0, 45.0]
    assert 4 * MIB <= levels[2].effective_bytes < 6 * MIB and mem == 145.0


def test_translation_reach_and_walk():
    tr = translation(curve(False, walk_from=16 * MIB, walk_ns=40.0), curve(True), at_ws=256 * MIB)
    assert tr.reach_bytes == 12 * MIB and tr.page_walk_ns == pytest.approx(40.0)


def test_misses_in_flight_is_littles_law():
    pts = [MlpPoint(1, k, 100.0 * max(1, k / 10), k * 64 / (100.0 * max(1, k / 10)), 0.0) for k in (1, 4, 10, 20)]
    inflight, bw = misses_in_flight(pts, 100.0)
    assert inflight == pytest.approx(10.0) and bw == pytest.approx(6.4)


def test_chase_follows_one_cycle_and_continues_where_it_stopped():
    buf = ChaseBuffer(1024, huge=False)
    try:
        order = buf.use(1000)
        pos = order[:1].copy()
        chase(buf.words, pos, 1000)
        assert pos[0] == order[0]  # a full cycle comes back
        chase(buf.words, pos, 3)
        assert pos[0] == order[3]
    finally:
        buf.close()


def test_repeat_reports_spread_and_stops_on_budget():
    t = repeat(lambda: sum(range(1000)), budget_s=0.2, tol=0.5)
    assert t.converged and t.runs >= 3 and t.spread <= 0.5
    times = iter([1e6, 3e6, 1e6, 3e6, 1e6, 3e6] * 1000)
    t = repeat(lambda: float(next(times)), budget_s=0.01, tol=0.05, warmup=0)
    # the last window of five alternates 1,3,1,3,1 (spread 2) or 3,1,3,1,3 (spread 2/3), by when the budget ends
    assert not t.converged and t.spread > 0.6 and t.median_ns in (1e6, 3e6)


def test_walk_intervals_bind_only_where_4k_pages_are_slower():
    rates = [WalkRate(16 << 20, 2.05, 2.0, 0.01), WalkRate(256 << 20, 10.0, 5.0, 0.01)]
    assert walk_intervals(rates) == [(16 << 20, 0.0), (256 << 20, 10.0)]
    assert walk_intervals(rates, huge=True) == [(16 << 20, 0.0), (256 << 20, 0.0)]  # no packed lines: no walks


def test_huge_pages_that_still_walk_are_read_as_small_translations():
    """A guest whose hypervisor maps it with 4 KiB pages: one line a page on 2 MiB pages (9 ns a hop) is far
    above the same lines packed together (3.5 ns), so tables on huge pages still walk every new 4 KiB page."""
    from accelsim.probe.memory import huge_pages_translate
    ept = [WalkRate(16 << 20, 4.7, 4.2, 0.01, 0.6), WalkRate(256 << 20, 10.2, 9.2, 0.01, 3.5)]
    native = [WalkRate(16 << 20, 4.7, 0.62, 0.01, 0.6), WalkRate(256 << 20, 10.2, 3.6, 0.01, 3.5)]
    assert not huge_pages_translate(ept) and huge_pages_translate(native)
    assert walk_intervals(ept, huge=True) == [(16 << 20, 4.2), (256 << 20, 9.2)]
    assert walk_intervals(native, huge=True) == [(16 << 20, 0.0), (256 << 20, 0.0)]
    assert walk_intervals(ept) == [(16 << 20, 4.7), (256 << 20, 10.2)]  # against the packed lines, not 2 MiB
    assert huge_pages_translate([WalkRate(256 << 20, 10.2, 9.2, 0.01)])  # not probed: as the kernel says


def test_walk_rate_times_both_page_sizes_of_each_span():
    (r,) = walk_rate((4 << 20,), budget_s=0.2, chains=4)
    assert r.span_bytes == 4 << 20 and r.interval_4k_ns > 0 and r.interval_2m_ns > 0
    assert r.latency_4k_ns > 0 and r.latency_dense_ns > 0  # the one-chain pair a walk's latency comes from


def test_walk_latency_is_one_line_a_page_minus_the_same_lines_packed():
    from accelsim.probe.memory import walk_latencies
    rates = [WalkRate(16 << 20, 5.0, 4.0, 0.01, 0.8, 40.0, 12.0), WalkRate(64 << 20, 6.0, 5.0, 0.01, 1.0, 9.0, 10.0),
             WalkRate(256 << 20, 9.0, 8.0, 0.01, 1.5)]  # the last: one-chain pair not probed
    assert walk_latencies(rates) == [(16 << 20, 28.0), (64 << 20, 0.0)]  # a negative difference is noise: 0


@pytest.mark.parametrize("four_line_ns,on", [(48.0, False), (25.0, False), (23.0, True), (13.0, True)])
def test_the_streamer_is_on_when_a_long_row_costs_nearer_one_line_than_four(four_line_ns, on):
    # boundary: the geometric mean of the two mechanisms' costs, sqrt(4) = 2 one-line rows of 12 ns
    got, cost = streamer_from([RowGather(1, 12.0, 0.01), RowGather(4, four_line_ns, 0.01)])
    assert got is on and cost == pytest.approx(four_line_ns / 12.0)


def test_row_gather_times_each_row_size():
    rows = row_gather(4 << 20, budget_s=0.2, lines=(1, 4), chains=4)
    assert [g.lines for g in rows] == [1, 4] and all(g.row_ns > 0 for g in rows)


def test_row_chase_follows_the_cycle_of_row_starts_and_reads_every_line():
    from accelsim.probe.chase import row_chase
    words = np.zeros(4 * 8 * 3, dtype=np.int64)        # 3 rows of 4 lines
    starts = np.array([0, 32, 64])
    words[starts] = [64, 0, 32]                         # row 0 -> 2 -> 1 -> 0
    words[starts + 8] = 1                              # each row's second line holds 1
    pos = np.array([0])
    assert row_chase(words, pos, 3, 32) == 0 + 3 and pos[0] == 0   # back at the start, three rows summed
    row_chase(words, pos, 1, 32)
    assert pos[0] == 64


def test_a_probe_reads_the_fastest_run_not_the_median():
    # two host states alternating (91 and 157 us an L1 call, as run 9 saw): the median lands in either
    times = iter([157e3, 91e3, 157e3, 157e3, 91e3, 157e3] * 100)
    t = repeat(lambda: float(next(times)), budget_s=0.01, tol=0.05, warmup=0)
    assert t.min_ns == 91e3 and t.per(100) == 910.0 and t.median_ns == 157e3


def test_llc_under_load_is_where_the_many_chain_curve_leaves_its_plateau():
    from accelsim.probe.memory import llc_under_load
    MIB = 1 << 20
    curve = [LatencyPoint(w * MIB, True, ns, 0.01) for w, ns in
             [(1, 1.2), (2, 1.2), (4, 1.1), (8, 1.3), (16, 12.0), (32, 11.0), (64, 12.0)]]
    # plateau 1.1 ns, memory 12 ns: threshold sqrt(13.2) = 3.63 ns, crossed between 8 and 16 MiB (log scale)
    got = llc_under_load(curve, 32 * MIB, MIB // 2)
    assert 8 * MIB < got < 16 * MIB
    assert llc_under_load(curve, 6 * MIB, MIB // 2) == 6 * MIB   # never above what sysfs says


def test_many_chains_cost_less_a_line_than_one_beyond_the_caches():
    from accelsim.probe.memory import latency_curve
    one, _ = latency_curve([64 << 20], True, budget_s=0.2)
    many, _ = latency_curve([64 << 20], True, budget_s=0.2, chains=8)
    assert 0 < many[0].latency_ns < one[0].latency_ns   # misses overlap: ns a line falls


def test_a_buffer_split_over_mappings_counts_the_huge_pages_of_all_of_them(tmp_path):
    """numpy advises huge pages from the first 2 MiB boundary on, so one 64 MiB table is two mappings: a small
    head on 4 KiB pages and the rest on huge pages. Reading only the mapping of the first byte said 0%."""
    from accelsim.probe.chase import huge_page_fraction
    head, body = 0x7f0000000000, 0x7f0000001000
    end = body + 64 * MIB
    (tmp_path / "smaps").write_text(
        f"{head:x}-{body:x} rw-p 00000000 00:00 0 \nSize:                  4 kB\nAnonHugePages:         0 kB\n"
        f"{body:x}-{end:x} rw-p 00000000 00:00 0 \nSize:              65536 kB\nAnonHugePages:     63488 kB\n"
        f"{end:x}-{end + 4096:x} rw-p 00000000 00:00 0 \nSize:                  4 kB\nAnonHugePages:         0 kB\n")
    frac = huge_page_fraction(head + 16, 64 * MIB, tmp_path / "smaps")
    assert frac == pytest.approx(63488 / 65536, rel=1e-3)
    assert huge_page_fraction(head + 16, 100, tmp_path / "smaps") == 0.0
    assert huge_page_fraction(head, 64 * MIB, tmp_path / "missing") == 0.0


def test_the_reach_probe_finds_where_one_line_a_page_starts_to_walk():
    from accelsim.probe.memory import walk_reach
    reach, extra, extra_2m = walk_reach(0.3, spans=(1 << 20, 2 << 20, 32 << 20), seed=1)
    for ex in (extra, extra_2m):  # one line a 4 KiB page on 4 KiB pages, and on 2 MiB pages, minus packed
        assert [s for s, _ in ex] == [1 << 20, 2 << 20, 32 << 20] and all(e >= 0 for _, e in ex)
    assert reach in (1 << 19, 1 << 20, 2 << 20, 32 << 20)


def test_the_reach_is_where_the_extra_passes_half_a_walk():
    from accelsim.probe.memory import reach_from
    mib = 1 << 20
    # second-level TLB hits (3-6 ns) up to 4 MiB, then the climb to whole walks (~30 ns) from 16 MiB on
    climb = [(1 * mib, 3.0), (2 * mib, 4.0), (4 * mib, 6.0), (6 * mib, 19.0), (8 * mib, 30.0), (16 * mib, 28.0),
             (32 * mib, 30.0), (64 * mib, 120.0)]
    assert reach_from(climb) == 4 * mib  # half of the median walk (30 ns): 15 ns, first passed at 6 MiB
    assert reach_from([(s, 40.0) for s, _ in climb]) == mib // 2  # walks from the smallest span on
    assert reach_from([(1 * mib, 1.0), (2 * mib, 1.0)]) == 2 * mib  # no span reaches the walk spans: no walk seen


def test_the_first_level_probe_times_each_page_count():
    from accelsim.probe.memory import first_level_tlb
    extra = first_level_tlb(0.2, pages=(8, 256), seed=1)
    assert [n for n, _ in extra] == [8, 256] and all(e >= 0 for _, e in extra)


def test_the_first_level_is_where_the_extra_passes_half_a_miss():
    from accelsim.probe.memory import first_level_from
    climb = [(16, 0.0), (32, 0.1), (48, 0.4), (64, 1.2), (72, 2.1), (128, 2.2), (256, 2.2), (384, 2.6), (512, 2.3)]
    assert first_level_from(climb) == (48, 2.25)  # half the median from 128 pages on (2.25 ns) first passed at 64
    assert first_level_from(climb, far=1024) == (0, 0.0)  # nothing measured beyond: no level seen


def test_rounds_of_the_loaded_latency_curve_keep_each_points_fastest():
    from accelsim.probe.memory import best_points
    a = [MlpPoint(1, 1, 100.0, 0.6, 0.01), MlpPoint(1, 8, 20.0, 25.6, 0.01)]
    b = [MlpPoint(1, 1, 110.0, 0.5, 0.01), MlpPoint(1, 8, 14.0, 36.6, 0.02)]
    assert best_points([a, b]) == [a[0], b[1]]


def test_the_llc_under_many_chains_is_read_off_each_working_sets_fastest_round():
    """A round in which other tenants held more of the L3 loses it at 8 MiB, the other at 16 MiB: the config's
    LLC is the round that kept it longer, at every working set."""
    from accelsim.probe.memory import best_points, llc_under_load
    MIB = 1 << 20
    sizes = (1, 2, 4, 8, 16, 32, 64)
    early = [LatencyPoint(w * MIB, True, ns, 0.01) for w, ns in zip(sizes, (1.2, 1.2, 1.2, 12.0, 12.0, 12.0, 12.0))]
    late = [LatencyPoint(w * MIB, True, ns, 0.01) for w, ns in zip(sizes, (1.3, 1.1, 1.2, 1.2, 12.5, 11.5, 12.0))]
    best = best_points([early, late])
    assert [p.latency_ns for p in best] == [1.2, 1.1, 1.2, 1.2, 12.0, 11.5, 12.0]
    assert llc_under_load(early, 32 * MIB, MIB // 2) < 8 * MIB < llc_under_load(best, 32 * MIB, MIB // 2)
    assert llc_under_load(best, 32 * MIB, MIB // 2) < 16 * MIB
