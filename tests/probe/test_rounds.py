"""Rounds of a probe spread over its run: each quantity's best round is what the config is built from."""

import pytest
from hypothesis import given, strategies as st

from accelsim.probe import compute, software
from accelsim.probe.compute import GemmPoint
from accelsim.probe.repeat import Timing, best
from tests.probe.test_config import report


def timing(min_ns: float, runs: int = 5, spread: float = 0.01) -> Timing:
    return Timing(min_ns * 1.05, spread, runs, True, min_ns)


@given(st.lists(st.tuples(st.floats(1.0, 1e9), st.integers(3, 100), st.floats(0.0, 1.0)), min_size=1, max_size=8))
def test_best_keeps_the_round_with_the_fastest_run_and_counts_every_run(rounds):
    ts = [timing(m, n, s) for m, n, s in rounds]
    b = best(ts)
    fastest = min(ts, key=lambda t: t.min_ns)
    assert b.min_ns == min(t.min_ns for t in ts)
    assert (b.median_ns, b.spread, b.converged) == (fastest.median_ns, fastest.spread, fastest.converged)
    assert b.runs == sum(t.runs for t in ts)
    assert best([ts[0]]) == ts[0]


def test_best_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        best([])


def _sw(scale: float, share: float) -> software.SoftwareProbe:
    return software.SoftwareProbe("2.13.0", timing(5000 * scale), timing(8000 * scale), 64, 25600,
                                  timing(70000 * scale), timing(20000 * scale), 40960, timing(1e5 * scale),
                                  timing(6e4 * scale), 2, share, (timing(4e4 * scale), timing(6e5 * scale)))


def test_software_rounds_merge_field_by_field():
    # a contended round (1.4x), an uncontended one, and one where only the dispatch was fast
    slow, fast = _sw(1.4, 0.5), _sw(1.0, 0.4)
    mixed = software.SoftwareProbe("2.13.0", timing(4000), *[getattr(slow, f) for f in (
        "embedding_dispatch", "cycles_dim", "cycles_lookups", "cycles_run", "bags_run", "thread_lookups", "one_thread",
        "all_threads", "threads")], 0.6, slow.index_runs)
    m = software.merge([slow, fast, mixed])
    assert m.linear_dispatch.min_ns == 4000 and m.embedding_dispatch.min_ns == 8000
    assert m.cycles_run.min_ns == 70000 and m.one_thread.min_ns == 1e5 and m.all_threads.min_ns == 6e4
    assert [t.min_ns for t in m.index_runs] == [4e4, 6e5]
    assert m.other_threads_cpu_share == pytest.approx(0.5)
    assert m.cycles_run.runs == 15  # every round's runs count


def test_gemm_rounds_merge_shape_by_shape():
    a = [GemmPoint(1, 16, 16, timing(900.0)), GemmPoint(2048, 1024, 1024, timing(5e7))]
    b = [GemmPoint(1, 16, 16, timing(1000.0)), GemmPoint(2048, 1024, 1024, timing(4e7))]
    m = compute.merge([a, b])
    assert [(p.m, p.k, p.n, p.timing.min_ns) for p in m] == [(1, 16, 16, 900.0), (2048, 1024, 1024, 4e7)]


def test_the_config_cites_the_rounds_it_kept_the_best_of():
    one, four = report(rounds=1), report(rounds=4)
    key = "op_dispatch_ns"
    assert "rounds" not in one.cpu.software.sources[key]
    assert "the best of 4 rounds spread over the probe run" in four.cpu.software.sources[key]
    assert "the best of 4 rounds" in four.cpu.sources["gather_cycles_per_lookup"]


def test_the_software_probe_times_every_quantity_with_the_canary():
    sw = software.software_probe(threads=2, budget_s=0.5)
    for t in (sw.linear_dispatch, sw.embedding_dispatch, sw.cycles_run, sw.bags_run, sw.one_thread, sw.all_threads):
        assert t.min_ns > 0 and t.quiet_runs >= 0  # timed between canaries
    assert sw.one_thread.runs >= software.THREAD_TURNS * 3  # in turns, at least min_runs each
    assert 0.0 <= sw.other_threads_cpu_share <= 1.0 and len(sw.index_runs) == 2


def test_the_gemm_probe_times_dlrm_squares_and_the_one_output_layers_that_end_a_top_mlp():
    got = compute.shapes()
    squares = [s for s in got if s[2] > 1]
    columns = [s for s in got if s[2] == 1]
    assert all(k == n for _, k, n in squares) and all(2 * m * k * n <= compute.MAX_FLOPS for m, k, n in squares)
    assert sorted(columns) == sorted((m, w, 1) for m in compute.BATCHES for w in compute.WIDTHS)
    pts = [GemmPoint(m, k, n, None) for m, k, n in got]
    assert compute.squares(pts) == [p for p in pts if p.n > 1]


def test_gemm_speed_ups_take_each_side_fastest_run_over_all_rounds():
    """A round in which the two-thread run of a shape was held up reads it unthreaded; over the rounds each side
    keeps its fastest run, so one bad round moves neither the speed-up nor the threading size."""
    sizes = [(1, 16, 16), (512, 256, 256), (2048, 256, 256)]
    good = [(10.0, 10.0), (400.0, 200.0), (1600.0, 800.0)]
    bad = [(11.0, 10.5), (410.0, 600.0), (1700.0, 850.0)]  # 512x256x256 at 0.68x on two threads
    assert compute.parallel_threshold_flops(sizes, [bad])[0] == 2 * 2048 * 256 * 256
    size, speedups = compute.parallel_threshold_flops(sizes, [bad, good])
    assert speedups == [1.0, 2.0, 2.0] and size == 2 * 512 * 256 * 256
