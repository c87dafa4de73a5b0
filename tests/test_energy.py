import pytest

from accelsim.config.base import parse_model
from accelsim.config.system import SystemConfig
from accelsim.energy import energy_table
from accelsim.sim.api import resolve_point, run_point


@pytest.fixture(scope="module")
def run():
    point = resolve_point(dict(hw="harpv2_centaur", workload="rm1", mapping="centaur", batch_size=4,
                               functional=False))
    return point, run_point(point)


def test_energy_is_counts_times_cost(run):
    point, res = run
    e = res.energy.set_index(["device", "component", "action"])
    hw = parse_model(SystemConfig, point["hw"])
    bits = res.counters.loc[(res.counters["device"] == "links") & (res.counters["counter"] == "wire_bits"), "value"]
    assert e.loc[("links", "wires", "bits"), "count"] == pytest.approx(bits.sum())
    assert e.loc[("links", "wires", "bits"), "energy_pj"] == pytest.approx(bits.sum() * hw.energy.link_pj_per_bit)
    assert res.summary["energy_total_uj"] == pytest.approx(res.energy["energy_pj"].sum() / 1e6)
    assert (res.energy["energy_pj"] >= 0).all()


def test_a_new_energy_table_needs_no_resimulation(run):
    point, res = run
    cheaper = dict(point["hw"])
    cheaper["energy"] = {**point["hw"]["energy"], "link_pj_per_bit": point["hw"]["energy"]["link_pj_per_bit"] / 2}
    hw2 = parse_model(SystemConfig, cheaper)
    e1 = res.energy.set_index(["device", "component", "action"])["energy_pj"]
    e2 = energy_table(hw2, res.counters, res.summary["makespan_ns"]).set_index(["device", "component", "action"])
    assert e2.loc[("links", "wires", "bits"), "energy_pj"] == pytest.approx(e1.loc[("links", "wires", "bits")] / 2)
    others = [i for i in e1.index if i != ("links", "wires", "bits")]
    assert (e2.loc[others, "energy_pj"] == e1.loc[others]).all()


def test_cpu_only_system_has_no_accelerator_energy():
    res = run_point(resolve_point(dict(hw="broadwell_cpu_only", workload="rm1", mapping="cpu_only", batch_size=2,
                                       functional=False)))
    assert set(res.energy["device"]) == {"cpu", "dram"}


@pytest.mark.parametrize("mapping", ["cpu_only", "centaur"])
def test_every_count_is_exactly_the_frame_filtered_sum(mapping):
    """Equality with the reference (one frame filter per action, as before the one-pass grouping), bit for
    bit, on a run of several batches whose counters repeat per batch and stage."""
    point = resolve_point(dict(hw="harpv2_centaur", workload="rm2", mapping=mapping, batch_size=8, batches=3,
                               fidelity="analytic", functional=False))
    res = run_point(point)
    c = res.counters
    names = {("cpu", "cores", "core_ns"): ("cpu", "core_ns"), ("dram", "banks", "device_activates"):
             ("dram", "device_activates"), ("links", "wires", "bits"): ("links", "wire_bits"),
             ("dense_engine", "pe_array", "macs"): ("dense_engine", "macs"),
             ("sparse_engine", "reducer", "adds"): ("sparse_engine", "reduce_adds"),
             ("cpu", "L1D", "line_accesses"): ("cpu", "L1D_accesses")}
    e = res.energy.set_index(["device", "component", "action"])
    for key, (dev, counter) in names.items():
        ref = float(c[(c["device"] == dev) & (c["counter"] == counter)]["value"].sum())
        assert e.loc[key, "count"] == ref
    per_batch = res.stages.groupby("batch").agg(start=("start_ns", "min"), end=("end_ns", "max"))
    latency = per_batch["end"] - per_batch["start"]
    assert res.summary["latency_ns"] == float(latency.mean())
    assert res.summary["latency_max_ns"] == float(latency.max())
