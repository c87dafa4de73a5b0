"""The drift check's expected readings: what the config says its microbenchmarks should read."""

import pytest

from accelsim.config.system import load_system
from accelsim.validate.drift import MEMORY_WS_BYTES, expected, translation_ns


def _with_tlb(**fields):
    hw = load_system("broadwell_cpu_only")
    return hw.model_copy(update={"cpu": hw.cpu.model_copy(update={"tlb": hw.cpu.tlb.model_copy(update=fields)})})


def test_a_chase_within_the_tlb_reach_pays_no_translation():
    hw = _with_tlb(entries=1536, ways=6, page_bytes=4096, page_walk_ns=30.0)
    assert translation_ns(hw, 1536 * 4096) == 0.0 and translation_ns(hw, 64 << 10) == 0.0


@pytest.mark.parametrize("ws_mib", [8, 64, 256, 1024])
def test_beyond_the_reach_a_line_pays_a_walk_on_each_page_the_tlb_misses(ws_mib):
    hw = _with_tlb(entries=1024, ways=8, page_bytes=4096, page_walk_ns=40.0)
    ws = ws_mib << 20
    assert translation_ns(hw, ws) == pytest.approx(40.0 * (1 - (4 << 20) / ws))


def test_the_first_level_adds_its_miss_where_only_it_misses():
    hw = _with_tlb(entries=1024, ways=8, page_bytes=4096, page_walk_ns=40.0, first_level_entries=64,
                   first_level_ways=None, first_level_miss_ns=7.0)
    ws = 2 << 20  # inside the second level's 4 MiB, beyond the first's 256 KiB
    assert translation_ns(hw, ws) == pytest.approx(7.0 * (1 - (256 << 10) / ws))
    far = 256 << 20
    assert translation_ns(hw, far) == pytest.approx(40.0 * (1 - (4 << 20) / far) + 7.0 * ((4 << 20) - (256 << 10))
                                                    / far)


def test_the_expected_memory_latency_carries_the_tables_walks():
    small = _with_tlb(entries=1024, ways=8, page_bytes=4096, page_walk_ns=0.0)
    walks = _with_tlb(entries=1024, ways=8, page_bytes=4096, page_walk_ns=40.0)
    assert expected(walks).memory_latency_ns - expected(small).memory_latency_ns == pytest.approx(
        40.0 * (1 - (4 << 20) / MEMORY_WS_BYTES))
    assert expected(walks).llc_latency_ns == expected(small).llc_latency_ns
