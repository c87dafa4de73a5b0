import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.config.dram import DRAM_DIR, DramConfig, load_dram
from accelsim.config.base import read_yaml, to_yaml
from accelsim.errors import InputError
from accelsim.hw.dram import Dram

PRESETS = sorted(p.stem for p in DRAM_DIR.glob("*.yaml"))


def ddr4(**kw) -> DramConfig:
    return load_dram("DDR4-2400", **kw)


def run(cfg, arrival_ns, addr, is_write=None):
    addr = np.asarray(addr, np.int64)
    w = np.zeros(addr.size, bool) if is_write is None else np.asarray(is_write, bool)
    return Dram(cfg).simulate(np.asarray(arrival_ns, float), addr, w)


def random_addrs(cfg, n, seed=0):
    return np.random.default_rng(seed).integers(0, cfg.capacity_bytes // 64, n) * 64


# ---- config -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PRESETS)
def test_presets_load_and_cite_every_field(name):
    cfg = load_dram(name)
    data = read_yaml(DRAM_DIR / f"{name}.yaml")
    assert set(data) - {"sources", "standard"} <= set(cfg.sources)


@pytest.mark.parametrize("name,peak_per_channel,channels", [("DDR4-2400", 19.2, 1), ("ddr4_3200", 25.6, 1),
                                                             ("DDR5-4800", 19.2, 2), ("DDR5-6400", 25.6, 2),
                                                             ("HBM2", 32.0, 8)])
def test_peak_bandwidth_and_burst(name, peak_per_channel, channels):
    cfg = load_dram(name)
    assert cfg.peak_bandwidth_gbps_per_channel == pytest.approx(peak_per_channel, rel=2e-3)
    assert cfg.peak_bandwidth_gbps == pytest.approx(peak_per_channel * channels, rel=2e-3)
    assert cfg.burst_bytes == 64


def test_overrides_apply_and_bad_ones_name_file_and_field():
    assert ddr4(channels=4).peak_bandwidth_gbps == pytest.approx(4 * ddr4().peak_bandwidth_gbps)
    with pytest.raises(InputError, match=r"ddr4_2400\.yaml: override banana: unknown key"):
        ddr4(banana=1)
    with pytest.raises(InputError, match=r"ddr4_2400\.yaml: ranks: Input should be greater than 0"):
        ddr4(ranks=-2)
    with pytest.raises(InputError, match="unknown DRAM preset"):
        load_dram("DDR3-1600")


def test_unknown_key_in_file_is_named(tmp_path):
    text = (DRAM_DIR / "ddr4_2400.yaml").read_text() + "tXYZ: 3\n"
    (tmp_path / "x.yaml").write_text(text)
    with pytest.raises(InputError, match=r"x\.yaml: tXYZ: unknown key"):
        load_dram(str(tmp_path / "x.yaml"))


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = ddr4(channels=4, page_policy="closed")
    (tmp_path / "resolved.yaml").write_text(to_yaml(cfg))
    assert load_dram(str(tmp_path / "resolved.yaml")) == cfg


def test_constraint_latency_names_are_checked():
    with pytest.raises(InputError, match="unknown timing 'tNOPE'"):
        ddr4(constraints=[{"level": "bank", "preceding": ["ACT"], "following": ["RD"], "latency": "tNOPE"}])


# ---- isolated latencies (exact) -----------------------------------------------------------------------

def test_isolated_read_latencies_are_exact():
    cfg = ddr4()
    amap, tck, bc = cfg.address_map, cfg.tck_ns, cfg.burst_cycles
    a = amap.encode(bankgroup=1, bank=2, row=5)
    hit = amap.encode(bankgroup=1, bank=2, row=5, column=3)
    conflict = amap.encode(bankgroup=1, bank=2, row=6)
    t1 = 1200 * tck
    r = run(cfg, [0.0, t1], [a, hit])
    assert r.completion_ns[0] == pytest.approx((cfg.tRCD + cfg.tCL + bc) * tck, abs=1e-9)
    assert r.completion_ns[1] - t1 == pytest.approx((cfg.tCL + bc) * tck, abs=1e-9)
    r = run(cfg, [0.0, t1], [a, conflict])
    assert r.completion_ns[1] - t1 == pytest.approx((cfg.tRP + cfg.tRCD + cfg.tCL + bc) * tck, abs=1e-9)
    assert (r.counters.row_misses, r.counters.row_conflicts, r.counters.row_hits) == (1, 1, 0)


def test_isolated_write_completes_after_cwl_and_burst():
    cfg = ddr4()
    r = run(cfg, [0.0], [0], [True])
    assert r.completion_ns[0] == pytest.approx((cfg.tRCD + cfg.tCWL + cfg.burst_cycles) * cfg.tck_ns, abs=1e-9)
    assert r.counters.bytes_written == 64 and r.counters.bytes_read == 0


# ---- rank constraints ---------------------------------------------------------------------------------

def test_tfaw_and_trrd_space_activates():
    cfg = ddr4()
    amap, tck = cfg.address_map, cfg.tck_ns
    addrs = [amap.encode(rank=0, bankgroup=i % 4, bank=i // 4) for i in range(8)]
    cas = cfg.tRCD + cfg.tCL + cfg.burst_cycles
    r = run(cfg, np.zeros(8), addrs)
    act = np.rint(r.completion_ns / tck).astype(int) - cas  # each request's ACT cycle
    np.testing.assert_array_equal(act[:4], np.arange(4) * cfg.tRRD_S)
    assert act[4] == cfg.tFAW  # the 5th ACT waits for the four-activate window
    assert act[5] == act[1] + cfg.tFAW
    r0 = run(ddr4(tFAW=0), np.zeros(8), addrs)
    assert r0.completion_ns[4] < r.completion_ns[4]


def test_write_to_read_and_read_to_write_turnarounds():
    cfg = ddr4()
    amap, tck, bc = cfg.address_map, cfg.tck_ns, cfg.burst_cycles
    a, hit = amap.encode(bankgroup=0, row=3), amap.encode(bankgroup=0, row=3, column=1)  # one open row
    # the read arrives once the write's column command (at tRCD) has issued: it waits tWTR_L (same bank group)
    t_rd = (cfg.tRCD + 1) * tck
    r = run(cfg, [0.0, t_rd], [a, hit], [True, False])
    wr = cfg.tRCD
    assert r.completion_ns[1] == pytest.approx((wr + cfg.tCWL + bc + cfg.tWTR_L + cfg.tCL + bc) * tck, abs=1e-9)
    # read first, then the write to the open row: read-to-write turnaround RL + BL/2 - WL + 2
    r = run(cfg, [0.0, 0.0], [a, hit], [False, True])
    rd = cfg.tRCD
    assert r.completion_ns[1] == pytest.approx((rd + cfg.tCL + bc + 2 - cfg.tCWL + cfg.tCWL + bc) * tck, abs=1e-9)


# ---- refresh ------------------------------------------------------------------------------------------

def test_refresh_count_matches_sim_time_over_trefi():
    cfg = ddr4()
    r = run(cfg, np.zeros(20000), random_addrs(cfg, 20000))
    per_rank = r.counters.sim_time_ns / (cfg.tREFI * cfg.tck_ns)
    assert per_rank > 5
    assert abs(r.counters.refreshes - cfg.ranks * per_rank) <= cfg.ranks
    assert r.counters.per_channel["refreshes"].sum() == r.counters.refreshes


def test_request_arriving_at_refresh_waits_trfc():
    cfg = ddr4()
    t = cfg.tREFI * cfg.tck_ns  # rank 0's first refresh is due now
    r = run(cfg, [t], [cfg.address_map.encode(rank=0)])
    lat = (cfg.tRFC + cfg.tRCD + cfg.tCL + cfg.burst_cycles) * cfg.tck_ns
    assert r.completion_ns[0] - t == pytest.approx(lat, abs=1e-9)
    assert r.counters.refreshes == 1


def test_long_idle_gap_counts_its_refreshes_without_stepping_through_them():
    cfg = ddr4()
    t = 1e9  # one second of idle DRAM
    r = run(cfg, [0.0, t], [0, 64])
    expected = cfg.ranks * t / (cfg.tREFI * cfg.tck_ns)
    assert abs(r.counters.refreshes - expected) <= cfg.ranks
    lat = r.completion_ns[1] - t
    unloaded = (cfg.tRCD + cfg.tCL + cfg.burst_cycles) * cfg.tck_ns
    assert unloaded <= lat <= unloaded + cfg.tck_ns  # up to one cycle of rounding onto the clock edge


# ---- bandwidth ----------------------------------------------------------------------------------------

def test_sequential_stream_reaches_85_percent_of_peak():
    cfg = ddr4()
    r = run(cfg, np.zeros(100_000), np.arange(100_000) * 64)
    assert r.bandwidth_gbps >= 0.85 * cfg.peak_bandwidth_gbps
    assert r.bandwidth_gbps <= cfg.peak_bandwidth_gbps
    assert r.counters.row_hit_rate > 0.95


@pytest.mark.parametrize("ranks", [1, 2])
def test_random_reads_reach_bank_parallelism_bound(ranks):
    cfg = ddr4(ranks=ranks)
    tck = cfg.tck_ns
    # bus, every bank busy tRC per access, and four activates per tFAW per rank; refresh takes tRFC of tREFI
    bound = min(cfg.peak_bandwidth_gbps_per_channel,
                cfg.banks_per_channel * cfg.burst_bytes / (cfg.tRC * tck),
                cfg.ranks * 4 * cfg.burst_bytes / (cfg.tFAW * tck)) * (1 - cfg.tRFC / cfg.tREFI)
    r = run(cfg, np.zeros(40_000), random_addrs(cfg, 40_000))
    assert 0.9 * bound <= r.bandwidth_gbps <= 1.001 * bound
    assert r.counters.row_hit_rate < 0.01


def test_bandwidth_scales_with_channels():
    bw = {}
    for ch in (1, 2, 4):
        cfg = ddr4(channels=ch)
        bw[ch] = run(cfg, np.zeros(20_000 * ch), random_addrs(cfg, 20_000 * ch)).bandwidth_gbps
    for ch in (2, 4):
        assert bw[ch] / (ch * bw[1]) == pytest.approx(1.0, abs=0.05)


# ---- controller ---------------------------------------------------------------------------------------

def test_frfcfs_serves_younger_row_hit_before_older_conflict():
    amap = ddr4().address_map
    t = 1200 * ddr4().tck_ns
    addrs = [amap.encode(row=5), amap.encode(row=6), amap.encode(row=5, column=1)]
    arr = [0.0, t, t]  # request 1 (conflict) is older than request 2 (hit)
    fr = run(ddr4(), arr, addrs)
    assert fr.completion_ns[2] < fr.completion_ns[1]
    assert fr.completion_ns[2] - t == pytest.approx((ddr4().tCL + 4) * ddr4().tck_ns, abs=1e-9)
    fc = run(ddr4(scheduler="fcfs"), arr, addrs)
    assert fc.completion_ns[1] < fc.completion_ns[2]
    assert fc.counters.row_hits == 0 and fr.counters.row_hits == 1


def test_closed_page_has_no_row_hits():
    addrs = np.arange(5000) * 64
    assert run(ddr4(page_policy="closed"), np.zeros(5000), addrs).counters.row_hits == 0
    assert run(ddr4(), np.zeros(5000), addrs).counters.row_hit_rate > 0.9


def test_queue_depth_limits_bank_parallelism():
    cfg = ddr4()
    addrs = random_addrs(cfg, 5000)
    shallow = run(ddr4(queue_depth=2), np.zeros(5000), addrs)
    deep = run(cfg, np.zeros(5000), addrs)
    assert shallow.counters.sim_time_ns > 1.5 * deep.counters.sim_time_ns


def test_back_pressure_delays_entry_when_queue_is_full():
    cfg = ddr4(queue_depth=1)
    amap = cfg.address_map
    r = run(cfg, [0.0, 0.0], [amap.encode(bankgroup=0), amap.encode(bankgroup=1)])
    # with one slot the second request cannot enter (and activate) before the first one's column command
    assert r.completion_ns[1] - r.completion_ns[0] >= (cfg.tRCD + 1) * cfg.tck_ns - 1e-9


def _mixed_trace(cfg, n=4000, seed=3):
    """Streams, row conflicts in few banks, reads and writes, spread over more than one refresh interval.

    Rows 1024 and 1025 alias rows 0 and 1 when the row count shrinks to 1024.
    """
    rng = np.random.default_rng(seed)
    amap = cfg.address_map
    seq = np.arange(n) * 64
    hot = np.array([amap.encode(rank=int(rng.integers(0, 2)), bankgroup=int(rng.integers(0, 2)),
                                bank=int(rng.integers(0, 2)), row=int(rng.choice([0, 1, 1024, 1025])),
                                column=int(rng.integers(0, 8))) for _ in range(n)])
    addr = np.where(rng.random(n) < 0.5, seq, hot)
    arrival = np.cumsum(rng.exponential(2.5, n))
    return arrival, addr, rng.random(n) < 0.3


def _outcome(cfg, base):
    arr, addr, w = _mixed_trace(base)
    r = Dram(cfg).simulate(arr, addr, w)
    k = r.counters
    return (r.completion_ns.round(6).tobytes(), k.activates, k.precharges, k.row_hits, k.refreshes,
            k.bytes_read + k.bytes_written, k.device_activates)


PERTURB = {f: (lambda v: v * 3 + 1) for f in DramConfig.model_fields if f.startswith("t")}
PERTURB.update(
    tck_ns=lambda v: v * 1.25, channels=lambda v: 2, ranks=lambda v: 1, bankgroups=lambda v: 2,
    banks_per_group=lambda v: 2, rows=lambda v: 1024, columns=lambda v: 512, device_width_bits=lambda v: 4,
    bus_width_bits=lambda v: 128, burst_length=lambda v: 4, address_mapping=lambda v: "ro-ba-bg-ra-co-ch",
    page_policy=lambda v: "closed", queue_depth=lambda v: 4, scheduler=lambda v: "fcfs",
    constraints=lambda v: [c.model_dump() for c in v if c.window == 1],
)
PERTURB["tRFC"] = lambda v: v * 2
PERTURB.update(
    write_queue_depth=lambda v: 2, write_high_watermark=lambda v: 0.3, write_low_watermark=lambda v: 0.7 * 0.8,
    tRTRS=lambda v: 9, dual_command_bus=lambda v: True, queue_structure=lambda v: "per_bank",
    refresh_ranks=lambda v: "simultaneous",
)
# These act only with bank refresh (DDR4 has none) or in pseudo-channel mode (which takes one rank):
# test_dram_mechanisms.py shows refresh, tRFCsb, tREFIsb and pseudo_channels each changing results.
BANK_REFRESH = {"refresh", "tRFCsb", "tREFIsb", "pseudo_channels"}
# command_queue_depth acts only with per-rank or per-bank command queues: test_dram_mechanisms.py shows it.
BANK_REFRESH.add("command_queue_depth")
for _f in BANK_REFRESH:
    PERTURB.pop(_f, None)
# `standard` is a label (printed in reports) and `sources` are citations; neither is a model parameter.
LABELS = {"standard", "sources"}


def test_every_field_is_perturbed():
    assert set(PERTURB) == set(DramConfig.model_fields) - LABELS - BANK_REFRESH


@pytest.mark.parametrize("field", sorted(PERTURB))
def test_every_config_field_changes_a_result(field):
    base = ddr4()
    changed = ddr4(**{field: PERTURB[field](getattr(base, field))})
    assert _outcome(changed, base) != _outcome(base, base)


# ---- conservation -------------------------------------------------------------------------------------

@given(st.integers(1, 120), st.integers(0, 2**31), st.sampled_from(["frfcfs", "fcfs"]),
       st.sampled_from(["open", "closed"]), st.integers(1, 8), st.sampled_from([1, 2]),
       st.sampled_from(["shared", "per_rank", "per_bank"]), st.integers(1, 4))
def test_conservation(n, seed, scheduler, policy, depth, channels, structure, cq):
    cfg = ddr4(scheduler=scheduler, page_policy=policy, queue_depth=depth, channels=channels,
               queue_structure=structure, command_queue_depth=cq)
    rng = np.random.default_rng(seed)
    amap = cfg.address_map
    addr = np.array([amap.encode(channel=int(rng.integers(0, channels)), rank=int(rng.integers(0, 2)),
                                 bankgroup=int(rng.integers(0, 2)), row=int(rng.integers(0, 3)),
                                 column=int(rng.integers(0, 4))) for _ in range(n)])
    arrival = rng.integers(0, 20000, n) * cfg.tck_ns * rng.random()
    w = rng.random(n) < 0.4
    r = Dram(cfg).simulate(arrival, addr, w)
    k = r.counters
    min_lat = np.where(w, cfg.tCWL, cfg.tCL) + cfg.burst_cycles
    assert np.all(r.completion_ns >= arrival + min_lat * cfg.tck_ns - 1e-6)
    assert k.reads + k.writes == n and k.writes == int(w.sum())
    assert k.bytes_read + k.bytes_written == n * cfg.burst_bytes
    assert k.row_hits + k.row_misses + k.row_conflicts == n
    assert k.activates >= k.row_misses + k.row_conflicts
    for name, arr in k.per_channel.items():
        assert arr.sum() == getattr(k, name)
    per_ch = k.per_channel
    np.testing.assert_array_equal(per_ch["row_hits"] + per_ch["row_misses"] + per_ch["row_conflicts"],
                                  per_ch["reads"] + per_ch["writes"])
    if policy == "closed":
        assert k.row_hits == 0
    # deterministic
    np.testing.assert_array_equal(Dram(cfg).simulate(arrival, addr, w).completion_ns, r.completion_ns)


def test_mismatched_inputs_are_rejected():
    with pytest.raises(InputError, match="differ in length"):
        Dram(ddr4()).simulate(np.zeros(2), np.zeros(3, np.int64), np.zeros(2, bool))
