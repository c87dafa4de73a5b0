"""Shared parts contend; exclusive parts keep batch order."""

import dataclasses

import numpy as np
import pytest
from hypothesis import Phase as Phase_, given, settings
from hypothesis import strategies as st

from accelsim.sim.api import resolve_point, run_point
from accelsim.sim.engine import capacity_gbps, new_machine, sharing_model
from accelsim.sim.fluid import fluid_durations
from accelsim.sim.mapping import resolve_mapping
from accelsim.sim.pipeline import Phase, Schedule, run_pipeline
from accelsim.sim.stages import batch_work
from accelsim.hw.lookups import part_layout
from accelsim.workload.synth import synth_batches

WORKLOAD = {"name": "small", "source": "test", "embedding_dim": 32, "interaction": "cat",
            "tables": [{"rows": 1_000_000, "lookups_per_sample": 40, "count": 4}],
            "bottom_mlp": [16, 32], "top_mlp": [64, 1]}


def two_gathers(fidelity: str, sharing: bool, batch_size: int = 32, seed: int = 3, dist: str = "uniform",
                threads: int | None = None, record=None):
    """A CPU gather and a sparse-engine gather of different batches, both released at 0 on one host DRAM.

    `record`, if given, sees the machine first (`record(machine, None)`), then the two gather phases before
    they run together (`record(machine, plans)`, returning the plans to run)."""
    p = resolve_point(dict(hw="harpv2_centaur", workload=WORKLOAD, mapping="centaur", batch_size=batch_size))
    # every core on the CPU's gather (a modern stack's intra-op threads), so both gathers load the DRAM; the
    # shipped 2019 profile's one thread per call keeps too few misses in flight to slow the engine measurably
    p["hw"]["cpu"]["software"]["embedding_threads"] = threads
    from accelsim.config.system import SystemConfig
    from accelsim.config.workload import ModelSpec
    hw, spec = SystemConfig.model_validate(p["hw"]), ModelSpec.model_validate(p["workload"])
    machine = new_machine(hw, spec, fidelity)
    if record is not None:
        record(machine, None)
    batches = list(synth_batches(spec, dist=dist, batches=2, batch_size=batch_size, seed=seed))
    layout = part_layout(spec)
    plans = []
    for mapping, b in zip(("cpu_only", "sparse_offload"), batches):
        plan = batch_work(machine, spec, resolve_mapping(mapping), b, layout).plan
        plans.append({"embedding": [ph for ph in plan["embedding"] if ph.name == "gather"]})
    if record is not None:
        plans = record(machine, plans)
    return run_pipeline(plans, 2, share=sharing_model(machine, sharing)), hw


def check_pair_timing(df, strictly_longer: bool) -> None:
    """Each no faster than alone (slower if `strictly_longer`); the pair between the slower alone and the two
    in sequence."""
    alone = df["alone_ns"].to_numpy()
    assert (df["start_ns"] == 0).all()
    assert (df["duration_ns"] >= alone * (1 - 1e-12)).all()
    if strictly_longer:
        assert (df["contention_ns"] > 0).all()
    assert df["end_ns"].max() >= alone.max()
    assert df["end_ns"].max() <= alone.sum() + 1e-6


@pytest.mark.parametrize("fidelity", ["analytic", "detailed"])
def test_two_gathers_at_once_over_one_dram(fidelity):
    df, hw = two_gathers(fidelity, True)
    check_pair_timing(df, strictly_longer=fidelity == "detailed")


class DramRecorder:
    """The machine's DRAM model, keeping what every simulation (alone or among background) was given and gave."""

    def __init__(self, inner):
        self.inner, self.cfg, self.calls = inner, inner.cfg, []

    def simulate(self, arrival_ns, addr, is_write):
        res = self.inner.simulate(arrival_ns, addr, is_write)
        self.calls.append((np.asarray(addr).copy(), res))
        return res


