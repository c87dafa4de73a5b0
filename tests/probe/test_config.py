"""The config `accelsim probe` writes, built from made-up probe results: every measured number lands and cites."""

import pytest

from accelsim.config.base import parse_model, to_yaml
from accelsim.config.system import SystemConfig
from accelsim.hw.cpu import Cpu
from accelsim.probe import memory
from accelsim.probe.clock import Clock
from accelsim.probe.compute import GemmPoint
from accelsim.probe.host import HostCache, HostCpu
from accelsim.probe.repeat import Timing
from accelsim.probe.run import ProbeReport, build_config
from accelsim.probe.software import SoftwareProbe

KIB, MIB = 1 << 10, 1 << 20


def t(ns):
    """A timing whose fastest run is `ns` (what the probe reads) and whose median is 2% slower."""
    return Timing(ns * 1.02, 0.01, 5, True, ns)


ROWS_FB_BOUND = [memory.RowGather(1, 12.0, 0.02), memory.RowGather(4, 50.0, 0.02)]


def report(other_share=0.5, huge_tables=0.0, memory_read_gbps=14.0, clock=Clock(3.1, 0.02, 9), rows=ROWS_FB_BOUND,
           llc_parallel=(), llc_one_chain_bytes=0, index_runs=(), rounds=1, walks=None, walk_reach=(), first_level=(),
           llc_round_bytes=(), columns=False):
    caches = tuple(HostCache(n, s, w, 64, sh, 1, "0", f"/sys/x/index{i}") for i, (n, s, w, sh) in
                   enumerate((("L1D", 32 * KIB, 8, 1), ("L2", MIB, 8, 1), ("L3", 32 * MIB, 16, 2))))
    host = HostCpu("Fake EPYC", 2, "test", 2.5, "test", 16, "test", caches)
    levels = [memory.Level("L1D", 2.0, 32 * KIB, 32 * KIB), memory.Level("L2", 5.0, MIB, MIB),
              memory.Level("L3", 16.0, 4 * MIB, 32 * MIB)]
    sw = SoftwareProbe("2.13.0", t(5000.0), t(8000.0), 64, 25600, t(8000.0 + 25600 * 6 / 2.5),
                       t(8000.0 + 2048 * 6 / 2.5), 40960,
                       t(1e5), t(6e4), 2, other_share, index_runs)
    gemm = [GemmPoint(m, w, w, t(5000.0 + 2 * m * w * w / 50.0)) for m in (1, 2048) for w in (16, 1024)]
    if columns:  # one-output layers, at a tenth of the squares' FLOP rate
        gemm += [GemmPoint(m, w, 1, t(5000.0 + 2 * m * w / 5.0)) for m in (1, 2048) for w in (16, 1024)]
    r = ProbeReport(host, "2026-12-01 00:00 UTC", "load average 0.1, 0.1, 0.1", "load average 0.1, 0.1, 0.1",
                    "madvise", 1.0, huge_tables, [], [memory.LatencyPoint(1 << 30, True, 200.0, 0.01)], levels,
                    180.0, 256 * MIB, memory.Translation(12 * MIB, 40.0, ((MIB, 0.0), (256 * MIB, 40.0))), [], 20.4, 13.0,
                    memory.Stream(2, 30.0, 0.02), gemm, sw, clock,
                    [memory.ReadBandwidth(256 * KIB, 60.0, 0.01), memory.ReadBandwidth(2 * MIB, 25.0, 0.01),
                     memory.ReadBandwidth(256 * MIB, memory_read_gbps, 0.02)],
                    walks or [memory.WalkRate(16 * MIB, 2.0, 1.9, 0.02), memory.WalkRate(256 * MIB, 10.0, 5.5, 0.02)],
                    rows, 1 << 20,
                    [1.0, 1.05, 1.8, 1.9], None, list(llc_parallel), llc_one_chain_bytes, rounds, {}, walk_reach,
                    tuple(first_level), tuple(llc_round_bytes))
    return build_config(r)


