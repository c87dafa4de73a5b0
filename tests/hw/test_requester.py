import numpy as np
import pytest

from accelsim.hw.requester import closed_loop, closed_loop_bound


def fifo_server(service_ns, latency_ns):
    """One server, FIFO by arrival, a fixed service time, then a fixed flight latency."""
    def serve(arrival):
        order = np.argsort(arrival, kind="stable")
        done = np.empty_like(arrival)
        t = 0.0
        for i in order:
            t = max(t, arrival[i]) + service_ns
            done[i] = t + latency_ns
        return done
    return serve


@pytest.mark.parametrize("window,service,lat", [(1, 2.0, 50.0), (4, 2.0, 50.0), (10, 10.0, 50.0), (64, 5.0, 90.0)])
def test_closed_loop_throughput_matches_littles_law(window, service, lat):
    n = 4000
    serve = fifo_server(service, lat)
    res = closed_loop(np.zeros(n), np.zeros(n, np.int64), 1, window, serve, service + lat)
    # One requester with W slots: rate = min(1/service, W/(service + latency)).
    rate = min(1 / service, window / (service + lat))
    assert res.done_ns.max() == pytest.approx(n / rate, rel=0.05)
    assert (res.done_ns >= res.issue_ns + service + lat - 1e-9).all()


def test_window_one_is_exactly_serial():
    n = 100
    res = closed_loop(np.zeros(n), np.zeros(n, np.int64), 1, 1, fifo_server(3.0, 7.0), 10.0)
    assert res.done_ns.max() == pytest.approx(n * 10.0)


def test_more_requesters_share_the_server():
    n = 4000
    req = np.arange(n) % 4
    one = closed_loop(np.zeros(n), np.zeros(n, np.int64), 1, 2, fifo_server(1.0, 99.0), 100.0)
    four = closed_loop(np.zeros(n), req, 4, 2, fifo_server(1.0, 99.0), 100.0)
    assert four.done_ns.max() == pytest.approx(one.done_ns.max() / 4, rel=0.05)


def test_ready_times_are_respected():
    ready = np.arange(10, dtype=float) * 1000
    res = closed_loop(ready, np.zeros(10, np.int64), 1, 8, fifo_server(1.0, 1.0), 2.0)
    assert np.allclose(res.issue_ns, ready)
    assert np.allclose(res.done_ns, ready + 2.0)


@pytest.mark.parametrize("start_ns", [0.0, 1e6])
@pytest.mark.parametrize("window,service,lat", [(1, 2.0, 50.0), (4, 2.0, 50.0), (10, 10.0, 50.0), (64, 5.0, 90.0)])
def test_twin_matches_the_closed_loop(window, service, lat, start_ns):
    """Latency-bound and throughput-bound loops, starting at time 0 or late (an operator after others)."""
    n = 2000
    ready = np.full(n, start_ns)
    args = (ready, np.zeros(n, np.int64), 1, window, fifo_server(service, lat), service + lat)
    exact = closed_loop(*args).done_ns.max() - start_ns
    twin = closed_loop_bound(*args).done_ns.max() - start_ns
    assert twin == pytest.approx(exact, rel=0.05)


def test_twin_uses_the_loaded_latency_when_the_path_is_slower_than_announced():
    """The announced unloaded latency misses part of the path's (row conflicts, say): the loop runs at the
    path's real round trip, as the closed loop finds, not at the announced one."""
    n, window, service, lat = 4000, 10, 1.0, 100.0
    args = (np.zeros(n), np.zeros(n, np.int64), 1, window, fifo_server(service, lat), 60.0)
    exact = closed_loop(*args)
    twin = closed_loop_bound(*args)
    assert twin.latency_ns == pytest.approx(service + lat, rel=0.03)
    assert twin.done_ns.max() == pytest.approx(exact.done_ns.max(), rel=0.05)
    assert twin.done_ns.max() == pytest.approx(n / window * (service + lat), rel=0.05)


def test_twin_in_flight_is_at_most_the_stream():
    """Fewer requests than slots: all issue at once, one round trip, whatever the window."""
    res = closed_loop_bound(np.zeros(3), np.zeros(3, np.int64), 1, 64, fifo_server(1.0, 50.0), 51.0)
    assert res.done_ns.max() == pytest.approx(53.0)


def two_channel_server(service_ns, latency_ns, seed=0):
    """Two FIFO servers; each request goes to a random one (as addresses spread over DRAM channels)."""
    def serve(arrival):
        ch = np.random.default_rng(seed).integers(0, 2, arrival.size)
        done = np.empty_like(arrival)
        for c in (0, 1):
            sel = np.flatnonzero(ch == c)
            done[sel] = fifo_server(service_ns, latency_ns)(arrival[sel])
        return done
    return serve


def test_twin_matches_the_closed_loop_when_many_requesters_load_the_path_to_capacity():
    """14 requesters x 10 slots over two servers: Little's law puts the round trip at the path's capacity,
    where the random split queues; the loop's round trip is found between that and the queued latency."""
    n, window = 20_000, 10
    req = np.arange(n) % 14
    args = (np.zeros(n), req, 14, window, two_channel_server(1.0, 70.0), 71.0)
    exact = closed_loop(*args)
    twin = closed_loop_bound(*args)
    assert twin.done_ns.max() == pytest.approx(exact.done_ns.max(), rel=0.05)
