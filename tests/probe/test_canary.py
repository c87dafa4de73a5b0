"""The canary that tells an uncontended core from a contended one, and `repeat` keeping only quiet runs."""

import itertools

import pytest

from accelsim.probe.canary import QUIET, Canary, canary
from accelsim.probe.repeat import Timing, best, repeat


class Scripted:
    """A canary whose times are given: quiet at 100 ns, contended at 180 ns."""

    def __init__(self, times):
        self._times = iter(times)
        self.best_ns = float("inf")

    def __call__(self) -> float:
        ns = float(next(self._times))
        self.best_ns = min(self.best_ns, ns)
        return ns

    def quiet(self, ns: float) -> bool:
        return ns <= (1 + QUIET) * self.best_ns


def test_only_the_runs_between_quiet_canaries_count():
    # contended runs (canaries 180 ns) are fast-looking noise at 50 and slow at 300; quiet runs take 100-101
    runs = iter([300.0, 50.0, 100.0, 300.0, 101.0, 100.0, 100.5, 100.0] * 10)
    can = Scripted([180, 180, 180, 180, 100, 100, 180, 180, 100, 100, 100, 100, 100, 100, 100, 100] * 10)
    t = repeat(lambda: next(runs), warmup=0, window=3, min_runs=3, canary=can, budget_s=10.0)
    assert t.converged and t.quiet_runs == 3 and t.runs == 6  # runs 3, 5, 6 agree: done
    assert t.min_ns == 100.0 and t.median_ns == 100.0  # the 50 ns run was contended: it does not count


def test_with_no_quiet_run_every_run_counts_and_says_so():
    runs = itertools.cycle([300.0, 200.0, 250.0])
    can = Scripted(itertools.chain([100], itertools.repeat(180)))  # the one fast canary's run has a slow other
    t = repeat(lambda: next(runs), warmup=0, budget_s=0.01, canary=can)
    assert t.quiet_runs == 0 and t.min_ns == 200.0


def test_a_faster_canary_judges_earlier_runs_again():
    runs = iter([100.0, 100.0, 60.0, 61.0, 60.0, 60.5] * 20)
    # the first two runs look quiet against a 100 ns best; a 50 ns canary then shows they were contended
    can = Scripted([100, 100, 100, 100, 50, 50, 50, 50, 50, 50, 50, 50] * 20)
    t = repeat(lambda: next(runs), warmup=0, window=3, min_runs=3, canary=can, budget_s=10.0)
    assert t.min_ns == 60.0 and t.quiet_runs >= 3


def test_rounds_with_quiet_runs_beat_faster_rounds_without():
    contended = Timing(90.0, 0.01, 10, False, 80.0, 0)
    quiet = Timing(101.0, 0.01, 10, True, 100.0, 5)
    b = best([contended, quiet])
    assert b.min_ns == 100.0 and b.quiet_runs == 5 and b.runs == 20
    plain = [Timing(1.0, 0.0, 3, True, 1.0), Timing(2.0, 0.0, 3, True, 2.0)]
    assert best(plain).quiet_runs == -1 and best(plain).min_ns == 1.0


def test_the_real_canary_keeps_its_pace():
    c = canary()
    assert c is canary()  # one per process: its best holds across measurements
    times = [c() for _ in range(20)]
    assert c.best_ns <= sorted(times)[4]  # the 5th fastest of these, or of earlier ones still faster
    assert c.quiet(c.best_ns) and not c.quiet(c.best_ns * (1 + 2 * QUIET))


def test_one_freak_fast_canary_does_not_make_every_later_run_loud():
    from accelsim.probe.canary import PACE_RANK
    c = Canary()
    for ns in [10_000.0] + [26_000.0 + i for i in range(20)]:  # one freak 10 us, then the core's ~26 us
        c.record(ns)
    assert c.best_ns == 26_000.0 + PACE_RANK - 2  # the 5th fastest: the freak and the four fastest of the rest
    assert c.quiet(27_000.0) and not c.quiet(26_000.0 * (1 + 2 * QUIET))
    fresh = Canary()
    for ns in (30_000.0, 31_000.0):
        fresh.record(ns)
    assert fresh.best_ns == float("inf") and fresh.quiet(1e12)  # too few readings to know the pace: all quiet
