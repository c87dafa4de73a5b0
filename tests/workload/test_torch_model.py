import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec, load_workload
from accelsim.errors import InputError
from accelsim.kernels.reference import dlrm_forward, embedding_bag
from accelsim.workload.torch_model import build_torch_dlrm, generate_inputs, torch_bags, torch_model_bytes
from accelsim.workload.weights import DlrmParams, dense_inputs, table_rows_values


def small_spec(**patch) -> ModelSpec:
    base = dict(name="small", source="test", embedding_dim=4,
                tables=[{"rows": 50, "lookups_per_sample": 3},
                        {"rows": 7, "lookups_per_sample": 5, "count": 2, "bag_size_dist": "uniform"}],
                bottom_mlp=[5, 8, 4], top_mlp=[6, 1])
    return parse_model(ModelSpec, {**base, **patch})


SPECS = {
    "dot": small_spec(),
    "cat-mean": small_spec(interaction="cat", pooling="mean"),
    "cat-max": small_spec(interaction="cat", pooling="max"),
    "dcnv2": small_spec(interaction="dcnv2", dcnv2={"layers": 2, "rank": 3}, bottom_mlp=[5, 8, 4]),
    "dcnv2-no-bottom": small_spec(interaction="dcnv2", dcnv2={"layers": 1, "rank": 2}, bottom_mlp=[6]),
}


@pytest.mark.parametrize("name", SPECS)
def test_reference_forward_over_compact_gather_equals_torch_dlrm(name):
    spec = SPECS[name]
    params = DlrmParams.from_spec(spec, seed=11)
    model = build_torch_dlrm(spec, seed=11)
    for i in range(2):
        dense, batch = generate_inputs(spec, 16, seed=5, batch_index=i)
        with torch.no_grad():
            want = model(torch.from_numpy(dense), torch_bags(batch)).numpy()
        got = dlrm_forward(params, dense, batch)
        np.testing.assert_allclose(got.ctr, want, rtol=1e-5, atol=1e-6)
        assert got.ctr.shape == (16,) and got.top_in.shape == (16, spec.top_input_width)
        assert not np.allclose(got.ctr, got.ctr[0])  # inputs reach the output


def test_compact_gather_equals_gather_over_the_full_table():
    spec = SPECS["dot"]
    params = DlrmParams.from_spec(spec, seed=3)
    dense, batch = generate_inputs(spec, 32, seed=3, batch_index=0)
    pooled = dlrm_forward(params, dense, batch).pooled
    for t, bags in enumerate(batch.tables):
        full = params.table_rows_values(t, np.arange(spec.table_list[t].rows))
        np.testing.assert_array_equal(pooled[t], embedding_bag(full, bags.indices, bags.offsets,
                                                               include_last_offset=True))


def test_torch_model_tables_hold_the_procedural_rows_and_same_mlp():
    spec = SPECS["dcnv2"]
    model = build_torch_dlrm(spec, seed=4)
    params = DlrmParams.from_spec(spec, seed=4)
    np.testing.assert_array_equal(model.embeddings[1].weight.detach().numpy(),
                                  params.table_rows_values(1, np.arange(7)))
    np.testing.assert_array_equal(model.top[0].weight.detach().numpy(), params.top[0].weight)
    np.testing.assert_array_equal(model.cross.v_kernels[1].detach().numpy(), params.cross[1].v)


@given(seed=st.integers(0, 2**40), table=st.integers(0, 1000), rows=st.integers(1, 10**9),
       ids=st.lists(st.integers(0, 10**9 - 1), min_size=1, max_size=20))
def test_rows_are_a_pure_function_of_seed_table_row(seed, table, rows, ids):
    ids = np.array(ids) % rows
    vals = table_rows_values(seed, table, ids, 8, rows)
    bound = np.float32(np.sqrt(1.0 / rows))
    assert np.all(np.abs(vals) <= bound)
    order = np.argsort(ids, kind="stable")
    np.testing.assert_array_equal(table_rows_values(seed, table, ids[order], 8, rows), vals[order])
    np.testing.assert_array_equal(table_rows_values(seed, table, ids[:1], 8, rows)[0], vals[0])
    assert not np.array_equal(table_rows_values(seed, table + 1, ids, 8, rows), vals)
    assert not np.array_equal(table_rows_values(seed + 1, table, ids, 8, rows), vals)