class StreamKeeper:
    """A phase's re-timer that keeps the requests of its latest re-timing in `seen[name]`."""

    def __init__(self, inner, seen: dict, name: str):
        self.inner, self.stream, self.seen, self.name = inner, inner.stream, seen, name

    def __call__(self, background):
        d, stream = self.inner(background)
        self.seen[self.name] = stream
        return d, stream


def max_window_bytes_over_peak(done_ns: np.ndarray, burst_bytes: int, peak_gbps: float, burst_ns: float) -> float:
    """max over every window [c_i, c_j] between two completions of: bytes completed in it minus what the peak
    moves in it plus one burst time (a burst ending at c_i was on the bus just before). <= 0: never above peak."""
    c = np.sort(done_ns)
    k = np.arange(c.size)
    a = np.maximum.accumulate(peak_gbps * c - burst_bytes * k)  # best window start i <= j
    b = burst_bytes * (k + 1) - peak_gbps * (c + burst_ns)
    return float((a + b).max())


def stream_recorder(seen: dict, check=lambda ph: None):
    """A `record` hook: wraps the machine's DRAM in a recorder (into seen["dram"]) and, for every phase that can
    be re-timed, keeps its alone stream (seen[device + "_alone"]) and what the re-timer gives it (seen[device]);
    `check` sees every phase first."""
    def record(machine, plans):
        if plans is None:
            machine.dram = seen["dram"] = DramRecorder(machine.dram)
            return None
        for plan in plans:
            for stage, phases in plan.items():
                kept = []
                for ph in phases:
                    check(ph)
                    if ph.retime is not None:
                        seen[ph.device + "_alone"] = ph.retime.stream
                        ph = dataclasses.replace(ph, retime=StreamKeeper(ph.retime, seen, ph.device))
                    kept.append(ph)
                plan[stage] = kept
        return plans
    return record


@settings(max_examples=4, deadline=None, phases=(Phase_.explicit, Phase_.reuse, Phase_.generate))
@given(st.sampled_from([32, 64]), st.integers(0, 10_000), st.sampled_from(["uniform", "zipf"]),
       st.sampled_from([None, 7]))
def test_detailed_two_gathers_contend_within_the_dram_peak_and_conserve_requests(batch_size, seed, dist, threads):
    """Detailed fidelity, over gathers: the timing bounds of the pair; every DRAM simulation of the run (each
    gather alone, and each re-timing with the other's requests interleaved) serves every request it is given
    once, moves a burst per request, and never delivers more bytes in any window than the DRAM's peak; each
    gather's DRAM requests under sharing are exactly its requests alone (none lost, none added). Batches of
    32 and more: below that a gather's slow-down can be under the closed loop's 2% latency resolution (it then
    keeps its alone timing exactly)."""
    seen: dict = {}
    df, hw = two_gathers("detailed", True, batch_size, seed, dist, threads, stream_recorder(seen))
    check_pair_timing(df, strictly_longer=True)
    cfg = hw.dram
    burst_ns = cfg.burst_cycles * cfg.tck_ns
    for addr, res in seen["dram"].calls:
        c = res.counters
        assert c.reads + c.writes == addr.size
        assert c.bytes_read + c.bytes_written == addr.size * cfg.burst_bytes
        assert max_window_bytes_over_peak(res.completion_ns, cfg.burst_bytes, cfg.peak_bandwidth_gbps,
                                          burst_ns) <= 1e-9 * addr.size * cfg.burst_bytes  # float rounding
    for dev in ("cpu", "sparse_engine"):
        assert dev in seen, f"{dev}'s gather was never re-timed among the other's requests"
        np.testing.assert_array_equal(np.sort(seen[dev].dram_addr), np.sort(seen[dev + "_alone"].dram_addr))


MLP_WORKLOAD = {**WORKLOAD, "name": "wide_mlp", "bottom_mlp": [16, 1024, 1024, 32]}  # 4 MiB of weights


