"""Closed-form checks of the controller mechanisms: rank switching, write draining, bank refresh, HBM
pseudo-channels."""

import numpy as np
import pytest

from accelsim.config.dram import load_dram
from accelsim.errors import InputError
from accelsim.hw.dram import Dram


def run(cfg, arrival_ns, addr, is_write=None):
    addr = np.asarray(addr, np.int64)
    w = np.zeros(addr.size, bool) if is_write is None else np.asarray(is_write, bool)
    return Dram(cfg).simulate(np.asarray(arrival_ns, float), addr, w)


@pytest.mark.parametrize("trtrs", [0, 1, 5])
def test_rank_alternation_pays_trtrs(trtrs):
    cfg = load_dram("DDR4-2400", tRTRS=trtrs)
    amap, tck, bc = cfg.address_map, cfg.tck_ns, cfg.burst_cycles
    r = run(cfg, [0.0, 0.0], [amap.encode(rank=0), amap.encode(rank=1)])
    # ACTs at cycles 0 and 1 (one command a cycle), rank 0 reads at tRCD, rank 1 waits for the burst + tRTRS
    second_rd = max(1 + cfg.tRCD, cfg.tRCD + bc + trtrs)
    assert r.completion_ns[1] == pytest.approx((second_rd + cfg.tCL + bc) * tck, abs=1e-9)
    same_rank = run(cfg, [0.0, 0.0], [amap.encode(bankgroup=0), amap.encode(bankgroup=1)])
    assert same_rank.completion_ns[1] == pytest.approx((cfg.tRCD + cfg.tCCD_S + cfg.tCL + bc) * tck, abs=1e-9)


