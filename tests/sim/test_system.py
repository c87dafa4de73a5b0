"""End-to-end behaviour of a simulated run, through the public API."""

import numpy as np
import pytest
import torch

from accelsim.config.system import load_system
from accelsim.errors import InputError
from accelsim.sim.api import resolve_point, run_point
from accelsim.workload.torch_model import build_torch_dlrm, torch_bags
from accelsim.workload.weights import DlrmParams, dense_inputs

SMALL = {"name": "small", "source": "test", "embedding_dim": 16, "interaction": "dot",
         "tables": [{"rows": 5000, "lookups_per_sample": 8, "count": 3}],
         "bottom_mlp": [13, 32, 16], "top_mlp": [32, 1]}


def run(**kw):
    point = dict(hw="harpv2_centaur", workload=SMALL, mapping="centaur", batch_size=16, seed=3)
    point.update(kw)
    return run_point(resolve_point(point))


def test_functional_outputs_equal_pytorch_dlrm():
    from accelsim.sim.api import Point, load_batches
    res = run(batches=2)
    p = Point.model_validate(res.config)
    spec = p.workload
    model = build_torch_dlrm(spec, p.seed, DlrmParams.from_spec(spec, p.seed))
    for b, batch in enumerate(load_batches(p)):
        with torch.no_grad():
            ref = model(torch.from_numpy(dense_inputs(spec, 16, p.seed, b)), torch_bags(batch)).numpy().ravel()
        got = res.outputs[res.outputs["batch"] == b]["ctr"].to_numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fidelity", ["analytic", "detailed"])
def test_invariants(fidelity):
    res = run(fidelity=fidelity, batches=2)
    c = res.counters
    lookups = c.loc[c["counter"] == "lookups", "value"].sum()
    assert c.loc[c["counter"] == "bytes_gathered", "value"].sum() == lookups * 16 * 4
    for key, value in res.summary.items():
        if key.endswith("_utilisation") and not key.startswith("fpga_"):
            assert 0 <= value <= 1 + 1e-9, key
    assert res.summary["latency_ns"] > 0 and res.summary["energy_per_inference_uj"] > 0


def test_detailed_sits_above_the_analytic_bound():
    for mapping, hw in (("centaur", "harpv2_centaur"), ("cpu_only", "broadwell_cpu_only")):
        a = run(hw=hw, mapping=mapping, fidelity="analytic", functional=False).summary
        d = run(hw=hw, mapping=mapping, fidelity="detailed", functional=False).summary
        assert d["embedding_time_ns"] >= 0.95 * a["embedding_time_ns"], mapping


def test_doubling_link_bandwidth_never_slows_the_sparse_stage():
    base = resolve_point(dict(hw="harpv2_centaur", workload=SMALL, mapping="centaur", batch_size=32,
                              functional=False))
    fast = resolve_point(base)
    for ch in fast["hw"]["links"]["channels"]:
        ch["bandwidth_gbps"] *= 2
    t0 = run_point(base).summary["embedding_time_ns"]
    t1 = run_point(resolve_point(fast)).summary["embedding_time_ns"]
    assert t1 <= t0 * 1.001


def test_deterministic():
    a, b = run(functional=False), run(functional=False)
    assert a.summary == b.summary
    assert a.stages.equals(b.stages)


def test_mapping_needs_the_device():
    with pytest.raises(InputError, match="needs a dense engine, broadwell_cpu_only has none"):
        run(hw="broadwell_cpu_only")


def test_design_that_does_not_fit_is_rejected():
    point = resolve_point(dict(hw="harpv2_centaur", workload=SMALL, mapping="centaur", batch_size=4))
    point["hw"]["accelerator"]["dense_engine"]["rows"] = 64
    with pytest.raises(InputError, match="DSP"):
        run_point(resolve_point(point))


def test_shipped_hwconfigs_cite_every_number():
    for name in ("broadwell_cpu_only", "harpv2_centaur"):
        hw = load_system(name)
        for section in (hw.cpu, hw.energy):
            numeric = [k for k, v in section.model_dump().items() if isinstance(v, (int, float)) and k != "sources"]
            missing = [k for k in numeric if k not in section.sources]
            assert not missing, (name, type(section).__name__, missing)


def test_dense_stages_cannot_go_to_the_sparse_engine():
    bad = {"name": "x", "bottom_mlp": "sparse_engine", "embedding": "cpu", "interaction": "cpu", "top_mlp": "cpu"}
    with pytest.raises(InputError, match="bottom_mlp"):
        run(mapping=bad)