def test_measured_numbers_land_in_the_config():
    s = report()
    c = s.cpu
    assert [x.size_bytes for x in c.caches] == [32 * KIB, MIB, 4 * MIB]
    assert [x.hit_latency_ns for x in c.caches] == [2.0, 3.0, 11.0]
    assert c.line_fill_buffers_per_core == 20 and c.tlb.walk_ns(256 * MIB) == 40.0 and c.tlb.page_walk_ns is None
    assert c.tlb.entries * 4096 == 12 * MIB and c.tlb.page_bytes == 4096
    assert c.freq_ghz == 3.1 and "IMUL" in c.sources["freq_ghz"] and "2.5 GHz" in c.sources["freq_ghz"]
    # the L1 call's 25600 x 6 cycles at the host's 2.5 GHz are 25600 x 7.44 cycles at the measured 3.1
    assert c.gather_cycles_per_lookup == pytest.approx(6 * 3.1 / 2.5 - 4 / 2)  # minus ceil(64 / 16) / 2 adds
    assert [x.core_read_gbps for x in c.caches] == [None, 60.0, 25.0] and c.memory_core_read_gbps == 14.0
    # a 4-line row cost 50 / 12 = 4.2 one-line rows: every line took a fill buffer
    assert not c.stream_prefetch and "4.17 one-line rows" in c.sources["stream_prefetch"]
    assert [(p.ws_bytes, p.walk_ns) for p in c.tlb.page_walk_table] == [(MIB, 0.0), (256 * MIB, 40.0)]
    # walks bind only where 4 KiB pages are slower than 2 MiB ones by more than the 10% slack
    assert [(p.ws_bytes, p.interval_ns) for p in c.tlb.page_walk_interval_table] == [(16 * MIB, 0.0),
                                                                                     (256 * MIB, 10.0)]
    assert "256 MiB 10.00 (2 MiB pages 5.50, packed 0.00)" in c.tlb.sources["page_walk_interval_table"]
    assert c.software.op_dispatch_ns == 5000.0 and c.software.embedding_dispatch_ns == 8000.0
    assert c.software.embedding_threads is None and c.gather_cycles_per_bag == pytest.approx(0.0, abs=1e-6)
    # 2 threads took 6e4 ns; an even split of the 1e5 ns one-thread call (8000 of it dispatch) is 54000
    assert c.software.parallel_region_ns == pytest.approx(6e4 - (1e5 - 8000) / 2 - 8000)
    assert c.software.sources["parallel_region_ns"].startswith("measured: accelsim probe")
    assert c.software.gemm_parallel_min_flops == 1 << 20 and "2048x1024x1024 1.90" in c.software.sources[
        "gemm_parallel_min_flops"]
    assert c.memory_fabric_latency_ns == pytest.approx(180.0 - 16.0 - 30.0, abs=15)  # minus a DDR5 idle read
    assert len(c.gemm_efficiency_table) == 4 and all(0 < p.efficiency <= 1 for p in c.gemm_efficiency_table)
    for key in ("line_fill_buffers_per_core", "gather_cycles_per_lookup", "stream_prefetch", "memory_fabric_latency_ns",
                "gemm_efficiency_table", "freq_ghz", "memory_core_read_gbps"):
        assert c.sources[key].startswith("measured: accelsim probe") and "2026-12-01" in c.sources[key]
    assert parse_model(SystemConfig, __import__("yaml").safe_load(to_yaml(s))) == s


def test_the_llc_size_cites_the_many_chain_curve_it_came_from():
    pts = [memory.LatencyPoint(MIB, True, 1.2, 0.01)]
    c = report(llc_parallel=pts, llc_one_chain_bytes=3 * MIB).cpu
    src = c.caches[-1].sources["size_bytes"]
    assert "32 chains" in src and "one chain: 3.00 MiB" in src and "4.00 MiB" in src
    assert "32 chains" not in c.caches[1].sources["size_bytes"] and "rounds" not in src


def test_the_llc_size_cites_the_rounds_it_kept_the_fastest_of():
    pts = [memory.LatencyPoint(MIB, True, 1.2, 0.01)]
    src = report(llc_parallel=pts, llc_one_chain_bytes=3 * MIB,
                 llc_round_bytes=(5 * MIB, 7 * MIB, 6 * MIB)).cpu.caches[-1].sources["size_bytes"]
    assert "fastest of 3 rounds (the rounds alone: 5.00-7.00 MiB)" in src


