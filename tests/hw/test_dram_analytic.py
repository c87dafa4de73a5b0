import numpy as np
import pytest

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
