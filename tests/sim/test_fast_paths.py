"""Speed cannot change answers unnoticed: the fast detailed paths give the stage tables the reference paths give.

The references are the straightforward forms of the same semantics: a DRAM that decodes every call and sorts
all requests by (channel, arrival) in one lexsort, and the sort-based definition of merged line repeats.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from accelsim.config.system import SystemConfig, resolve_hw_path
from accelsim.config.base import parse_model, read_yaml
from accelsim.hw import sparse_engine
from accelsim.hw.dram import COUNTER_NAMES, Dram, DramResult, arrival_cycles, arrival_order, make_counters, \
    prepare_requests
from accelsim.kernels.window import repeats_within_window
from accelsim.sim import machine as machine_module
from accelsim.sim import shared as shared_module
from accelsim.sim.api import resolve_point, run_point
from accelsim.sim.pipeline import Phase, Schedule, schedule_frame


class ReferenceDram:
    """Dram.simulate as one call: decode, one lexsort over (channel, arrival), each channel run alone."""

    def __init__(self, cfg):
        self.cfg = cfg
        self._dram = Dram(cfg)

    def simulate(self, arrival_ns, addr, is_write) -> DramResult:
        cfg, dram = self.cfg, self._dram
        req = prepare_requests(cfg, arrival_ns, addr, is_write)
        arr_cyc = arrival_cycles(cfg, req.arrival_ns)
        order = arrival_order(arr_cyc, req.channel)
        starts = np.searchsorted(req.channel[order], np.arange(cfg.channels + 1))
        a, b, r, w = arr_cyc[order], req.bank[order], req.row[order], req.is_write[order]
        comp_sorted = np.empty(order.size, np.int64)
        counts = np.zeros((cfg.channels, len(COUNTER_NAMES)), np.int64)
        bank_counts = np.zeros((cfg.channels, cfg.banks_per_channel, len(COUNTER_NAMES)), np.int64)
        busy = np.zeros((cfg.channels, cfg.banks_per_channel), np.int64)
        for ch in range(cfg.channels):
            s, e = int(starts[ch]), int(starts[ch + 1])
            if e > s:
                state = dram.new_state()
                done = dram.run(state, a[s:e], b[s:e], r[s:e], w[s:e], base=s)
                comp_sorted[done.index] = done.completion_cycle
                counts[ch], bank_counts[ch], busy[ch] = state.counts, state.bank_counts, state.busy
        completion = np.empty_like(comp_sorted)
        completion[order] = comp_sorted
        completion_ns = completion * cfg.tck_ns
        sim_ns = float(completion_ns.max()) if completion_ns.size else 0.0
        lat = (completion_ns - req.arrival_ns)[~req.is_write]
        return DramResult(req.arrival_ns, req.is_write, completion_ns,
                          make_counters(cfg, counts, busy * cfg.tck_ns, sim_ns, bank_counts, lat))


def reference_merged_repeats(addr, unit, off_chip, window):
    """Merged lines by their definition: sort each unit's off-chip lines by address, compare neighbours."""
    sel = np.flatnonzero(off_chip)
    merged = np.zeros(addr.size, dtype=np.bool_)
    if sel.size < 2:
        return merged
    u = unit[sel]
    starts = np.searchsorted(u, np.arange(int(u.max()) + 1), side="left")
    seq = np.arange(sel.size) - starts[u]
    order = np.lexsort((seq, addr[sel], u))
    same = (u[order][1:] == u[order][:-1]) & (addr[sel][order][1:] == addr[sel][order][:-1])
    near = seq[order][1:] - seq[order][:-1] <= window
    merged[sel[order][1:][same & near]] = True
    return merged


def _dram_cfg(name: str):
    return parse_model(SystemConfig, read_yaml(resolve_hw_path(name))).dram