def test_the_llc_latency_is_the_many_chain_plateau_times_the_lines_in_flight():
    """Little's law on the 32-chain LLC plateau (1.5 ns a line, 20.4 lines in flight), not the one-chain
    plateau (16 ns), minus the L2's 5 ns; memory's fabric term is what is left of the 180 ns chase."""
    pts = [memory.LatencyPoint(MIB, True, 9.0, 0.01), memory.LatencyPoint(2 * MIB, True, 1.5, 0.01),
           memory.LatencyPoint(64 * MIB, True, 9.0, 0.01)]
    c = report(llc_parallel=pts, llc_one_chain_bytes=3 * MIB).cpu
    assert c.caches[-1].hit_latency_ns == pytest.approx(1.5 * 20.4 - 5.0, abs=1e-3)
    assert "Little's law" in c.caches[-1].sources["hit_latency_ns"]
    assert "one chain's plateau: 16.00 ns" in c.caches[-1].sources["hit_latency_ns"]
    assert report().cpu.caches[-1].hit_latency_ns == pytest.approx(11.0)  # no many-chain curve: one chain's
    assert (report(llc_parallel=pts).cpu.memory_fabric_latency_ns
            == pytest.approx(report().cpu.memory_fabric_latency_ns + 16.0 - 1.5 * 20.4, abs=0.02))


def test_the_index_cost_is_the_slope_between_the_two_batches():
    from accelsim.probe import software
    per_sample = software.INDEX_FEATURES * (software.INDEX_FEATURES - 1) // 2
    runs = tuple(t(4000.0 + b * per_sample * 7.5) for b in software.INDEX_BATCHES)
    sw = report(index_runs=runs).cpu.software
    assert sw.index_ns_per_element == pytest.approx(7.5, abs=1e-3) and sw.interaction_ops == 4
    assert "B = 32 and 512" in sw.sources["index_ns_per_element"] and "bmm" in sw.sources["interaction_ops"]
    assert report().cpu.software.index_ns_per_element == 0.0  # not probed


def test_rows_about_as_dear_as_one_line_switch_the_streamer_on():
    c = report(rows=[memory.RowGather(1, 12.0, 0.02), memory.RowGather(4, 15.0, 0.02)]).cpu
    assert c.stream_prefetch and "1.25 one-line rows" in c.sources["stream_prefetch"]


def test_the_efficiency_table_reproduces_the_probed_gemm_on_one_thread():
    s = report()
    d = s.model_dump(mode="json")
    d["cpu"]["software"]["gemm_threads"] = 1
    cpu = Cpu(parse_model(SystemConfig, d).cpu)
    want = 5000.0 + 2 * 2048 * 1024 * 1024 / 50.0
    assert cpu.gemm(2048, 1024, 1024).time_ns == pytest.approx(want, rel=0.01)


def test_one_column_layers_reproduce_their_own_probed_times():
    s = report(columns=True)
    d = s.model_dump(mode="json")
    d["cpu"]["software"]["gemm_threads"] = 1
    cpu = Cpu(parse_model(SystemConfig, d).cpu)
    assert cpu.gemm(2048, 1024, 1).time_ns == pytest.approx(5000.0 + 2 * 2048 * 1024 / 5.0, rel=0.01)
    assert cpu.gemm(2048, 1024, 1024).time_ns == pytest.approx(5000.0 + 2 * 2048 * 1024 * 1024 / 50.0, rel=0.01)
    # the threading size's speed-ups are the square shapes'
    assert "2048x1024x1024 1.90" in s.cpu.software.sources["gemm_parallel_min_flops"]
    assert "x1 " not in s.cpu.software.sources["gemm_parallel_min_flops"]


def test_thread_split_and_huge_pages_follow_the_probes():
    s = report(other_share=0.02, huge_tables=1.0)
    assert s.cpu.software.embedding_threads == 1 and s.cpu.tlb.page_bytes == 2 << 20
    assert s.cpu.software.parallel_region_ns == 0.0  # the call ran on one thread: no fork/join to measure


def test_without_the_clock_probe_the_detected_clock_stands():
    c = report(clock=None).cpu
    assert c.freq_ghz == 2.5 and c.sources["freq_ghz"] == "test"


