"""Chunked replay (the trace streamed through carried controller state) equals the in-memory path exactly."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.config.dram import load_dram
from accelsim.hw import dram_replay
from accelsim.hw.dram import Dram


def _trace(cfg, n, seed, rate):
    rng = np.random.default_rng(seed)
    amap = cfg.address_map
    addr = np.array([amap.encode(channel=int(rng.integers(0, cfg.channels)), rank=int(rng.integers(0, cfg.ranks)),
                                 bankgroup=int(rng.integers(0, 2)), bank=int(rng.integers(0, 2)),
                                 row=int(rng.integers(0, 3)), column=int(rng.integers(0, 4))) for _ in range(n)],
                    np.int64)
    cyc = np.cumsum(rng.integers(0, rate + 1, n))
    return cyc, addr, rng.random(n) < 0.35


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**31), st.integers(1, 64), st.sampled_from([0, 3, 40, 4000]),
       st.sampled_from(["ddr4_2400", "hbm2", "ddr5_4800"]), st.sampled_from(["open", "closed"]),
       st.integers(1, 6), st.sampled_from(["shared", "per_rank", "per_bank"]), st.integers(1, 3))
def test_chunked_and_in_memory_replay_agree_exactly(n, seed, chunk, rate, preset, policy, depth, structure, cq):
    cfg = load_dram(preset, channels=2, page_policy=policy, queue_depth=depth, write_queue_depth=depth + 1,
                    tREFI=5000 if preset == "ddr4_2400" else None, queue_structure=structure,
                    command_queue_depth=cq)
    cyc, addr, w = _trace(cfg, n, seed, rate)
    res = Dram(cfg).simulate(cyc * cfg.tck_ns, addr, w)
    whole = dram_replay.report(cfg, dram_replay.stats_of_result(cfg, res, 500.0), dram_replay.counters_of_result(res))
    replay = dram_replay.StreamReplay(cfg, 500.0)
    for s in range(0, n, chunk):
        replay.feed(cyc[s:s + chunk], addr[s:s + chunk], w[s:s + chunk])
    stats = replay.finish()
    chunked = dram_replay.report(cfg, stats, replay.counters())
    assert _same(chunked, whole)


def _same(a, b):
    import json
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def test_per_request_completions_match_when_fed_one_at_a_time():
    cfg = load_dram("ddr4_2400")
    cyc, addr, w = _trace(cfg, 400, 7, 5)
    res = Dram(cfg).simulate(cyc * cfg.tck_ns, addr, w)
    dram = Dram(cfg)
    state = dram.new_state()
    req = cfg.address_map.decode(addr)
    bank = (req.rank * cfg.bankgroups + req.bankgroup) * cfg.banks_per_group + req.bank
    got = np.empty(400, np.int64)
    for i in range(400):
        done = dram.run(state, cyc[i:i + 1], bank[i:i + 1], req.row[i:i + 1], w[i:i + 1], base=i, final=False)
        got[done.index] = done.completion_cycle
    done = dram.run(state, cyc[:0], bank[:0], req.row[:0], w[:0], base=400, final=True)
    got[done.index] = done.completion_cycle
    np.testing.assert_array_equal(got * cfg.tck_ns, res.completion_ns)


def test_histogram_counts_sum_to_reads_and_epochs_to_requests():
    cfg = load_dram("ddr4_2400", channels=2)
    cyc, addr, w = _trace(cfg, 3000, 3, 6)
    replay = dram_replay.StreamReplay(cfg, epoch_ns=1000.0)
    replay.feed(cyc, addr, w)
    rep = dram_replay.report(cfg, replay.finish(), replay.counters())
    hist = rep["read_latency_histogram"]
    assert sum(hist["counts"]) == rep["reads"] == int((~w).sum())
    assert hist["bucket_low_ns"][:3] == [0.0, 8.0, 16.0]
    assert sum(e["num_reads_done"] + e["num_writes_done"] for e in rep["epochs"]) == 3000
    assert len(rep["epochs"]) == int(np.ceil(rep["sim_time_ns"] / 1000.0 + 1e-9))
    for ch in rep["per_channel"]:
        assert ch["num_reads_done"] == sum(b["num_reads_done"] for b in ch["banks"])
        assert ch["num_act_cmds"] == sum(b["num_act_cmds"] for b in ch["banks"])
    assert sum(ch["num_reads_done"] for ch in rep["per_channel"]) == rep["reads"]


def test_run_counters_carry_dramsim3_named_per_channel_counts_and_the_histogram():
    from accelsim.sim.api import resolve_point, run_point

    point = resolve_point(dict(hw="broadwell_cpu_only", workload="rm1", mapping="cpu_only", batch_size=2,
                               batches=1, fidelity="detailed", functional=False))
    c = run_point(point).counters
    dram = c[c["device"] == "dram"].groupby("counter")["value"].sum()
    channels = point["hw"]["dram"]["channels"]
    per_ch = sum(dram.get(f"num_reads_done_ch{ch}", 0.0) for ch in range(channels))
    assert per_ch == dram["reads"] > 0
    hist = sum(v for k, v in dram.items() if k.startswith("read_latency_ge_"))
    assert hist == dram["reads"]


def test_stream_refuses_time_going_backwards():
    import pytest

    from accelsim.errors import InputError

    replay = dram_replay.StreamReplay(load_dram("ddr4_2400"))
    replay.feed(np.array([5, 9]), np.array([0, 64]), np.zeros(2, bool))
    with pytest.raises(InputError, match="must not go backwards"):
        replay.feed(np.array([8]), np.array([128]), np.zeros(1, bool))