def _same_result(a: DramResult, b: DramResult) -> None:
    assert np.array_equal(a.completion_ns, b.completion_ns)
    ca, cb = a.counters, b.counters
    for f in ("reads", "writes", "activates", "precharges", "row_hits", "row_misses", "row_conflicts", "refreshes",
              "sim_time_ns"):
        assert getattr(ca, f) == getattr(cb, f), f
    assert np.array_equal(ca.bank_busy_ns, cb.bank_busy_ns)
    assert np.array_equal(ca.read_latency_histogram, cb.read_latency_histogram)
    for k in ca.per_bank:
        assert np.array_equal(ca.per_bank[k], cb.per_bank[k]), k


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["broadwell_cpu_only", "spr_hbm_ucie_chiplet"]), st.integers(1, 300), st.integers(0, 2**20),
       st.lists(st.tuples(st.floats(0, 3000), st.booleans()), min_size=2, max_size=4), st.floats(0, 1),
       st.integers(0, 6))
def test_decoded_requests_time_like_one_reference_call_each(hw, n, seed, passes, write_share, spread):
    """Requests decoded once and timed at several arrival vectors (a closed loop's passes): each pass equals a
    reference call, unsorted arrivals, ties, writes and channel skew included."""
    cfg = _dram_cfg(hw)
    rng = np.random.default_rng(seed)
    addr = (rng.integers(0, 1 << (12 + 2 * spread), n) * cfg.burst_bytes).astype(np.int64)
    is_write = rng.random(n) < write_share
    fast = Dram(cfg)
    reqs = fast.requests(addr, is_write)
    ref = ReferenceDram(cfg)
    for span, sorted_ in passes:
        arrival = np.round(rng.random(n) * span, 1)  # rounded: many arrivals share a cycle
        if sorted_:
            arrival = np.sort(arrival)
        _same_result(fast.serve(arrival, reqs), ref.simulate(arrival, addr, is_write))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=0, max_size=200), st.integers(1, 5), st.integers(1, 40),
       st.integers(0, 2**16))
def test_merged_repeats_kernel_matches_the_sort_definition(addrs, units, window, seed):
    rng = np.random.default_rng(seed)
    addr = np.array(addrs, dtype=np.int64) * 64
    unit = np.sort(rng.integers(0, units, addr.size)).astype(np.int64)  # a unit's lines in one run
    off_chip = rng.random(addr.size) < 0.8
    assert np.array_equal(sparse_engine._merged_repeats(addr, unit, off_chip, window),
                          reference_merged_repeats(addr, unit, off_chip, window))
    if addr.size:
        assert np.array_equal(repeats_within_window(addr, unit, window),
                              reference_merged_repeats(addr, unit, np.ones(addr.size, np.bool_), window))


def _tables(point: dict) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    r = run_point(resolve_point(point))
    return dict(r.summary), r.stages, r.counters


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([("broadwell_cpu_only", "cpu_only"), ("harpv2_centaur", "centaur"),
                        ("harpv2_centaur", "sparse_offload"), ("spr_hbm_ucie_chiplet", "centaur")]),
       st.integers(1, 6), st.integers(1, 2), st.integers(1, 3), st.sampled_from([16, 32, 64]),
       st.sampled_from(["fp32", "int8"]), st.sampled_from(["uniform", "zipf"]), st.integers(0, 1000),
       st.booleans())
