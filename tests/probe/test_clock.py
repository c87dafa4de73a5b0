"""The clock probe's chain is the recurrence it claims (so no compiler can fold it), and it stands down off x86."""

import numpy as np

from accelsim.probe import clock
from accelsim.probe.chase import read_sum, read_sums
from accelsim.probe.memory import Level, level_read_sets


def test_the_chain_is_the_stated_recurrence():
    x, mask = 5, (1 << 64) - 1
    for _ in range(1000):
        x = (x * 0x9E3779B97F4A7C15 + (x >> 17)) & mask
    assert int(clock.mul_add_chain(1000, np.uint64(5))) == x


def test_off_x86_the_clock_probe_returns_nothing(monkeypatch):
    monkeypatch.setattr(clock.platform, "machine", lambda: "aarch64")
    assert clock.measure_clock(0.01) is None


def test_a_short_run_reports_a_positive_clock_and_its_runs():
    c = clock.measure_clock(0.0, steps=10_000)
    assert c.ghz > 0 and c.runs >= 5 and 0 <= c.spread < 1


def test_read_sum_reads_every_element():
    a = np.arange(1000, dtype=np.float32) % 7
    assert read_sum(a) == float(a.sum())
    assert read_sums(a, 3) == 3 * float(a.sum())


def test_read_sets_sit_inside_each_level_then_memory():
    kib = 1024
    levels = [Level("L1D", 1.0, 32 * kib, 32 * kib), Level("L2", 4.0, 2048 * kib, 2048 * kib),
              Level("L3", 20.0, 8192 * kib, 8192 * kib)]
    assert level_read_sets(levels, 1 << 29) == [256 * kib, 4096 * kib, 1 << 29]
