import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.sim.mapping import STAGES
from accelsim.sim.pipeline import Phase, run_pipeline


def plan(durations, devices):
    return {s: [Phase(s, s, devices[s], durations[s])] for s in STAGES}


CPU = dict.fromkeys(STAGES, "cpu")
CENTAUR = {"bottom_mlp": "dense", "embedding": "sparse", "interaction": "dense", "top_mlp": "dense"}


def test_single_device_serialises_everything():
    d = dict(bottom_mlp=10.0, embedding=30.0, interaction=5.0, top_mlp=7.0)
    df = run_pipeline([plan(d, CPU)] * 3, pipeline_depth=2)
    assert df["end_ns"].max() == pytest.approx(3 * sum(d.values()))


def test_bottom_and_embedding_overlap_on_different_devices():
    d = dict(bottom_mlp=10.0, embedding=30.0, interaction=5.0, top_mlp=7.0)
    df = run_pipeline([plan(d, CENTAUR)], pipeline_depth=1)
    assert df["end_ns"].max() == pytest.approx(30 + 5 + 7)


def test_pipelining_overlaps_batches_only_when_allowed():
    d = dict(bottom_mlp=10.0, embedding=30.0, interaction=5.0, top_mlp=7.0)
    serial = run_pipeline([plan(d, CENTAUR)] * 4, pipeline_depth=1)["end_ns"].max()
    piped = run_pipeline([plan(d, CENTAUR)] * 4, pipeline_depth=2)["end_ns"].max()
    assert serial == pytest.approx(4 * 42)
    # The sparse engine (30 ns per batch) is the bottleneck; the last batch's interaction and top MLP trail it.
    assert piped == pytest.approx(4 * 30 + 5 + 7)


@given(st.lists(st.tuples(*[st.floats(0, 100)] * 4), min_size=1, max_size=5), st.integers(1, 4))
def test_no_device_overlaps_itself_and_dependencies_hold(durs, depth):
    plans = [plan(dict(zip(STAGES, d)), CENTAUR) for d in durs]
    df = run_pipeline(plans, depth)
    for _, g in df.groupby("device"):
        g = g.sort_values(["start_ns", "end_ns"])
        assert (g["start_ns"].values[1:] >= g["end_ns"].values[:-1] - 1e-9).all()
    for b, g in df.groupby("batch"):
        t = g.set_index("stage")
        assert t.loc["interaction", "start_ns"] >= max(t.loc["bottom_mlp", "end_ns"], t.loc["embedding", "end_ns"])
        assert t.loc["top_mlp", "start_ns"] >= t.loc["interaction", "end_ns"]
    total = sum(sum(d) for d in durs)
    assert df["end_ns"].max() <= total + 1e-6


def test_a_phase_that_also_holds_the_links_serialises_with_copies():
    gather = Phase("embedding", "gather", "sparse", 30.0, also_holds=("links",))
    copy = Phase("bottom_mlp", "xfer", "links", 10.0)
    plan = {"embedding": [gather], "bottom_mlp": [copy]}
    df = run_pipeline([plan], pipeline_depth=1)
    assert df["end_ns"].max() == pytest.approx(40.0)
    free = run_pipeline([{"embedding": [Phase("embedding", "gather", "sparse", 30.0)], "bottom_mlp": [copy]}], 1)
    assert free["end_ns"].max() == pytest.approx(30.0)


@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0, 50)), min_size=1, max_size=6), st.integers(1, 3))
def test_multi_resource_phases_never_deadlock_or_overlap(durs, depth):
    plans = [{"embedding": [Phase("embedding", "g", "a", x, also_holds=("b",))],
              "bottom_mlp": [Phase("bottom_mlp", "h", "b", y, also_holds=("a",))]} for x, y in durs]
    df = run_pipeline(plans, depth)
    assert len(df) == 2 * len(durs)
    assert df["end_ns"].max() == pytest.approx(sum(x + y for x, y in durs))