def test_the_threading_size_best_splits_one_thread_shapes_from_threaded_ones():
    from accelsim.probe.compute import threshold_from
    pts = [(m, w, w) for m, w in ((1, 16), (1, 1024), (2048, 16), (2048, 1024))]
    # sizes 512, 2.1M, 1.05M, 4.3G; the 2.1M shape did not gain: one shape is on the wrong side of 1.05M and of
    # 4.3G alike, and the tie goes to the smaller
    assert threshold_from(pts, [1.0, 1.05, 1.8, 1.9]) == 2 * 2048 * 16 * 16
    assert threshold_from(pts, [1.0, 1.5, 1.8, 1.9]) == 2 * 2048 * 16 * 16  # from 1.05M up, all threaded
    assert threshold_from(pts, [1.2, 1.5, 1.8, 1.9]) == 2 * 16 * 16  # all: the smallest
    assert threshold_from(pts, [1.0, 1.0, 1.0, 1.0]) == 2 * 2 * 2048 * 1024 * 1024  # none: beyond the largest
    assert threshold_from(pts, [1.0, 1.0, 1.0, 1.9]) == 2 * 2048 * 1024 * 1024  # only the largest
    # one noisy small shape that gained does not pull the split down to it
    more = [(m, w, w) for m in (1, 16, 128, 512) for w in (16, 256)]
    gains = [1.0, 1.0, 1.6, 1.0, 1.0, 1.5, 1.0, 1.7]  # 16 x 16 x 16 is the outlier
    assert threshold_from(more, gains) == 2 * 128 * 256 * 256
    assert threshold_from([], []) == 0


def test_per_lookup_and_per_bag_cycles_split_the_two_l1_calls():
    from accelsim.probe.run import per_lookup_and_bag_cycles
    # 512 bags x 50 lookups and 2048 bags x 1 at 3 GHz, 6 cycles a lookup and 40 a bag, 5 us dispatch
    sw = SoftwareProbe("2.13.0", t(1.0), t(5000.0), 64, 25600, t(5000.0 + (25600 * 6 + 512 * 40) / 3.0),
                       t(5000.0 + 2048 * (6 + 40) / 3.0), 1, t(1.0), t(1.0), 2, 0.5)
    assert per_lookup_and_bag_cycles(sw, 5000.0, 3.0) == pytest.approx((6.0, 40.0))
    free = SoftwareProbe("2.13.0", t(1.0), t(5000.0), 64, 25600, t(5000.0 + 25600 * 6 / 3.0),
                         t(5000.0 + 2048 * 5 / 3.0), 1, t(1.0), t(1.0), 2, 0.5)  # one-lookup bags cheaper: no bag cost
    assert per_lookup_and_bag_cycles(free, 5000.0, 3.0) == pytest.approx((6.0, 0.0))