def test_rows_follow_dlrm_uniform_init():
    vals = table_rows_values(0, 2, np.arange(400), 256, 400)
    bound = np.sqrt(1 / 400)
    assert abs(vals.mean()) < 0.01 * bound
    assert vals.std() == pytest.approx(bound / np.sqrt(3), rel=0.01)
    with pytest.raises(InputError, match="row 400 out of range"):
        table_rows_values(0, 2, np.array([1, 400]), 16, 400)


def test_mlp_params_are_deterministic_with_dlrm_init_scale():
    spec = small_spec(bottom_mlp=[300, 200, 4])
    a, b, c = (DlrmParams.from_spec(spec, s) for s in (1, 1, 2))
    assert all(np.array_equal(x.weight, y.weight) for x, y in zip(a.bottom + a.top, b.bottom + b.top))
    assert not np.array_equal(a.bottom[0].weight, c.bottom[0].weight)
    assert a.bottom[0].weight.std() == pytest.approx(np.sqrt(2 / 500), rel=0.02)
    assert a.bottom[0].weight.shape == (200, 300)


@given(batch=st.integers(1, 20), seed=st.integers(0, 1000), index=st.integers(0, 50))
def test_generated_bags_are_unique_sorted_and_bounded(batch, seed, index):
    spec = SPECS["dot"]
    dense, b = generate_inputs(spec, batch, seed, index)
    assert dense.dtype == np.float32 and dense.shape == (batch, 5) and 0 <= dense.min() and dense.max() < 1
    for t, bags in zip(spec.table_list, b.tables):
        sizes = np.diff(bags.offsets)
        assert bags.offsets[0] == 0 and bags.offsets[-1] == bags.indices.size and sizes.size == batch
        assert sizes.max() <= t.lookups_per_sample
        if t.bag_size_dist == "uniform":
            assert sizes.min() >= 1
        for s, e in zip(bags.offsets[:-1], bags.offsets[1:]):
            assert np.all(np.diff(bags.indices[s:e]) > 0)
        assert 0 <= bags.indices.min() and bags.indices.max() < t.rows
    np.testing.assert_array_equal(dense, dense_inputs(spec, batch, seed, index))
    again = generate_inputs(spec, batch, seed, index)[1]
    assert all(np.array_equal(x.indices, y.indices) for x, y in zip(b.tables, again.tables))


def test_fixed_bags_of_a_large_table_are_full_and_batches_differ():
    spec = small_spec(tables=[{"rows": 10**6, "lookups_per_sample": 10}])
    _, b0 = generate_inputs(spec, 64, 0, 0)
    _, b1 = generate_inputs(spec, 64, 0, 1)
    assert b0.tables[0].indices.size > 0.99 * 640  # duplicates are rare with 1e6 rows
    assert not np.array_equal(b0.tables[0].indices, b1.tables[0].indices)


def test_memory_guard_names_workload_and_size():
    spec = load_workload("rm2")
    assert torch_model_bytes(spec) == pytest.approx(32 * 500_000 * 64 * 4, rel=0.001)
    with pytest.raises(InputError, match=r"workload 'rm2': the PyTorch model needs 3\.8\d GiB .* 2\.00 GiB"):
        build_torch_dlrm(spec, seed=0)
    with pytest.raises(InputError, match="over the 0.00 GiB"):
        build_torch_dlrm(SPECS["dot"], seed=0, memory_budget_bytes=100)


def test_a_torch_table_is_aligned_as_pytorch_allocates_its_parameters():
    # numpy's large arrays start 16 bytes into a page, so their rows straddle one line more than the model reads
    from accelsim.workload.torch_model import torch_table
    values = np.random.default_rng(0).random((1 << 17, 64))  # 64 MiB of float64 -> 32 MiB of float32
    t = torch_table(values)
    assert t.dtype == torch.float32 and t.shape == values.shape and t.data_ptr() % 64 == 0
    np.testing.assert_array_equal(t.numpy(), values.astype(np.float32))
