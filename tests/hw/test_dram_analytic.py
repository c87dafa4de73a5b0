import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.config.dram import load_dram
from accelsim.hw.dram import Dram
from accelsim.hw.dram_analytic import AnalyticDram

# Stated bound: on saturated streaming, uniform-random and 256 B-gather traces the analytic service time is
# within 7.5% of the detailed model (measured: 0.2-0.3% / 6.4-6.9% / 3.2-7.1% on DDR4-2400, 2 ranks, 1 and 4
# channels; 0.2% / 1.7% / 1.3% with 1 rank). The closed form charges tRTRS for every rank change in arrival
# order, while the scheduler reorders within its queue and hides some of them; the rest is rank-level
# tFAW/tRRD interplay it does not see.
TOLERANCE = 0.075
N = 40_000


def traces(cfg, n=N, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "stream": np.arange(n) * 64,
        "random": rng.integers(0, cfg.capacity_bytes // 64, n) * 64,
        "gather": (rng.integers(0, 1 << 20, n // 4)[:, None] * 256 + np.arange(4) * 64).ravel(),
    }


@pytest.mark.parametrize("channels,ranks", [(1, 2), (4, 2), (1, 1)])
@pytest.mark.parametrize("kind", ["stream", "random", "gather"])
def test_analytic_time_within_tolerance_of_detailed(channels, ranks, kind):
    cfg = load_dram("DDR4-2400", channels=channels, ranks=ranks)
    addr = traces(cfg)[kind]
    arrival, w = np.zeros(addr.size), np.zeros(addr.size, bool)
    det = Dram(cfg).simulate(arrival, addr, w)
    ana = AnalyticDram(cfg).simulate(arrival, addr, w)
    assert ana.counters.sim_time_ns == pytest.approx(det.counters.sim_time_ns, rel=TOLERANCE)
    assert ana.counters.row_hit_rate == pytest.approx(det.counters.row_hit_rate, abs=0.02)
    assert ana.counters.requests == det.counters.requests


def test_unloaded_latency_is_a_lower_bound_on_a_paced_stream():
    cfg = load_dram("DDR4-2400")
    addr = traces(cfg, 20_000)["random"]
    arrival = np.arange(addr.size) * 20.0  # well under the channel's capacity
    det = Dram(cfg).simulate(arrival, addr, np.zeros(addr.size, bool))
    ana = AnalyticDram(cfg).simulate(arrival, addr, np.zeros(addr.size, bool))
    assert ana.read_latency_stats()["read_latency_avg_ns"] <= det.read_latency_stats()["read_latency_avg_ns"]
    # unsaturated: both finish one latency after the last arrival
    assert ana.counters.sim_time_ns == pytest.approx(det.counters.sim_time_ns, rel=0.01)


def test_analytic_responds_to_queue_depth_and_page_policy():
    cfg = load_dram("DDR4-2400")
    addr = traces(cfg)["random"]
    z, w = np.zeros(addr.size), np.zeros(addr.size, bool)
    deep = AnalyticDram(cfg).simulate(z, addr, w).counters.sim_time_ns
    shallow = AnalyticDram(load_dram("DDR4-2400", queue_depth=2)).simulate(z, addr, w).counters.sim_time_ns
    assert shallow > 1.5 * deep
    closed = AnalyticDram(load_dram("DDR4-2400", page_policy="closed")).simulate(z, traces(cfg)["stream"], w)
    assert closed.counters.row_hits == 0


def test_completion_never_precedes_arrival_plus_latency():
    cfg = load_dram("DDR4-2400", channels=2)
    rng = np.random.default_rng(4)
    addr = traces(cfg, 5000)["random"]
    arrival = np.sort(rng.random(addr.size) * 1e4)
    w = rng.random(addr.size) < 0.3
    r = AnalyticDram(cfg).simulate(arrival, addr, w)
    min_lat = (np.where(w, cfg.tCWL, cfg.tCL) + cfg.burst_cycles) * cfg.tck_ns
    assert np.all(r.completion_ns >= arrival + min_lat - 1e-9)
    assert r.counters.bytes_read + r.counters.bytes_written == addr.size * 64


def test_refresh_wait_matches_the_detailed_on_a_paced_stream():
    """A request blind to the refresh schedule finds its rank refreshing with probability tRFC / tREFI and then
    waits half of tRFC: the detailed model's latency with refresh on minus off agrees within 2 ns, and the
    mean latencies within 5%. Not modelled: on a busier channel the backlog that builds during the refresh
    drains after it (x 1 / (1 - utilisation) in a fluid queue: DDR4 on one channel at this rate waits 11 ns, not
    7.8). Open: the detailed model shows 7.8 ns on DDR5-4800 x 4 (predicted 11.2) and 1.6 ns on HBM2 in
    pseudo-channel mode (predicted 8.7) at this rate."""
    cfg = load_dram("DDR4-2400", channels=4)  # the shipped Broadwell host memory
    addr = traces(cfg, 20_000)["random"]
    arrival, w = np.arange(addr.size) * 20.0, np.zeros(addr.size, bool)

    def mean_latency(model):
        r = model.simulate(arrival, addr, w)
        return float((r.completion_ns - r.arrival_ns).mean())

    never = cfg.model_copy(update={"tREFI": 10**9})
    det_wait = mean_latency(Dram(cfg)) - mean_latency(Dram(never))
    ana_wait = mean_latency(AnalyticDram(cfg)) - mean_latency(AnalyticDram(never))
    assert ana_wait == pytest.approx(cfg.tRFC ** 2 / (2 * cfg.tREFI) * cfg.tck_ns, rel=0.01)
    assert ana_wait == pytest.approx(det_wait, abs=2.0)
    assert mean_latency(AnalyticDram(cfg)) == pytest.approx(mean_latency(Dram(cfg)), rel=0.05)


def _reference_kind(cfg, channel, bank, row, order):
    """Row class per request by the sort-based numpy form the kernel replaced (hit 0, miss 1, conflict 2)."""
    kind = np.full(row.size, 1, np.int8)
    if cfg.page_policy == "closed" or row.size == 0:
        return kind
    gbank = channel * cfg.banks_per_channel + bank
    by_bank = order[np.argsort(gbank[order], kind="stable")]
    g, r = gbank[by_bank], row[by_bank]
    same_bank = np.r_[False, g[1:] == g[:-1]]
    kind[by_bank] = np.where(same_bank, np.where(np.r_[False, r[1:] == r[:-1]], 0, 2), 1)
    return kind


def _reference_simulate(dram, arrival_ns, addr, is_write):
    """The per-channel numpy form of AnalyticDram.simulate before its passes became kernels: (completion, counts)."""
    from accelsim.hw.dram import arrival_cycles, arrival_order, prepare_requests
    cfg = dram.cfg
    req = prepare_requests(cfg, arrival_ns, addr, is_write)
    arr_cyc = arrival_cycles(cfg, req.arrival_ns)
    order = arrival_order(arr_cyc, req.channel)
    kind = _reference_kind(cfg, req.channel, req.bank, req.row, order)
    cas = np.where(req.is_write, cfg.tCWL, cfg.tCL) + cfg.burst_cycles
    lat = cas + np.select([kind == 1, kind == 2], [cfg.tRCD, cfg.tRP + cfg.tRCD], 0) + dram.refresh_wait_cycles()
    completion = np.empty(req.arrival_ns.size)
    counts, busy = [], np.zeros((cfg.channels, cfg.banks_per_channel))
    starts = np.searchsorted(req.channel[order], np.arange(cfg.channels + 1))
    for ch in range(cfg.channels):
        idx = order[starts[ch]:starts[ch + 1]]
        if idx.size == 0:
            counts.append((0, 0, 0))
            continue
        k, b = kind[idx], req.bank[idx]
        opens = k != 0
        bank_cyc = np.bincount(b, weights=np.where(opens, cfg.tRC, cfg.tCCD_L), minlength=cfg.banks_per_channel)
        acts = np.bincount(b[opens] // cfg.banks_per_rank, minlength=cfg.rank_nodes)
        rank_of = b // cfg.banks_per_rank
        if cfg.pseudo_channels > 1:
            bus = np.bincount(rank_of, minlength=cfg.rank_nodes).max() * cfg.burst_cycles
        else:
            bus = idx.size * cfg.burst_cycles + int(np.count_nonzero(rank_of[1:] != rank_of[:-1])) * cfg.tRTRS
        service = max(bus, bank_cyc.max(), acts.max() * max(cfg.tRRD_S, cfg.tFAW / 4),
                      lat[idx].sum() / cfg.queue_depth) * (cfg.tREFI / (cfg.tREFI - cfg.tRFC))
        i = np.arange(idx.size)
        slot = service / idx.size
        completion[idx] = i * slot + np.maximum.accumulate(arr_cyc[idx] + lat[idx] - i * slot)
        counts.append((int((k == 0).sum()), int((k == 1).sum()), int((k == 2).sum())))
        busy[ch] = np.bincount(b, weights=np.where(opens, cfg.tRAS, cfg.tCCD_L), minlength=cfg.banks_per_channel)
    return completion * cfg.tck_ns, counts, busy * cfg.tck_ns


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 400), seed=st.integers(0, 2**31), channels=st.sampled_from([1, 2, 4]),
       ranks=st.sampled_from([1, 2]), page=st.sampled_from(["open", "closed"]), hbm=st.booleans(),
       spread_ns=st.sampled_from([0.0, 50.0, 5000.0]), rows=st.sampled_from([4, 1 << 16]))
def test_kernel_passes_equal_the_numpy_form_bit_for_bit(n, seed, channels, ranks, page, hbm, spread_ns, rows):
    cfg = load_dram("hbm2", page_policy=page) if hbm else \
        load_dram("DDR4-2400", channels=channels, ranks=ranks, page_policy=page)
    rng = np.random.default_rng(seed)
    addr = rng.integers(0, min(cfg.capacity_bytes // 64, rows * 1024), n) * 64
    arrival = np.round(rng.uniform(0, spread_ns, n), 3)
    w = rng.random(n) < 0.3
    dram = AnalyticDram(cfg)
    got = dram.simulate(arrival, addr, w)
    completion, counts, busy = _reference_simulate(dram, arrival, addr, w)
    assert np.array_equal(got.completion_ns, completion)
    assert np.array_equal(got.counters.bank_busy_ns, busy)
    pc = got.counters.per_channel
    assert [(int(h), int(m), int(c)) for h, m, c in zip(pc["row_hits"], pc["row_misses"], pc["row_conflicts"])] \
        == counts


@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 1200), seed=st.integers(0, 2**31), scale=st.integers(-3, 12), lo=st.integers(0, 9))
def test_kernel_pairwise_sum_is_numpys_sum_bit_for_bit(n, seed, scale, lo):
    """The kernel's sum of a slice (a channel's latencies) is numpy's, pairwise blocks and all."""
    from accelsim.kernels.dram_closed_form import pairwise_sum
    rng = np.random.default_rng(seed)
    a = rng.random(n + lo) * 10.0 ** rng.integers(scale - 3, scale + 1, n + lo)
    assert pairwise_sum(a, lo, n) == a[lo:lo + n].sum()
    assert np.float64(pairwise_sum(a, lo, n)).view(np.int64) == a[lo:lo + n].sum().view(np.int64)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 3000), seed=st.integers(0, 2**31), channels=st.sampled_from([1, 2, 4, 8]),
       top=st.sampled_from([1, 3, 2**11, 2**23, 2**40, 2**62]), runs=st.sampled_from([0, 1, 2, 3, 4, 5, 9, 200]))
def test_kernel_arrival_order_is_the_stable_channel_arrival_sort(n, seed, channels, top, runs):
    """The order the analytic passes use is hw.dram.arrival_order's permutation (ties kept in input order), on
    cycles of any width: unsorted (`runs` 0), sorted (1), or a concatenation of `runs` ascending runs (merged
    when that takes fewer passes than the radix sort's digits, radix-sorted otherwise)."""
    from accelsim.hw.dram import arrival_order
    from accelsim.kernels.dram_closed_form import channel_arrival_order
    rng = np.random.default_rng(seed)
    cyc = rng.integers(0, top, n)
    if runs:
        cuts = np.sort(rng.integers(0, n + 1, runs - 1))
        cyc = np.concatenate([np.sort(part) for part in np.split(cyc, cuts)]) if n else cyc
    channel = rng.integers(0, channels, n)
    order, starts = channel_arrival_order(cyc, channel, channels)
    assert np.array_equal(order, arrival_order(cyc, channel))
    assert np.array_equal(order, np.lexsort((cyc, channel)))
    assert np.array_equal(starts, np.searchsorted(channel[order], np.arange(channels + 1)))
