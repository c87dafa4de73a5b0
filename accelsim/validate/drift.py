"""Does the config still describe this machine? Five of the probes' own microbenchmarks, read before and after
a validation run and set against what the config says.

On a shared guest the LLC share, the misses a core keeps in flight and the core clock can move 2-3x within an
hour (docs/calibrate.md, runs 6 and 7): a grid's errors then measure the move, not the model. The readings flag
such a run; they set no parameter (nothing here writes a config; tests/probe/test_kept_apart.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from accelsim.config.system import SystemConfig

MOVED = 0.15          # a reading more than 15% off the config's value flags the run
MEMORY_WS_BYTES = 256 << 20
CHAINS = 32


@dataclass(frozen=True)
class Reading:
    """The machine now: LLC and memory load-to-use latency, misses in flight of one core, the core clock."""

    llc_latency_ns: float
    memory_latency_ns: float
    misses_in_flight: float
    freq_ghz: float


def translation_ns(hw: SystemConfig, ws_bytes: float) -> float:
    """What the config's TLBs add on average to a load of a random line in `ws_bytes` on the tables' pages: a walk
    where the line's page misses the TLB, the first level's miss latency where only that level misses."""
    t = hw.cpu.tlb
    reach = t.entries * t.page_bytes
    walk = max(0.0, 1.0 - reach / ws_bytes) * t.walk_ns(ws_bytes)
    if t.first_level_entries is None:
        return walk
    first = min(reach, ws_bytes) / ws_bytes - min(t.first_level_entries * t.page_bytes, ws_bytes) / ws_bytes
    return walk + first * (t.first_level_miss_ns or 0.0)


def expected(hw: SystemConfig) -> Reading:
    """What the config says the same microbenchmarks should read."""
    from accelsim.hw.host_memory import idle_read_latency_ns
    c = hw.cpu
    caches_ns = float(sum(lv.hit_latency_ns for lv in c.caches))
    memory_ns = caches_ns + c.memory_fabric_latency_ns + idle_read_latency_ns(hw.dram)
    return Reading(caches_ns, memory_ns + translation_ns(hw, MEMORY_WS_BYTES),
                   float(c.line_fill_buffers_per_core), c.freq_ghz)


def _chase_ns(ws_bytes: int, chains: int, budget_s: float, huge: bool = True) -> float:
    from accelsim.probe.chase import LINE_BYTES, ChaseBuffer, chase
    from accelsim.probe.repeat import repeat
    buf = ChaseBuffer(ws_bytes // LINE_BYTES, huge, 0)
    try:
        order = buf.use(ws_bytes // LINE_BYTES)
        starts = order[np.arange(chains) * (order.size // chains)].copy()
        hops = max(2000, 400_000 // chains)
        chase(buf.words, starts, min(order.size // chains, 200_000))
        return repeat(lambda: chase(buf.words, starts, hops), budget_s=budget_s, warmup=1).per(hops)
    finally:
        buf.close()


def read_machine(hw: SystemConfig, budget_s: float = 2.0) -> Reading:
    """Time five microbenchmarks (about `budget_s` in all): 32 chains at twice the level above the LLC, one chain
    at 256 MiB on the tables' pages, one chain and 32 chains at 256 MiB on 2 MiB pages, the multiply-add clock
    chain. The memory latency is read on the pages the tables live on, so that it pays the walks the config
    charges them (`translation_ns`); the misses in flight and the LLC latency are read as the probe reads them,
    on 2 MiB pages: one chain's ns a hop over 32 chains' (accelsim.probe.memory.loaded_latency_ns)."""
    from accelsim.probe.chase import HUGE_PAGE_BYTES
    from accelsim.probe.clock import measure_clock
    from accelsim.probe.memory import loaded_latency_ns
    share = budget_s / 5
    above = 2 * hw.cpu.caches[-2].size_bytes if len(hw.cpu.caches) > 1 else 0
    llc_ws = min(max(above, 64 << 10), hw.cpu.caches[-1].size_bytes // 2)
    llc_per_line = _chase_ns(int(llc_ws), CHAINS, share) / CHAINS
    mem = _chase_ns(MEMORY_WS_BYTES, 1, share, huge=hw.cpu.tlb.page_bytes >= HUGE_PAGE_BYTES)
    mem_huge = _chase_ns(MEMORY_WS_BYTES, 1, share)
    per_miss = _chase_ns(MEMORY_WS_BYTES, CHAINS, share) / CHAINS
    clock = measure_clock(share)
    inflight = mem_huge / per_miss
    return Reading(loaded_latency_ns(llc_per_line, inflight, CHAINS), mem, inflight,
                   clock.ghz if clock else float("nan"))


def compare(hw: SystemConfig, before: Reading, after: Reading) -> dict:
    """Readings before and after, each over the config's value, and whether any moved more than MOVED."""
    want = asdict(expected(hw))
    ratio = {when: {k: v / want[k] if want[k] else float("nan") for k, v in asdict(r).items()}
             for when, r in (("before", before), ("after", after))}
    moved = sorted({k for r in ratio.values() for k, v in r.items() if not abs(v - 1) <= MOVED})
    return {"config": want, "before": asdict(before), "after": asdict(after), "ratio_to_config": ratio,
            "moved": moved}