def mlp_beside_gather(fidelity: str, mlp_batch: int, gather_batch: int, seed: int, record=None):
    """A CPU bottom MLP (memory-bound: a small batch over weights that do not fit the LLC) and a sparse-engine
    gather of another batch, both released at 0 on one host DRAM; `record` as in two_gathers."""
    p = resolve_point(dict(hw="harpv2_centaur", workload=MLP_WORKLOAD, mapping="centaur", batch_size=mlp_batch))
    llc = p["hw"]["cpu"]["caches"][-1]
    llc["size_bytes"] = llc["ways"] * llc["line_bytes"] * 1024  # about 1 MiB: the 4 MiB of weights stream
    from accelsim.config.system import SystemConfig
    from accelsim.config.workload import ModelSpec
    hw, spec = SystemConfig.model_validate(p["hw"]), ModelSpec.model_validate(p["workload"])
    machine = new_machine(hw, spec, fidelity)
    if record is not None:
        record(machine, None)
    layout = part_layout(spec)
    (gb,) = synth_batches(spec, dist="uniform", batches=1, batch_size=gather_batch, seed=seed)
    (mb,) = synth_batches(spec, dist="uniform", batches=1, batch_size=mlp_batch, seed=seed + 1)
    mlp = batch_work(machine, spec, resolve_mapping("cpu_only"), mb, layout).plan["bottom_mlp"][0]
    gather = batch_work(machine, spec, resolve_mapping("sparse_offload"), gb, layout).plan["embedding"][0]
    plans = [{"embedding": [gather]}, {"bottom_mlp": [mlp]}]
    if record is not None:
        plans = record(machine, plans)
    return run_pipeline(plans, 2, share=sharing_model(machine, True)), hw


@pytest.mark.parametrize("fidelity", ["analytic", "detailed"])
@settings(max_examples=3, deadline=None, phases=(Phase_.explicit, Phase_.reuse, Phase_.generate))
@given(st.sampled_from([1, 4]), st.sampled_from([32, 64]), st.integers(0, 10_000))
def test_a_cpu_mlp_and_a_sparse_engine_gather_at_once_over_one_dram(fidelity, mlp_batch, gather_batch, seed):
    """The issue's first example: each longer than alone (detailed), the pair between the slower alone and the two in
    sequence; in detailed fidelity every DRAM simulation serves each request once and each phase's requests
    under sharing are exactly its requests alone."""
    seen: dict = {}

    def carries_dram_traffic(ph) -> None:
        assert ph.traffic and ph.traffic[0][0] == "dram" and ph.traffic[0][1] > 0

    df, hw = mlp_beside_gather(fidelity, mlp_batch, gather_batch, seed, stream_recorder(seen, carries_dram_traffic))
    # (the fluid model slows a flow only when the parts are full: a latency-bound gather beside the MLP may not be)
    check_pair_timing(df, strictly_longer=fidelity == "detailed")
    if fidelity == "detailed":
        for addr, res in seen["dram"].calls:
            assert res.counters.reads + res.counters.writes == addr.size
            assert res.counters.bytes_read + res.counters.bytes_written == addr.size * hw.dram.burst_bytes
        for dev in ("cpu", "sparse_engine"):
            assert dev in seen, f"{dev}'s phase was never re-timed among the other's requests"
            np.testing.assert_array_equal(np.sort(seen[dev].dram_addr), np.sort(seen[dev + "_alone"].dram_addr))


def flows(draw_flows):
    phases = [Phase("embedding", f"f{i}", f"d{i}", d, traffic=(("dram", b),)) for i, (s, d, b) in
              enumerate(draw_flows)]
    starts = np.array([s for s, _, _ in draw_flows])
    alone = np.array([d for _, d, _ in draw_flows])
    return Schedule(np.arange(len(phases)), phases, starts, starts + alone), alone


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(1, 100), st.floats(1, 5000)), min_size=1, max_size=6),
       st.floats(5, 200))