def test_where_huge_pages_walk_too_a_walk_costs_one_line_a_page_minus_packed_lines():
    # 2 MiB pages as slow as 4 KiB ones against the packed lines (a guest mapped with 4 KiB pages): the 4 KiB
    # minus 2 MiB curve says nothing, the one-chain spread-minus-packed chase gives each span's walk latency
    walks = [memory.WalkRate(16 * MIB, 5.0, 4.5, 0.02, 0.8, 40.0, 10.0),
             memory.WalkRate(256 * MIB, 10.0, 8.0, 0.02, 1.5, 70.0, 20.0)]
    tlb = report(walks=walks).cpu.tlb
    assert [(p.ws_bytes, p.walk_ns) for p in tlb.page_walk_table] == [(16 * MIB, 30.0), (256 * MIB, 50.0)]
    assert "packed together" in tlb.sources["page_walk_table"] and "256 MiB 50.00" in tlb.sources["page_walk_table"]
    assert tlb.walk_ns(64 * MIB) == pytest.approx(40.0)  # log-interpolated between the spans
    # with the reach probe: its spans beyond the reach give the walk latency, walk_rate's the larger spans; the
    # reach sets the entries (the 4 KiB minus 2 MiB reach, 12 MiB here, says nothing on such a guest)
    reach = (4 * MIB, [(2 * MIB, 3.0), (4 * MIB, 5.0), (8 * MIB, 25.0), (16 * MIB, 28.0), (64 * MIB, 31.0)],
             [(2 * MIB, 2.0), (4 * MIB, 4.0), (8 * MIB, 20.0), (16 * MIB, 21.0), (64 * MIB, 22.0)])
    tlb = report(walks=walks, walk_reach=reach).cpu.tlb
    assert tlb.entries == 4 * MIB // 4096
    assert [(p.ws_bytes, p.walk_ns) for p in tlb.page_walk_table] == [(8 * MIB, 25.0), (16 * MIB, 28.0),
                                                                     (64 * MIB, 31.0), (256 * MIB, 50.0)]
    assert "passes half a walk after 4.00 MiB" in tlb.sources["entries"]
    # the tables on the guest's 2 MiB pages: the TLB still holds 4 KiB translations (the same reach), but the
    # walks are those of 2 MiB pages, the one-chain 2 MiB minus packed and the 2 MiB interval
    walks_2m = [memory.WalkRate(16 * MIB, 5.0, 4.5, 0.02, 0.8, 40.0, 10.0, 30.0),
                memory.WalkRate(256 * MIB, 10.0, 8.0, 0.02, 1.5, 70.0, 20.0, 55.0)]
    tlb = report(walks=walks_2m, walk_reach=reach, huge_tables=1.0).cpu.tlb
    assert tlb.page_bytes == 4096 and tlb.entries == 4 * MIB // 4096
    assert [(p.ws_bytes, p.walk_ns) for p in tlb.page_walk_table] == [(8 * MIB, 20.0), (16 * MIB, 21.0),
                                                                     (64 * MIB, 22.0), (256 * MIB, 35.0)]
    assert [(p.ws_bytes, p.interval_ns) for p in tlb.page_walk_interval_table] == [(16 * MIB, 4.5),
                                                                                  (256 * MIB, 8.0)]
    assert "on 2 MiB pages as the tables are" in tlb.sources["page_walk_table"]
    # the memory-latency chase on those 2 MiB pages walked every hop: the fabric is measured without that walk
    # (the largest span's 2 MiB one-chain walk, 55 - 20 ns), as the model adds the tables' own to each miss
    fabric = report(walks=walks_2m, walk_reach=reach).cpu
    assert fabric.memory_fabric_latency_ns == pytest.approx(report().cpu.memory_fabric_latency_ns - 35.0, abs=0.02)
    assert "35.0 ns walk a hop on 2 MiB pages" in fabric.sources["memory_fabric_latency_ns"]
    on_4k = fabric.tlb  # tables on 4 KiB pages: those pages' walks
    assert [p.interval_ns for p in on_4k.page_walk_interval_table] == [5.0, 10.0]
    assert on_4k.walk_ns(256 * MIB) == 50.0
    native = [memory.WalkRate(16 * MIB, 5.0, 0.9, 0.02, 0.8, 40.0, 10.0),
              memory.WalkRate(256 * MIB, 10.0, 1.6, 0.02, 1.5, 70.0, 20.0)]
    tlb = report(walks=native).cpu.tlb  # 2 MiB pages spare the walks: the 4 KiB minus 2 MiB curve stands
    assert [(p.ws_bytes, p.walk_ns) for p in tlb.page_walk_table] == [(MIB, 0.0), (256 * MIB, 40.0)]


FIRST_LEVEL = [(16, 0.02), (32, 0.0), (48, 0.3), (56, 1.0), (64, 1.4), (72, 2.2), (96, 2.3), (256, 2.2), (512, 2.4)]


def test_the_first_level_tlb_lands_in_the_config_on_4k_pages_only():
    tlb = report(first_level=FIRST_LEVEL).cpu.tlb
    # the extra passes half of 2.3 ns (the median from 256 pages on) after 56 pages
    assert tlb.first_level_entries == 56 and tlb.first_level_miss_ns == 2.3 and tlb.first_level_ways is None
    assert "56 pages" in tlb.sources["first_level_entries"] and "first_level_miss_ns" in tlb.sources
    assert report().cpu.tlb.first_level_entries is None  # not probed: one level
    huge = report(first_level=FIRST_LEVEL, huge_tables=0.97).cpu.tlb  # tables on 2 MiB pages that translate
    assert huge.page_bytes == 2 << 20 and huge.first_level_entries is None


def test_a_first_level_too_cheap_to_see_is_left_out():
    assert memory.first_level_from([(n, 0.1) for n, _ in FIRST_LEVEL]) == (0, 0.0)
    assert report(first_level=[(n, 0.1) for n, _ in FIRST_LEVEL]).cpu.tlb.first_level_entries is None
    # beyond the first level from the start: entries 0, left out
    assert memory.first_level_from([(8, 3.0), (256, 3.0)]) == (0, 3.0)
    assert report(first_level=[(8, 3.0), (256, 3.0)]).cpu.tlb.first_level_entries is None
