import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from accelsim.errors import InputError
from accelsim.kernels.reference import (
    CrossLayer,
    DenseLayer,
    dcnv2_cross,
    embedding_bag,
    interact_cat,
    interact_dot,
    linear,
    mlp,
    sigmoid,
)

TOL = dict(rtol=1e-5, atol=1e-6)


@st.composite
def bag_inputs(draw):
    """A random table and ragged bags (some empty), as numpy arrays."""
    rows = draw(st.integers(1, 12))
    dim = draw(st.integers(1, 9))
    sizes = draw(st.lists(st.integers(0, 6), min_size=1, max_size=7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((rows, dim)).astype(np.float32)
    indices = rng.integers(0, rows, sum(sizes))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    psw = rng.standard_normal(indices.size).astype(np.float32)
    return weight, indices, starts, psw


def torch_bag(weight, indices, offsets, **kw):
    kw = {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    return F.embedding_bag(torch.from_numpy(indices), torch.from_numpy(weight), torch.from_numpy(offsets), **kw).numpy()


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@given(data=bag_inputs(), last=st.booleans())
def test_embedding_bag_matches_torch(mode, data, last):
    weight, indices, starts, _ = data
    offsets = np.append(starts, indices.size) if last else starts
    got = embedding_bag(weight, indices, offsets, mode=mode, include_last_offset=last)
    want = torch_bag(weight, indices, offsets, mode=mode, include_last_offset=last)
    np.testing.assert_allclose(got, want, **TOL)


@given(data=bag_inputs())
def test_weighted_sum_matches_torch(data):
    weight, indices, starts, psw = data
    got = embedding_bag(weight, indices, starts, mode="sum", per_sample_weights=psw)
    np.testing.assert_allclose(got, torch_bag(weight, indices, starts, mode="sum", per_sample_weights=psw), **TOL)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@given(data=bag_inputs(), threads=st.integers(2, 4))
def test_threaded_pooling_equals_serial(mode, data, threads):
    weight, indices, starts, _ = data
    serial = embedding_bag(weight, indices, starts, mode=mode)
    np.testing.assert_array_equal(embedding_bag(weight, indices, starts, mode=mode, threads=threads), serial)


def test_threaded_pooling_reports_a_bad_index_in_any_run():
    indices = np.zeros(64, np.int64)
    indices[50] = 7
    with pytest.raises(InputError, match="index 7 at position 50"):
        embedding_bag(np.ones((5, 8), np.float32), indices, np.arange(0, 64, 4), threads=2)


@pytest.mark.parametrize("dim", [8, 64, 128, 136, 12])  # register-accumulator widths and the generic loop
@pytest.mark.parametrize("mode,weighted", [("sum", False), ("sum", True), ("mean", False)])
def test_row_widths_of_real_models_match_torch(dim, mode, weighted):
    rng = np.random.default_rng(dim)
    weight = rng.standard_normal((300, dim)).astype(np.float32)
    indices = rng.integers(0, 300, 700)
    offsets = np.sort(rng.integers(0, 701, 40))
    offsets[0] = 0
    psw = rng.standard_normal(700).astype(np.float32) if weighted else None
    got = embedding_bag(weight, indices, offsets, mode=mode, per_sample_weights=psw)
    want = torch_bag(weight, indices, offsets, mode=mode, per_sample_weights=psw)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_include_last_offset_ignores_indices_past_the_last_offset():
    weight = np.arange(20, dtype=np.float32).reshape(10, 2)
    indices, offsets = np.array([1, 2, 3, 4, 5]), np.array([0, 2, 3])
    got = embedding_bag(weight, indices, offsets, include_last_offset=True)
    np.testing.assert_array_equal(got, torch_bag(weight, indices, offsets, mode="sum", include_last_offset=True))
    np.testing.assert_array_equal(got, [[6, 8], [6, 7]])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_fixed_bags_from_2d_input_and_empty_bags(mode):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((7, 5)).astype(np.float32)
    idx2d = rng.integers(0, 7, (4, 3))
    want = F.embedding_bag(torch.from_numpy(idx2d), torch.from_numpy(weight), mode=mode).numpy()
    np.testing.assert_allclose(embedding_bag(weight, idx2d, mode=mode), want, **TOL)
    empty = embedding_bag(weight, np.zeros(0, np.int64), np.array([0, 0, 0]), mode=mode, include_last_offset=True)
    np.testing.assert_array_equal(empty, np.zeros((2, 5), np.float32))


@pytest.mark.parametrize("kwargs,needle", [
    (dict(indices=[0, 9], offsets=[0]), "index 9 at position 1 out of range"),
    (dict(indices=[0, 1], offsets=[1]), r"offsets\[0\] must be 0"),
    (dict(indices=[0, 1, 2], offsets=[0, 2, 1]), "non-decreasing"),
    (dict(indices=[0, 1], offsets=[0, 3], include_last_offset=True), "exceeds the 2 indices"),
    (dict(indices=[0, 1], offsets=[0], mode="mean", per_sample_weights=[1.0, 2.0]), "only supported with mode='sum'"),
    (dict(indices=[0, 1], offsets=[0], mode="min"), "mode must be one of"),
    (dict(indices=[[0, 1]], offsets=[0]), "offsets must be None"),
])
def test_bad_bags_raise_input_error(kwargs, needle):
    weight = np.zeros((4, 2), np.float32)
    kwargs = {k: np.asarray(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    with pytest.raises(InputError, match=needle):
        embedding_bag(weight, **kwargs)


@given(batch=st.integers(1, 5), n_in=st.integers(1, 9), n_out=st.integers(1, 9), relu=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_linear_matches_nn_linear(batch, n_in, n_out, relu, seed):
    torch.manual_seed(seed)
    layer = torch.nn.Linear(n_in, n_out)
    x = torch.randn(batch, n_in)
    want = layer(x).detach()
    want = torch.relu(want) if relu else want
    got = linear(x.numpy(), layer.weight.detach().numpy(), layer.bias.detach().numpy(), relu)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


def test_mlp_relu_then_sigmoid_matches_torch_sequential():
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1), torch.nn.Sigmoid())
    x = torch.randn(8, 6)
    layers = [DenseLayer(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in (seq[0], seq[2])]
    np.testing.assert_allclose(mlp(x.numpy(), layers, sigmoid_last=True), seq(x).detach().numpy(), rtol=1e-5)
    relu_all = torch.relu(seq[2](seq[1](seq[0](x)))).detach().numpy()
    np.testing.assert_allclose(mlp(x.numpy(), layers, sigmoid_last=False), relu_all, rtol=1e-5)


def test_sigmoid_is_stable_for_large_inputs():
    x = np.array([-1000.0, -20.0, 0.0, 20.0, 1000.0], np.float32)
    np.testing.assert_allclose(sigmoid(x), torch.sigmoid(torch.from_numpy(x)).numpy(), rtol=1e-6, atol=1e-30)


def dlrm_interact_features(x, ly, op):
    """facebookresearch/dlrm DLRM_Net.interact_features (arch_interaction_itself=False), verbatim in effect."""
    if op == "cat":
        return torch.cat([x] + ly, dim=1)
    batch_size, d = x.shape
    T = torch.cat([x] + ly, dim=1).view((batch_size, -1, d))
    Z = torch.bmm(T, torch.transpose(T, 1, 2))
    _, ni, nj = Z.shape
    li = torch.tensor([i for i in range(ni) for j in range(i)])
    lj = torch.tensor([j for i in range(nj) for j in range(i)])
    return torch.cat([x] + [Z[:, li, lj]], dim=1)


@pytest.mark.parametrize("op,fn", [("dot", interact_dot), ("cat", interact_cat)])
@given(tables=st.integers(1, 6), batch=st.integers(1, 4), dim=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_interaction_matches_dlrm_interact_features(op, fn, tables, batch, dim, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, dim)).astype(np.float32)
    pooled = rng.standard_normal((tables, batch, dim)).astype(np.float32)
    want = dlrm_interact_features(torch.from_numpy(x), [torch.from_numpy(p) for p in pooled], op).numpy()
    np.testing.assert_allclose(fn(x, pooled), want, rtol=1e-5, atol=1e-5)


def test_dot_interaction_width_is_f_choose_2_plus_d():
    out = interact_dot(np.ones((2, 4), np.float32), np.ones((26, 2, 4), np.float32))
    assert out.shape == (2, 4 + 27 * 26 // 2)
    with pytest.raises(InputError, match="must equal embedding dim"):
        interact_dot(np.ones((2, 3), np.float32), np.ones((26, 2, 4), np.float32))


@given(batch=st.integers(1, 4), width=st.integers(1, 12), rank=st.integers(1, 4), layers=st.integers(0, 3),
       seed=st.integers(0, 2**32 - 1))
def test_dcnv2_cross_matches_torch_low_rank_cross_net(batch, width, rank, layers, seed):
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal((batch, width)).astype(np.float32)
    cross = [CrossLayer(*(rng.standard_normal(s).astype(np.float32) * 0.3
                          for s in ((width, rank), (rank, width), (width,)))) for _ in range(layers)]
    t0 = torch.from_numpy(x0)
    want = t0
    for u, v, b in cross:  # torchrec LowRankCrossNet.forward
        want = t0 * (F.linear(F.linear(want, torch.from_numpy(v)), torch.from_numpy(u)) + torch.from_numpy(b)) + want
    np.testing.assert_allclose(dcnv2_cross(x0, cross), want.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dim", [8, 3])
def test_out_of_range_index_is_reported_with_its_position(dim):
    with pytest.raises(InputError, match=r"index -1 at position 2 out of range \[0, 5\)"):
        embedding_bag(np.ones((5, dim), np.float32), np.array([0, 4, -1]), np.array([0, 1]))