def _distinct_banks(cfg, n, rank=0):
    amap = cfg.address_map
    return [amap.encode(rank=rank, bankgroup=i % cfg.bankgroups, bank=(i // cfg.bankgroups) % cfg.banks_per_group,
                        row=i) for i in range(n)]


def test_reads_go_first_while_writes_stay_below_the_high_watermark():
    cfg = load_dram("DDR4-2400")
    addr = _distinct_banks(cfg, 20)
    w = np.arange(20) < 10  # 10 writes arrive first, then 10 reads
    r = run(cfg, np.zeros(20), addr, w)
    assert r.completion_ns[~w].max() < r.completion_ns[w].min()


def test_writes_above_the_high_watermark_drain_down_to_the_low_one():
    cfg = load_dram("DDR4-2400")  # write queue 32, watermarks 0.8 / 0.2: drain above 25, stop below 7
    amap = cfg.address_map
    n_w, n_r = 30, 16
    writes = [amap.encode(row=0, column=c) for c in range(n_w)]  # one open row: no activates pending
    reads = _distinct_banks(cfg, n_r + 1)[1:]
    w = np.arange(n_w + n_r) < n_w
    r = run(cfg, np.zeros(n_w + n_r), writes + reads, w)
    first_read = r.completion_ns[~w].min()
    drained = int((r.completion_ns[w] < first_read).sum())
    assert drained == n_w - int(np.ceil(0.2 * 32)) + 1  # 30 -> 6 writes left, then reads resume
    deep = load_dram("DDR4-2400", write_high_watermark=0.95)
    r = run(deep, np.zeros(n_w + n_r), writes + reads, w)
    assert r.completion_ns[~w].max() < r.completion_ns[w].min()  # 30 <= 0.95 x 32: no drain while reads wait


def test_bank_refresh_blocks_only_its_banks():
    cfg = load_dram("DDR5-4800", refresh="same_bank")
    amap, tck, bc = cfg.address_map, cfg.tck_ns, cfg.burst_cycles
    t = cfg.tREFIsb * tck  # the first REFsb (bank index 0 of every bank group) is due now
    unloaded = (cfg.tRCD + cfg.tCL + bc) * tck
    r = run(cfg, [t], [amap.encode(bankgroup=3, bank=0)])
    assert r.completion_ns[0] - t == pytest.approx(cfg.tRFCsb * tck + unloaded, abs=1e-9)
    r = run(cfg, [t], [amap.encode(bankgroup=3, bank=1)])
    assert r.completion_ns[0] - t == pytest.approx(unloaded, abs=1e-9)
    slower = load_dram("DDR5-4800", refresh="same_bank", tRFCsb=cfg.tRFCsb * 2)
    r = run(slower, [t], [amap.encode(bankgroup=3, bank=0)])
    assert r.completion_ns[0] - t == pytest.approx(2 * cfg.tRFCsb * tck + unloaded, abs=1e-9)


@pytest.mark.parametrize("mode", ["same_bank", "per_bank"])
def test_bank_refresh_count_is_time_over_trefisb(mode):
    cfg = load_dram("DDR5-4800", refresh=mode, tREFIsb=1000)
    n = 20000
    addr = np.random.default_rng(0).integers(0, cfg.capacity_bytes // 64, n) * 64
    r = run(cfg, np.arange(n) * 2.0, addr)
    per_channel = r.counters.sim_time_ns / (1000 * cfg.tck_ns)
    assert abs(r.counters.refreshes - cfg.channels * per_channel) <= 2 * cfg.channels
    banks_hit = r.counters.per_bank["refreshes"]
    assert banks_hit.sum() == r.counters.refreshes * (cfg.bankgroups if mode == "same_bank" else 1)
    all_bank = run(load_dram("DDR5-4800"), np.arange(n) * 2.0, addr)
    assert all_bank.counters.refreshes < r.counters.refreshes


def test_bank_refresh_needs_its_timings():
    with pytest.raises(InputError, match="refresh: per_bank needs tRFCsb and tREFIsb"):
        load_dram("DDR4-2400", refresh="per_bank")


def test_hbm_pseudo_channels_double_the_activate_bound_of_random_reads():
    def bandwidth(pcs):
        cfg = load_dram("HBM2", channels=1, pseudo_channels=pcs)
        n = 30000
        addr = np.random.default_rng(1).integers(0, cfg.capacity_bytes // 64, n) * 64
        return run(cfg, np.zeros(n), addr).bandwidth_gbps, cfg

    legacy, cfg = bandwidth(1)
    pc, _ = bandwidth(2)
    # random rows: every read activates; four ACTs per tFAW per (pseudo-)channel bound the rate. In PC mode
    # the 32-entry queue, spread over twice the banks, keeps it some 14% below that bound.
    bound = 4 * cfg.burst_bytes / (cfg.tFAW * cfg.tck_ns)
    assert 0.9 * bound < legacy <= bound * 1.01
    assert 1.6 * legacy < pc <= 2 * bound * 1.01
    assert cfg.peak_bandwidth_gbps_per_channel == pytest.approx(32.0)


def test_pseudo_channel_streams_fill_both_halves_of_the_bus():
    cfg = load_dram("HBM2", channels=1)
    n = 20000
    r = run(cfg, np.zeros(n), np.arange(n) * 64)
    assert r.bandwidth_gbps > 0.85 * cfg.peak_bandwidth_gbps
    assert set(np.flatnonzero(r.counters.per_bank["reads"][0])) >= {0, cfg.banks_per_rank}  # both halves used


def test_dual_command_bus_issues_a_row_and_a_column_command_in_one_cycle():
    amap_cfg = load_dram("HBM2", channels=1, dual_command_bus=False)
    amap, tck = amap_cfg.address_map, amap_cfg.tck_ns
    # a row hit's RD and another bank's ACT are both ready at the same cycle
    addrs = [amap.encode(bankgroup=0, row=1), amap.encode(bankgroup=0, row=1, column=1), amap.encode(bankgroup=1)]
    arrival = [0.0, (amap_cfg.tRCD + 4) * tck, (amap_cfg.tRCD + 4) * tck]
    single = run(amap_cfg, arrival, addrs)
    dual = run(load_dram("HBM2", channels=1, dual_command_bus=True), arrival, addrs)
    # one bus: the row hit's RD goes first (FR-FCFS), the ACT a cycle later; two buses: both at once
    assert dual.completion_ns[2] == pytest.approx(single.completion_ns[2] - tck, abs=1e-9)
    assert dual.completion_ns[1] == pytest.approx(single.completion_ns[1], abs=1e-9)


def test_all_bank_refresh_closes_its_rank_only():
    cfg = load_dram("DDR4-2400")
    amap, tck, bc = cfg.address_map, cfg.tck_ns, cfg.burst_cycles
    t = cfg.tREFI * tck  # rank 0's first REF is due now (rank 1's comes tREFI / ranks later)
    unloaded = (cfg.tRCD + cfg.tCL + bc) * tck
    r = run(cfg, [t], [amap.encode(rank=0, row=5)])
    assert r.completion_ns[0] - t == pytest.approx(cfg.tRFC * tck + unloaded, abs=1e-9)
    r = run(cfg, [t], [amap.encode(rank=1, row=5)])
    assert r.completion_ns[0] - t == pytest.approx(unloaded, abs=1e-9)


def test_requests_to_a_refreshing_rank_fill_the_shared_queue_and_hold_back_the_other_rank():
    # one read queue per channel: reads waiting out rank 0's tRFC occupy it, so a read to rank 1 is admitted
    # only when the first of them issues (DRAMsim3 keeps a command queue per rank and would serve it at once)
    cfg = load_dram("DDR4-2400", queue_depth=4)
    amap, tck, bc = cfg.address_map, cfg.tck_ns, cfg.burst_cycles
    t = cfg.tREFI * tck
    unloaded = (cfg.tRCD + cfg.tCL + bc) * tck
    addr = [amap.encode(rank=0, bankgroup=i, row=5) for i in range(4)] + [amap.encode(rank=1, row=5)]
    r = run(cfg, [t] * 5, addr)
    assert r.completion_ns[4] - t >= (cfg.tRFC + cfg.tRCD) * tck + unloaded - 1e-9
    r = run(load_dram("DDR4-2400", queue_depth=5), [t] * 5, addr)
    assert r.completion_ns[4] - t == pytest.approx(unloaded, abs=1e-9)


def _refresh_scene(**kw):
    """Four reads to rank 0 (distinct bank groups) as its refresh falls due, then one read to rank 1."""
    cfg = load_dram("DDR4-2400", **kw)
    amap = cfg.address_map
    addr = [amap.encode(rank=0, bankgroup=i, row=5) for i in range(4)] + [amap.encode(rank=1, row=5)]
    t = cfg.tREFI * cfg.tck_ns
    return cfg, t, run(cfg, [t] * 5, addr)


def test_per_rank_command_queues_let_the_other_rank_through_a_refresh():
    # the same scene as above with a 4-entry transaction queue: one transaction moves a cycle into its rank's
    # command queue (rank 0's holds 2), so the rank-1 read, admitted when the first move frees its entry and
    # the first movable one after rank 0's queue fills, moves at cycle 2 and is served unloaded from there
    cfg, t, r = _refresh_scene(queue_depth=4, queue_structure="per_rank", command_queue_depth=2)
    unloaded = (cfg.tRCD + cfg.tCL + cfg.burst_cycles) * cfg.tck_ns
    assert r.completion_ns[4] - t == pytest.approx(2 * cfg.tck_ns + unloaded, abs=1e-9)
    # every rank-0 read waits out the refresh
    assert np.all(r.completion_ns[:4] - t >= (cfg.tRFC + cfg.tRCD) * cfg.tck_ns)


def test_command_queue_depth_sets_when_the_blocked_rank_stops_taking_moves():
    # with room for all four rank-0 reads the rank-1 read is the fifth to move (cycle 4)
    cfg, t, r = _refresh_scene(queue_depth=4, queue_structure="per_rank", command_queue_depth=4)
    unloaded = (cfg.tRCD + cfg.tCL + cfg.burst_cycles) * cfg.tck_ns
    assert r.completion_ns[4] - t == pytest.approx(4 * cfg.tck_ns + unloaded, abs=1e-9)


def test_per_bank_command_queues_hold_one_bank_each():
    # per bank, depth 1: the four rank-0 reads are in four banks, each takes its own queue; rank 1's moves fifth
    cfg, t, r = _refresh_scene(queue_depth=4, queue_structure="per_bank", command_queue_depth=1)
    unloaded = (cfg.tRCD + cfg.tCL + cfg.burst_cycles) * cfg.tck_ns
    assert r.completion_ns[4] - t == pytest.approx(4 * cfg.tck_ns + unloaded, abs=1e-9)
    # ...and a read behind a full bank queue waits in the transaction queue, out of the scheduler's sight:
    # rows 5, 6, 5 to one bank. FR-FCFS serves the second row-5 read as a hit before row 6 when it can see it
    # (shared queue, or a bank queue of 2); with a bank queue of 1, row 6 moves in first and is served first
    amap = cfg.address_map
    addr = [amap.encode(row=5), amap.encode(row=6), amap.encode(row=5, column=1)]
    order = {}
    for label, kw in (("shared", {}), ("per_bank 1", dict(queue_structure="per_bank", command_queue_depth=1)),
                      ("per_bank 2", dict(queue_structure="per_bank", command_queue_depth=2))):
        done = run(load_dram("DDR4-2400", queue_depth=4, **kw), [0.0] * 3, addr).completion_ns
        order[label] = list(np.argsort(done, kind="stable"))
    assert order == {"shared": [0, 2, 1], "per_bank 1": [0, 1, 2], "per_bank 2": [0, 2, 1]}


def test_command_queues_raise_random_bandwidth_over_one_shared_queue():
    # saturated random reads: the scheduler sees the 16 requests of the shared queue, but 2 ranks x 16 behind a
    # 16-entry transaction queue, or 32 banks x 8; 2 x 8 per rank is as many as the shared queue's
    rng = np.random.default_rng(0)
    addr = rng.integers(0, load_dram("DDR4-2400").capacity_bytes // 64, 20000) * 64
    bw = {(s, d): run(load_dram("DDR4-2400", queue_depth=16, queue_structure=s, command_queue_depth=d),
                      np.zeros(addr.size), addr).bandwidth_gbps
          for s, d in (("shared", 16), ("per_rank", 8), ("per_rank", 16), ("per_bank", 8))}
    assert bw["per_rank", 8] == pytest.approx(bw["shared", 16], rel=0.01)
    assert bw["shared", 16] * 1.05 < bw["per_rank", 16] < bw["per_bank", 8]


@pytest.mark.parametrize("policy", ["staggered", "simultaneous"])
def test_simultaneous_refresh_closes_every_rank_at_trefi(policy):
    cfg = load_dram("DDR4-2400", refresh_ranks=policy)
    amap, tck, bc = cfg.address_map, cfg.tck_ns, cfg.burst_cycles
    t = cfg.tREFI * tck  # rank 0's first REF is due now; rank 1's too when refreshes are simultaneous
    unloaded = (cfg.tRCD + cfg.tCL + bc) * tck
    r = run(cfg, [t], [amap.encode(rank=1, row=5)])
    wait = cfg.tRFC * tck if policy == "simultaneous" else 0.0
    assert r.completion_ns[0] - t == pytest.approx(wait + unloaded, abs=1e-9)
    # staggered: rank 1's refresh falls half a tREFI later
    t1 = (cfg.tREFI + cfg.tREFI // 2) * tck
    r = run(cfg, [t1], [amap.encode(rank=1, row=5)])
    wait = 0.0 if policy == "simultaneous" else cfg.tRFC * tck
    assert r.completion_ns[0] - t1 == pytest.approx(wait + unloaded, abs=1e-9)


def test_ini_refresh_policy_simultaneous_is_read(tmp_path):
    ini = tmp_path / "d.ini"
    ini.write_text("[dram_structure]\nprotocol = DDR4\n[timing]\ntCK = 0.833\n[system]\n"
                   "refresh_policy = RANK_LEVEL_SIMULTANEOUS\n")
    assert load_dram(str(ini)).refresh_ranks == "simultaneous"
    ini.write_text("[dram_structure]\nprotocol = DDR4\n[timing]\ntCK = 0.833\n")
    assert load_dram(str(ini)).refresh_ranks == "staggered"