def test_fast_system_paths_give_the_reference_stage_tables(system, batch_size, batches, tables, dim, dtype, dist,
                                                           seed, concurrent):
    """Whole points, cheap to check: RM-like models, several batches sharing DRAM and links, both CPU table
    schedules; the DRAM of the run is the reference one and merged repeats the sort definition."""
    hw, mapping = system
    assume(not (hw == "spr_hbm_ucie_chiplet" and dtype == "int8"))  # its dequantisers overflow the FPGA
    workload = {"name": "small", "source": "test", "embedding_dim": dim, "interaction": "cat",
                "tables": [{"rows": 200_000, "lookups_per_sample": 20, "count": tables, "dtype": dtype}],
                "bottom_mlp": [16, dim], "top_mlp": [32, 1]}
    point = resolve_point(dict(hw=hw, workload=workload, mapping=mapping, batch_size=batch_size, batches=batches,
                               seed=seed, functional=False, trace={"dist": dist}))
    if concurrent:
        point["hw"]["cpu"]["software"].update(embedding_tables="concurrent", embedding_threads=1)
    fast = _tables(point)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(machine_module, "make_dram", lambda cfg, fidelity: ReferenceDram(cfg))
        mp.setattr(sparse_engine, "_merged_repeats", reference_merged_repeats)
        ref = _tables(point)
    assert fast[0] == ref[0]
    pd.testing.assert_frame_equal(fast[1], ref[1], check_exact=True)
    pd.testing.assert_frame_equal(fast[2], ref[2], check_exact=True)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([("harpv2_centaur", "centaur"), ("harpv2_centaur", "sparse_offload"),
                        ("spr_hbm_ucie_chiplet", "centaur")]),
       st.integers(1, 48), st.integers(1, 2), st.sampled_from([2, 8, 16]), st.sampled_from([3.2, 12.8, 32.0]),
       st.sampled_from(["uniform", "zipf"]), st.integers(0, 1000))
def test_analytic_closed_loop_passes_that_only_time_give_the_counted_tables(system, batch_size, batches, units,
                                                                           link_gbps, dist, seed):
    """An analytic gather's closed loop times its passes without counting and counts the last one once; the
    reference counts every pass (the links have no timing-only pass): same summary, stages and counters."""
    hw, mapping = system
    point = resolve_point(dict(hw=hw, workload="rm1", mapping=mapping, batch_size=batch_size, batches=batches,
                               seed=seed, functional=False, fidelity="analytic", trace={"dist": dist}))
    point["hw"]["accelerator"]["sparse_engine"]["gather_units"] = units
    point["hw"]["links"]["channels"][0]["bandwidth_gbps"] = link_gbps
    fast = _tables(point)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(shared_module.SharedLinks, "timer", lambda self, payload, direction: None)
        ref = _tables(point)
    assert fast[0] == ref[0]
    pd.testing.assert_frame_equal(fast[1], ref[1], check_exact=True)
    pd.testing.assert_frame_equal(fast[2], ref[2], check_exact=True)


def reference_schedule_frame(sched, alone: np.ndarray, passes: int = 1) -> pd.DataFrame:
    """The stage frame as pandas builds and sorts it (the form pipeline.schedule_frame replaced)."""
    ph = sched.phases
    df = pd.DataFrame({
        "batch": sched.batch, "stage": [p.stage for p in ph], "phase": [p.name for p in ph],
        "device": [p.device for p in ph], "also_holds": [",".join(p.also_holds) for p in ph],
        "start_ns": sched.start_ns, "end_ns": sched.end_ns})
    df["duration_ns"] = df["end_ns"] - df["start_ns"]
    df["alone_ns"] = alone
    df["contention_ns"] = np.maximum(df["duration_ns"] - alone, 0.0)
    df.attrs["sharing_passes"] = passes
    return df.sort_values(["batch", "start_ns", "stage", "phase"], kind="stable").reset_index(drop=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["embedding", "bottom_mlp", "top_mlp"]),
                          st.sampled_from(["gather", "gemm", "xfer_a", "xfer_b"]), st.integers(0, 5),
                          st.integers(0, 4), st.integers(0, 4)), max_size=30))
def test_stage_frame_is_the_pandas_sorted_frame(rows):
    """Ties in batch, start, stage and phase included (starts and durations on a coarse grid)."""
    phases = [Phase(stage, name, "cpu" if k % 2 else "links", float(d), also_holds=("links",) if k == 3 else ())
              for _, stage, name, k, d, _ in rows]
    start = np.array([float(s) for *_, s in rows])
    alone = np.array([p.duration_ns / 2 for p in phases])
    sched = Schedule(np.array([b for b, *_ in rows], dtype=np.int64), phases, start,
                     start + np.array([p.duration_ns for p in phases]))
    got, want = schedule_frame(sched, alone, 3), reference_schedule_frame(sched, alone, 3)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.attrs == want.attrs and list(got.dtypes) == list(want.dtypes)