def test_fluid_sharing_bounds_and_conservation(fl, capacity):
    sched, alone = flows(fl)
    dur = fluid_durations(sched, alone, {"dram": capacity})
    start, end = sched.start_ns, sched.start_ns + dur
    assert (dur >= alone * (1 - 1e-9)).all()
    # Never later than running them one after another, at the later of their rates.
    assert end.max() <= max(start.min(), 0) + alone.sum() + start.max() + 1e-6
    # Bytes delivered over the busy span never beat the part's peak (or a flow's own rate, if faster).
    bytes_total = sum(b for _, _, b in fl)
    peak = max(capacity, max(b / d for _, d, b in fl))
    span = end.max() - start.min()
    assert bytes_total / span <= peak * (1 + 1e-6) * len(fl)
    if len(fl) == 1:
        assert dur[0] == pytest.approx(alone[0])


def test_fluid_two_flows_at_once_share_the_peak_fairly():
    sched, alone = flows([(0.0, 10.0, 1000.0), (0.0, 10.0, 1000.0)])
    dur = fluid_durations(sched, alone, {"dram": 100.0})  # each wants 100 B/ns alone: together they get 50
    assert dur == pytest.approx([20.0, 20.0])


POINT = dict(hw="harpv2_centaur", workload=WORKLOAD, batch_size=16, fidelity="analytic", functional=False)


def batch_ends(mapping, batches, sharing):
    r = run_point(resolve_point(dict(POINT, mapping=mapping, batches=batches, sharing=sharing)))
    g = r.stages.groupby("batch")
    return g["end_ns"].max().to_numpy(), g["contention_ns"].sum().to_numpy()


@settings(max_examples=8, deadline=None)
@given(st.sampled_from(["cpu_only", "centaur", "sparse_offload", "dense_offload"]), st.integers(1, 2),
       st.integers(1, 2))
def test_later_batches_never_delay_earlier_ones(mapping, first, more):
    ends_few, _ = batch_ends(mapping, first, False)
    ends_many, _ = batch_ends(mapping, first + more, False)
    assert ends_many[:first] == pytest.approx(ends_few)
    # With sharing on, the first batch rises by no more than its phases report as contention.
    shared_few, _ = batch_ends(mapping, 1, True)
    shared_many, contention = batch_ends(mapping, 1 + more, True)
    assert shared_many[0] - shared_few[0] <= contention[0] + 1e-6


def test_rm1_batch16_centaur_first_batch_keeps_its_latency_when_a_second_follows():
    point = dict(hw="harpv2_centaur", workload="rm1", mapping="centaur", batch_size=16, functional=False)
    one = run_point(resolve_point(dict(point, batches=1))).stages
    two = run_point(resolve_point(dict(point, batches=2))).stages
    first = two[two["batch"] == 0]
    rise = first["end_ns"].max() - one["end_ns"].max()
    assert rise <= first["contention_ns"].sum() + 1e-6
    assert rise < 0.05 * one["end_ns"].max()


@settings(max_examples=4, deadline=None)
@given(st.sampled_from(["cpu_only", "sparse_offload", "dense_offload"]))
def test_cpu_phases_never_overlap_so_no_two_share_the_llc_at_once(mapping):
    """The CPU is one exclusive part: its phases (gathers, GEMMs, interaction) of every batch run one at a
    time, so the LLC's contents follow one phase after another and nothing else evicts a phase's lines while
    it runs (docs/centaur_results.md, "LLC sharing")."""
    r = run_point(resolve_point(dict(POINT, mapping=mapping, batches=3)))
    cpu = r.stages[(r.stages["device"] == "cpu") & (r.stages["duration_ns"] > 0)].sort_values("start_ns")
    assert cpu["batch"].nunique() > 1
    assert (cpu["start_ns"].to_numpy()[1:] >= cpu["end_ns"].to_numpy()[:-1] - 1e-6).all()
