"""Compressed embedding bags against PyTorch implementations of the same schemes (dlrm's QR / PR bags, FBGEMM)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.kernels.compressed import CompressedWeights, compressed_bag, part_rows, quantize_rowwise
from accelsim.kernels.compressed_index import expand_rows, hash_rows

ROWS, DIM = 60, 8


def _table(compression=None, dtype="fp32", pooling="sum"):
    spec = parse_model(ModelSpec, {"name": "t", "source": "test", "embedding_dim": DIM, "bottom_mlp": [3, DIM],
                                   "top_mlp": [1], "tables": [{"rows": ROWS, "lookups_per_sample": 4, "dtype": dtype,
                                                               "pooling": pooling, "compression": compression}]})
    return spec.table_list[0]


def _weights(table, rng):
    parts = tuple(rng.standard_normal((n, e)).astype(np.float32) for n, e in table.parts)
    c = table.compression
    dense = ()
    if c is not None and c.scheme == "md":
        dense = tuple(rng.standard_normal((d, DIM)).astype(np.float32) for d in c.dims)
    elif c is not None and c.scheme == "lowrank":
        dense = (rng.standard_normal((c.rank, DIM)).astype(np.float32),)
    return parts, dense


bags = st.lists(st.lists(st.integers(0, ROWS - 1), max_size=6), min_size=1, max_size=6)  # empty bags included


def _csr(b):
    idx = np.array([i for bag in b for i in bag], np.int64)
    off = np.concatenate([[0], np.cumsum([len(bag) for bag in b])]).astype(np.int64)
    return idx, off


def _torch_bag(weight, idx, off, mode):
    return F.embedding_bag(torch.as_tensor(idx), torch.as_tensor(weight), torch.as_tensor(off[:-1]), mode=mode)


def torch_qr(parts, idx, off, collisions, operation, mode):
    """dlrm's QREmbeddingBag.forward: pool the quotient and remainder rows, then combine."""
    q = _torch_bag(parts[0], idx // collisions, off, mode)
    r = _torch_bag(parts[1], np.remainder(idx, collisions), off, mode)
    return {"concat": torch.cat((q, r), dim=1), "add": q + r, "mult": q * r}[operation]


def torch_md(parts, proj, idx, off, mode):
    """dlrm's PrEmbeddingBag.forward (one block): project the pooled stored rows, Linear without bias."""
    lin = torch.nn.Linear(proj.shape[0], DIM, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(proj.T))
        return lin(_torch_bag(parts[0], idx, off, mode))


def torch_tt(parts, c, idx, off, mode):
    """Rebuild every row of the tensor train with einsum over the full cores, then embedding_bag."""
    r = (1, *c.ranks, 1)
    cores = [torch.as_tensor(p).reshape(n, r[k], d, r[k + 1]) for k, (p, n, d) in
             enumerate(zip(parts, c.row_factors, c.dim_factors))]
    full = cores[0][:, 0]  # (n1, d1, r1)
    for core in cores[1:]:
        full = torch.einsum("adr,bres->abdes", full, core).reshape(-1, full.shape[1] * core.shape[2], core.shape[3])
    weight = full[:ROWS, :, 0]
    return _torch_bag(weight.numpy(), idx, off, mode)


CASES = {
    "qr_mult": {"scheme": "qr", "collisions": 7, "operation": "mult"},
    "qr_add": {"scheme": "qr", "collisions": 7, "operation": "add"},
    "qr_concat": {"scheme": "qr", "collisions": 7, "operation": "concat"},
    "md": {"scheme": "md", "dims": [3]},
    "tt": {"scheme": "tt", "row_factors": [4, 4, 4], "dim_factors": [2, 2, 2], "ranks": [3, 2]},
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@settings(max_examples=15, deadline=None)
@given(b=bags, seed=st.integers(0, 2**16))
def test_schemes_match_torch(case, mode, b, seed):
    comp = CASES[case]
    if case == "tt" and mode == "max":
        mode = "sum"
    table = _table(comp, pooling=mode)
    parts, dense = _weights(table, np.random.default_rng(seed))
    idx, off = _csr(b)
    got = compressed_bag(table, CompressedWeights(parts, dense), idx, off)
    if comp["scheme"] == "qr":
        want = torch_qr(parts, idx, off, comp["collisions"], comp["operation"], mode)
    elif comp["scheme"] == "md":
        want = torch_md(parts, dense[0], idx, off, mode)
    else:
        want = torch_tt(parts, table.compression, idx, off, mode)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(b=bags, seed=st.integers(0, 2**16), combine=st.sampled_from(["sum", "concat"]))
def test_multi_hash_matches_torch(b, seed, combine):
    table = _table({"scheme": "hash", "hashes": 2, "hash_rows": 11, "combine": combine})
    parts, _ = _weights(table, np.random.default_rng(seed))
    idx, off = _csr(b)
    got = compressed_bag(table, CompressedWeights(parts), idx, off)
    rows = [torch.as_tensor(parts[0])[torch.as_tensor(hash_rows(idx, k, 11))] for k in range(2)]
    per_lookup = rows[0] + rows[1] if combine == "sum" else torch.cat(rows, dim=1)
    want = _torch_bag(per_lookup.numpy(), np.arange(idx.size), off, "sum")
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(b=bags, seed=st.integers(0, 2**16))
def test_lowrank_matches_torch(b, seed):
    table = _table({"scheme": "lowrank", "rank": 3}, pooling="max")
    parts, dense = _weights(table, np.random.default_rng(seed))
    idx, off = _csr(b)
    got = compressed_bag(table, CompressedWeights(parts, dense), idx, off)
    want = _torch_bag((torch.as_tensor(parts[0]) @ torch.as_tensor(dense[0])).numpy(), idx, off, "max")
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype,prepack,bag", [
    ("int8", torch.ops.quantized.embedding_bag_byte_prepack, torch.ops.quantized.embedding_bag_byte_rowwise_offsets),
    ("int4", torch.ops.quantized.embedding_bag_4bit_prepack, torch.ops.quantized.embedding_bag_4bit_rowwise_offsets),
])
@settings(max_examples=20, deadline=None)
@given(b=bags, seed=st.integers(0, 2**16))
def test_rowwise_quantized_bags_match_torch_quantized_ops(dtype, prepack, bag, b, seed):
    table = _table(dtype=dtype)
    w = np.random.default_rng(seed).standard_normal((ROWS, DIM)).astype(np.float32)
    fused = prepack(torch.as_tensor(w)).numpy()  # FBGEMM's layout, read directly by our kernel
    assert fused.shape == (ROWS, table.row_bytes)
    idx, off = _csr(b)
    got = compressed_bag(table, CompressedWeights((fused,)), idx, off)
    want = bag(torch.as_tensor(fused), torch.as_tensor(idx), torch.as_tensor(off), False, 0, False, None, None, True)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype,prepack", [("int8", torch.ops.quantized.embedding_bag_byte_prepack),
                                           ("int4", torch.ops.quantized.embedding_bag_4bit_prepack)])
def test_quantize_rowwise_dequantises_like_fbgemm(dtype, prepack):
    w = np.random.default_rng(0).standard_normal((ROWS, DIM)).astype(np.float32)
    ours, theirs = quantize_rowwise(w, dtype), prepack(torch.as_tensor(w)).numpy()
    assert ours.shape == theirs.shape
    idx = np.arange(ROWS)
    a, b = part_rows(ours, dtype, DIM, idx), part_rows(theirs, dtype, DIM, idx)
    step = (w.max(axis=1) - w.min(axis=1))[:, None] / (255 if dtype == "int8" else 15)
    assert np.all(np.abs(a - b) <= step * 1.01 + 1e-3)
    assert np.all(np.abs(a - w) <= step * 0.51 + 1e-2)


def test_expand_rows_orders_reads_by_lookup():
    t = _table({"scheme": "qr", "collisions": 7})
    part, sub, owner = expand_rows(t, np.array([15, 3]))
    assert part.tolist() == [0, 1, 0, 1] and sub.tolist() == [2, 1, 0, 3] and owner.tolist() == [0, 0, 1, 1]
