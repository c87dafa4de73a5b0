import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch
from torch import nn

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec, load_workload
from accelsim.errors import InputError
from accelsim.kernels.reference import dlrm_forward, embedding_bag
from accelsim.workload.capture import EmbeddingCapture, capture_dlrm
from accelsim.workload.torch_model import build_torch_dlrm, generate_inputs, torch_bags
from accelsim.workload.trace import open_trace
from accelsim.workload.weights import DlrmParams

B = 3


class UserModel(nn.Module):
    """Not a DLRM: every way of calling an embedding module, in the order they are declared."""

    def __init__(self):
        super().__init__()
        self.bag_offsets = nn.EmbeddingBag(20, 4, mode="sum")
        self.bag_fixed = nn.EmbeddingBag(15, 4, mode="mean")
        self.bag_last = nn.EmbeddingBag(12, 4, mode="max", include_last_offset=True)
        self.tokens = nn.Embedding(9, 4)
        self.ids = nn.Embedding(30, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        a = self.bag_offsets(x["i1"], x["o1"])
        b = self.bag_fixed(x["i2"])
        c = self.bag_last(x["i3"], offsets=x["o3"])
        d = self.tokens(x["i4"]).sum(dim=1)
        e = self.ids(x["i5"])
        return self.head(a + b + c + d + e)


def user_inputs(seed):
    g = torch.Generator().manual_seed(seed)
    return {
        "i1": torch.randint(0, 20, (7,), generator=g), "o1": torch.tensor([0, 2, 2]),
        "i2": torch.randint(0, 15, (B, 5), generator=g),
        "i3": torch.randint(0, 12, (6,), generator=g, dtype=torch.int32),
        "o3": torch.tensor([0, 1, 4, 6], dtype=torch.int32),
        "i4": torch.randint(0, 9, (B, 2), generator=g),
        "i5": torch.randint(0, 30, (B,), generator=g),
    }


def test_capture_of_a_user_module_records_exactly_the_indices_passed(tmp_path):
    model = UserModel()
    inputs = [user_inputs(s) for s in (1, 2)]
    with EmbeddingCapture(model) as cap, torch.no_grad():
        for x in inputs:
            model(x)
    out = cap.write(tmp_path / "user.trace")
    trace = open_trace(out)
    assert trace.meta.table_rows == (20, 15, 12, 9, 30)
    assert len(trace) == 2
    for x, batch in zip(inputs, trace):
        t1, t2, t3, t4, t5 = batch.tables
        np.testing.assert_array_equal(t1.indices, x["i1"].numpy())
        np.testing.assert_array_equal(t1.offsets, [0, 2, 2, 7])
        np.testing.assert_array_equal(t2.indices, x["i2"].numpy().ravel())
        np.testing.assert_array_equal(t2.offsets, [0, 5, 10, 15])
        np.testing.assert_array_equal(t3.indices, x["i3"].numpy())
        np.testing.assert_array_equal(t3.offsets, [0, 1, 4, 6])
        np.testing.assert_array_equal(t4.indices, x["i4"].numpy().ravel())
        np.testing.assert_array_equal(t4.offsets, [0, 2, 4, 6])
        np.testing.assert_array_equal(t5.indices, x["i5"].numpy())
        np.testing.assert_array_equal(t5.offsets, [0, 1, 2, 3])
        # The recorded bags pool to what each EmbeddingBag returned.
        for bags, mod in ((t1, model.bag_offsets), (t2, model.bag_fixed), (t3, model.bag_last)):
            w = mod.weight.detach().numpy()
            want = nn.functional.embedding_bag(torch.tensor(bags.indices), mod.weight, torch.tensor(bags.offsets),
                                               mode=mod.mode, include_last_offset=True).detach().numpy()
            np.testing.assert_allclose(embedding_bag(w, bags.indices, bags.offsets, mode=mod.mode,
                                                     include_last_offset=True), want, rtol=1e-6)


def test_hooks_are_removed_on_exit_and_no_forward_means_no_trace(tmp_path):
    model = UserModel()
    with EmbeddingCapture(model) as cap:
        pass
    assert not model._forward_pre_hooks and not model.bag_fixed._forward_pre_hooks and not model._forward_hooks
    with torch.no_grad():
        model(user_inputs(0))
    assert cap.batches == []
    with pytest.raises(InputError, match="no embedding lookups were captured"):
        cap.write(tmp_path / "t")
    lin = nn.Linear(2, 2)
    with EmbeddingCapture(lin) as cap, torch.no_grad():
        lin(torch.ones(1, 2))
    with pytest.raises(InputError, match="no embedding lookups were captured"):
        cap.write(tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_per_sample_weights_and_padding_idx(tmp_path):
    bag = nn.EmbeddingBag(10, 3, mode="sum", padding_idx=0)
    idx = torch.tensor([[4, 0, 7], [0, 0, 2]])
    psw = torch.tensor([[0.5, 9.0, 2.0], [9.0, 9.0, -1.0]])
    with EmbeddingCapture(bag) as cap, torch.no_grad():
        want = bag(idx, per_sample_weights=psw).numpy()
    (t,) = cap.batches[0].tables
    np.testing.assert_array_equal(t.indices, [4, 7, 2])  # padding entries are neither read nor counted
    np.testing.assert_array_equal(t.offsets, [0, 2, 3])
    np.testing.assert_array_equal(t.weights, [0.5, 2.0, -1.0])
    got = embedding_bag(bag.weight.detach().numpy(), t.indices, t.offsets, per_sample_weights=t.weights,
                        include_last_offset=True)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert open_trace(cap.write(tmp_path / "w")).meta.has_weights


class Flaky(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Embedding(5, 2), nn.Embedding(5, 2)

    def forward(self, x, both):
        return self.a(x) + (self.b(x) if both else 0)


def test_forwards_with_different_lookups_are_rejected():
    model = Flaky()
    with EmbeddingCapture(model), torch.no_grad():
        model(torch.tensor([1, 2]), True)
        with pytest.raises(InputError, match=r"forward 1 made 1 lookups \['a'\], the first forward 2 \['a', 'b'\]"):
            model(torch.tensor([1, 2]), False)


SPEC = parse_model(ModelSpec, dict(
    name="tiny_dlrm", source="test", embedding_dim=8,
    tables=[{"rows": 300, "lookups_per_sample": 4, "count": 2}, {"rows": 40, "lookups_per_sample": 6,
                                                                 "bag_size_dist": "uniform"}],
    bottom_mlp=[6, 16, 8], top_mlp=[16, 1]))


def test_dlrm_capture_replayed_through_reference_forward_gives_torch_ctrs(tmp_path):
    out = capture_dlrm(SPEC, batches=3, batch_size=16, seed=7, out=tmp_path / "dlrm.trace")
    trace = open_trace(out)
    assert trace.meta.seed == 7 and trace.meta.workload == "tiny_dlrm"
    assert trace.meta.spec == SPEC.model_dump(mode="json") and len(trace) == 3
    params = DlrmParams.from_spec(SPEC, 7)
    model = build_torch_dlrm(SPEC, 7)
    for i, batch in enumerate(trace):
        dense, generated = generate_inputs(SPEC, 16, 7, i)
        assert all(np.array_equal(a.indices, b.indices) for a, b in zip(batch.tables, generated.tables))
        with torch.no_grad():
            want = model(torch.from_numpy(dense), torch_bags(generated)).numpy()
        np.testing.assert_allclose(dlrm_forward(params, dense, batch).ctr, want, rtol=1e-5, atol=1e-6)


def test_capture_dlrm_refuses_a_model_over_the_memory_budget(tmp_path):
    with pytest.raises(InputError, match="workload 'rm1'.*GiB"):
        capture_dlrm(load_workload("rm1"), batches=1, batch_size=2, seed=0, out=tmp_path / "t")
    assert not (tmp_path / "t").exists()


class QREmbeddingBag(nn.Module):
    """A quotient-remainder embedding not in dlrm's shape (no `num_collisions` or `operation`), so capture does
    not recognise it: its two functional lookups are two tables (test_capture_compressed has dlrm's)."""

    def __init__(self, rows, dim, collisions):
        super().__init__()
        self.collisions = collisions
        self.weight_q = nn.Parameter(torch.randn(-(-rows // collisions), dim))
        self.weight_r = nn.Parameter(torch.randn(collisions, dim))

    def forward(self, idx, offsets):
        q = nn.functional.embedding_bag(idx // self.collisions, self.weight_q, offsets, mode="sum")
        r = nn.functional.embedding_bag(idx % self.collisions, self.weight_r, offsets, mode="sum")
        return q * r


class MySum(nn.EmbeddingBag):
    """A subclass, as libraries write them."""


class Mixed(nn.Module):
    """Modules, functional calls, a user TorchFunctionMode, weights on one table, a shared table, a position
    embedding of shape (S,)."""

    def __init__(self):
        super().__init__()
        self.qr = QREmbeddingBag(100, 4, 8)
        self.plain = MySum(30, 4, mode="sum")
        self.weighted = nn.EmbeddingBag(20, 4, mode="sum")
        self.shared = nn.Embedding(25, 4, padding_idx=0)
        self.pos = nn.Embedding(6, 4)
        self.table = nn.Parameter(torch.randn(11, 4))

    def forward(self, x):
        class Passthrough(torch.overrides.TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                return func(*args, **(kwargs or {}))

        with Passthrough():
            a = self.qr(x["i"], x["o"])
        b = self.plain(x["p"])
        c = self.weighted(x["w"], per_sample_weights=x["psw"])
        d = self.shared(x["s1"]) + self.shared(x["s2"])
        e = self.pos(torch.arange(3)).sum(0)
        f = nn.functional.embedding(x["f"], self.table).sum(1)
        return (a + b + c + d + e + f).sum(1)


def mixed_inputs(seed, batch=4):
    g = torch.Generator().manual_seed(seed)
    return {"i": torch.randint(0, 100, (9,), generator=g), "o": torch.tensor([0, 3, 3, 5][:batch]),
            "p": torch.randint(0, 30, (batch, 2), generator=g), "w": torch.randint(0, 20, (batch, 3), generator=g),
            "psw": torch.rand(batch, 3, generator=g), "s1": torch.randint(0, 25, (batch,), generator=g),
            "s2": torch.tensor([0, 1, 2, 3][:batch]), "f": torch.randint(0, 11, (batch, 2), generator=g)}


def test_capture_of_a_model_mixing_modules_and_functional_calls(tmp_path):
    model = Mixed()
    xs = [mixed_inputs(s) for s in (1, 2)]
    with EmbeddingCapture(model) as cap, torch.no_grad():
        outs = [model(x) for x in xs]
    trace = open_trace(cap.write(tmp_path / "mixed.trace"))
    feats = trace.meta.extra["capture_features"]
    assert [(f["module"], f["table"], f["call"]) for f in feats] == [
        ("qr", "qr.weight_q", 0), ("qr", "qr.weight_r", 0), ("plain", "plain", 0), ("weighted", "weighted", 0),
        ("shared", "shared", 0), ("shared", "shared", 1), ("pos", "pos", 0), ("", "table", 0)]
    assert trace.meta.table_rows == (13, 8, 30, 20, 25, 25, 6, 11)
    assert [f["pooling"] for f in feats] == ["sum"] * 4 + ["none"] * 4
    assert [f["weighted"] for f in feats] == [False, False, False, True, False, False, False, False]
    assert trace.meta.weighted_tables == (3,)
    assert feats[4]["padding_idx"] == 0 and feats[6]["broadcast"] and not feats[4]["broadcast"]
    for x, out, batch in zip(xs, outs, trace):
        q, r, p, w, s1, s2, pos, f = batch.tables
        np.testing.assert_array_equal(q.indices, x["i"].numpy() // 8)
        np.testing.assert_array_equal(r.indices, x["i"].numpy() % 8)
        np.testing.assert_array_equal(q.offsets, [0, 3, 3, 5, 9])
        np.testing.assert_array_equal(w.weights, x["psw"].numpy().ravel())
        assert p.weights is None and w.indices.size == 12
        np.testing.assert_array_equal(s2.indices, [0, 1, 2, 3])  # Embedding reads its padding row
        np.testing.assert_array_equal(pos.indices, np.tile(np.arange(3), 4))  # every sample uses the rows
        np.testing.assert_array_equal(pos.offsets, [0, 3, 6, 9, 12])
        np.testing.assert_array_equal(f.indices, x["f"].numpy().ravel())
        np.testing.assert_array_equal(batch.outputs, out.numpy())


def test_functional_embedding_bag_padding_and_aten_calls():
    weight = nn.Parameter(torch.randn(10, 3))

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = weight

        def forward(self, idx):
            a = nn.functional.embedding_bag(idx, self.w, padding_idx=-1, mode="max")  # row 9 is padding
            b = torch.embedding_bag(self.w, idx.reshape(-1), torch.tensor([0, 2]), False, 1)[0]
            return a + b

    m = M()
    with EmbeddingCapture(m) as cap, torch.no_grad():
        m(torch.tensor([[9, 1], [2, 9]]))
    a, b = cap.batches[0].tables
    feats = cap.features
    assert (feats[0].pooling, feats[0].padding_idx, feats[1].pooling, feats[1].padding_idx) == ("max", 9, "mean", None)
    np.testing.assert_array_equal(a.indices, [1, 2])
    np.testing.assert_array_equal(b.indices, [9, 1, 2, 9])


def test_a_forward_capture_cannot_represent_fails_there_naming_the_module():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.users, self.items = nn.EmbeddingBag(10, 2), nn.EmbeddingBag(10, 2)

        def forward(self, u, i):
            return self.users(u).sum() + self.items(i).sum()

    m = Odd()
    with EmbeddingCapture(m), torch.no_grad():
        m(torch.zeros(4, 2, dtype=torch.long), torch.zeros(4, 1, dtype=torch.long))
        with pytest.raises(InputError, match=r"forward 1: module items \(table items\) looked up 3 bags, but "
                                             r"module users \(table users\) 4"):
            m(torch.zeros(4, 2, dtype=torch.long), torch.zeros(3, 1, dtype=torch.long))


def test_write_refuses_nothing_of_a_short_last_batch(tmp_path):
    model = Mixed()
    with EmbeddingCapture(model) as cap, torch.no_grad():
        model(mixed_inputs(1, 4))
        model(mixed_inputs(2, 3))
    trace = open_trace(cap.write(tmp_path / "short.trace"))
    assert [b.batch_size for b in trace] == [4, 3] and trace.meta.num_samples == 7


@given(sizes=st.lists(st.integers(0, 4), min_size=1, max_size=6), mode=st.sampled_from(["sum", "mean", "max"]),
       last=st.booleans(), pad=st.sampled_from([None, 0, 3]), seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_captured_bags_pool_to_what_pytorch_returned(sizes, mode, last, pad, seed):
    g = torch.Generator().manual_seed(seed)
    bag = nn.EmbeddingBag(6, 3, mode=mode, include_last_offset=last, padding_idx=pad)
    idx = torch.randint(0, 6, (sum(sizes),), generator=g)
    starts = torch.tensor([0, *np.cumsum(sizes)[:-1]]) if not last else torch.tensor([0, *np.cumsum(sizes)])
    weighted = mode == "sum" and seed % 2 == 0
    psw = torch.rand(idx.numel(), generator=g) if weighted else None
    with EmbeddingCapture(bag) as cap, torch.no_grad():
        want = bag(idx, starts, per_sample_weights=psw).numpy()
    (t,) = cap.batches[0].tables
    assert t.batch_size == len(sizes) and (pad is None or not np.any(t.indices == pad))
    got = embedding_bag(bag.weight.detach().numpy(), t.indices, t.offsets, mode=mode, per_sample_weights=t.weights,
                        include_last_offset=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
