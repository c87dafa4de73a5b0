"""The scheduler's grouped scan picks what checking every bank afresh picks, and keeps its groups right."""

from __future__ import annotations

import types

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from accelsim.config.dram import load_dram
from accelsim.hw.dram import Dram
from accelsim.kernels import dram_timing
from accelsim.kernels.dram_state import _INF, N_GROUP_CMD, RD


@njit(_nrt=False)
def _every_bank_scan(now, a_e, cand, qi, nxt, node_of, dual_cmd, row_at, col_at, frfcfs, g_mem, g_n, g_min):
    """Reference: every bank offering a command, its constraint rows read afresh, no bound consulted."""
    pick = -1
    pick_key = (0, 0)
    n_ready = 0
    tmin = _INF
    for g in range(g_n.size):
        cmd = g % N_GROUP_CMD
        for j in range(g_n[g]):
            b = g_mem[g, j]
            e = dram_timing._earliest(cmd, b, nxt, node_of)
            if dual_cmd and e <= now and (row_at if cmd < RD else col_at) == now:
                e = now + 1
            if e > now:
                tmin = min(tmin, e)
                continue
            n_ready += 1
            key = (0 if cmd >= RD and frfcfs else 1, qi[cand[b]])
            if pick < 0 or key < pick_key:
                pick, pick_key = b, key
    return pick, n_ready, tmin


def _reference_kernel():
    """run_channel's own source compiled with the reference scan in place of the grouped one."""
    fn = dram_timing.run_channel.py_func
    scope = dict(fn.__globals__, _scan=_every_bank_scan)
    return njit(_nrt=False)(types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__))


REFERENCE = _reference_kernel()
CASE = (st.sampled_from(["DDR4-2400", "ddr5_4800", "hbm2"]), st.sampled_from(["frfcfs", "fcfs"]),
        st.sampled_from(["open", "closed"]), st.sampled_from(["shared", "per_rank", "per_bank"]),
        st.integers(1, 32), st.integers(1, 400), st.integers(0, 2**31), st.floats(0.0, 1.0))


def _trace(cfg, n, seed, write_frac):
    rng = np.random.default_rng(seed)
    addr = rng.integers(0, 1 << 16, n) * 64 * rng.integers(1, 64)
    return np.sort(rng.random(n)) * n * rng.random() * 4, addr, rng.random(n) < write_frac


@settings(max_examples=40, deadline=None)
@given(*CASE)
def test_grouped_scan_serves_as_checking_every_bank(preset, scheduler, policy, structure, depth, n, seed, write_frac):
    cfg = load_dram(preset, channels=2, scheduler=scheduler, page_policy=policy, queue_structure=structure,
                    queue_depth=depth, command_queue_depth=4)
    arrival, addr, w = _trace(cfg, n, seed, write_frac)
    a = Dram(cfg, kernel=dram_timing.run_channel).simulate(arrival, addr, w)
    b = Dram(cfg, kernel=REFERENCE).simulate(arrival, addr, w)
    assert np.array_equal(a.completion_ns, b.completion_ns)
    for name, v in a.counters.per_bank.items():
        assert np.array_equal(v, b.counters.per_bank[name]), name
    assert np.array_equal(a.counters.bank_busy_ns, b.counters.bank_busy_ns)


@settings(max_examples=40, deadline=None)
@given(*CASE)
def test_each_bank_offering_a_command_is_in_its_group_once(preset, scheduler, policy, structure, depth, n, seed,
                                                           write_frac):
    cfg = load_dram(preset, channels=1, scheduler=scheduler, page_policy=policy, queue_structure=structure,
                    queue_depth=depth, command_queue_depth=4)
    arrival, addr, w = _trace(cfg, n, seed, write_frac)
    dram = Dram(cfg, kernel=dram_timing.run_channel)
    reqs = dram.requests(addr, w)
    cyc = np.round(arrival / cfg.tck_ns).astype(np.int64)
    state = dram.new_state()
    dram.run(state, cyc, reqs.bank[0], reqs.row[0], reqs.is_write_by_channel[0], final=False)  # mid-stream
    rank = dram._nodes[:, 1] - 1
    members = {g: list(state.g_mem[g, :state.g_n[g]]) for g in range(state.g_n.size)}
    for b in range(cfg.banks_per_channel):
        cmd = state.a_cmd[b]
        if cmd >= 0:
            g = rank[b] * N_GROUP_CMD + cmd
            assert state.head[b] >= 0 and members[g].count(b) == 1 and state.gpos[b] == members[g].index(b)
    assert sum(len(m) for m in members.values()) == int((state.a_cmd >= 0).sum())
