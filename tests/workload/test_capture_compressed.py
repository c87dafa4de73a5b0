"""Compressed, quantised and mixed-dim models captured and replayed: facebookresearch/dlrm's `tricks/` QR and
mixed-dimension bags, its `quantize_embedding` (FBGEMM row-wise int8 / int4), half-precision tables, and
tables of their own dims and pooling. The modules are written here after dlrm's (the same attributes and
forwards), not imported from it."""

import json
from math import ceil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from accelsim import simulate
from accelsim.cli import main
from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.kernels.compressed import CompressedWeights, compressed_bag
from accelsim.sim.functional import max_output_difference, replay_trace
from accelsim.workload.capture import EmbeddingCapture, capture_model
from accelsim.workload.trace import open_trace

F = nn.functional
DENSE = 4


class QuotientRemainderBag(nn.Module):
    """dlrm's QREmbeddingBag: quotient rows (id / c, truncated) and remainder rows (id % c) pooled by
    F.embedding_bag, then multiplied, added or concatenated."""

    def __init__(self, num_categories, embedding_dim, num_collisions, operation="mult", mode="mean"):
        super().__init__()
        dims = [embedding_dim, embedding_dim] if isinstance(embedding_dim, int) else list(embedding_dim)
        self.num_categories, self.num_collisions, self.operation, self.mode = (num_categories, num_collisions,
                                                                               operation, mode)
        bound = np.sqrt(1 / num_categories)
        self.weight_q = nn.Parameter(torch.empty(ceil(num_categories / num_collisions), dims[0]).uniform_(-bound,
                                                                                                          bound))
        self.weight_r = nn.Parameter(torch.empty(num_collisions, dims[1]).uniform_(-bound, bound) + 1.0)

    def forward(self, input, offsets=None, per_sample_weights=None):
        q = F.embedding_bag((input / self.num_collisions).long(), self.weight_q, offsets, mode=self.mode,
                            per_sample_weights=per_sample_weights)
        r = F.embedding_bag(torch.remainder(input, self.num_collisions).long(), self.weight_r, offsets,
                            mode=self.mode, per_sample_weights=per_sample_weights)
        if self.operation == "concat":
            return torch.cat((q, r), dim=1)
        return q + r if self.operation == "add" else q * r


class ProjectedBag(nn.Module):
    """dlrm's PrEmbeddingBag: a sum EmbeddingBag at its own dim, projected to the base dim by a bias-free
    Linear (an Identity when the dims are equal)."""

    def __init__(self, num_embeddings, embedding_dim, base_dim, bias=False):
        super().__init__()
        self.embs = nn.EmbeddingBag(num_embeddings, embedding_dim, mode="sum")
        nn.init.xavier_uniform_(self.embs.weight)
        self.proj = nn.Linear(embedding_dim, base_dim, bias=bias) if embedding_dim < base_dim else nn.Identity()

    def forward(self, input, offsets=None, per_sample_weights=None):
        return self.proj(self.embs(input, offsets=offsets, per_sample_weights=per_sample_weights))


def make_bag(kind, rows, dim, base):
    if kind == "plain":
        return nn.EmbeddingBag(rows, dim, mode="sum")
    if kind == "md":
        return ProjectedBag(rows, dim, base)
    op = kind.removeprefix("qr_")
    return QuotientRemainderBag(rows, [ceil(dim / 2), dim // 2] if op == "concat" else dim, 5, op, mode="sum")


class TricksDlrm(nn.Module):
    """facebookresearch/dlrm's DLRM_Net, shortened: emb_l of plain / QR / projected bags, apply_emb over offset
    and index lists (per-sample weights on table 0), dot interaction of the lower triangle, and
    quantize_embedding as dlrm's (row-wise prepacked tables looked up by torch's quantised bags)."""

    def __init__(self, tables, base=8, op="dot", seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.arch_interaction_op = op
        self.emb_l = nn.ModuleList(make_bag(kind, rows, dim, base) for kind, rows, dim in tables)
        self.bot_l = nn.Sequential(nn.Linear(DENSE, 16), nn.ReLU(), nn.Linear(16, base), nn.ReLU())
        dims = [base if kind in ("md", "qr_mult", "qr_add") else dim for kind, _, dim in tables]
        n = len(tables) + 1
        top_in = base + (n * (n - 1) // 2 if op == "dot" else sum(dims))
        self.top_l = nn.Sequential(nn.Linear(top_in, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
        self.quantize_emb, self.quantize_bits, self.emb_l_q = False, 32, []

    def quantize_embedding(self, bits):
        prepack = {4: torch.ops.quantized.embedding_bag_4bit_prepack, 8: torch.ops.quantized.embedding_bag_byte_prepack}
        self.emb_l_q = [prepack[bits](e.weight) for e in self.emb_l]
        self.emb_l, self.quantize_emb, self.quantize_bits = None, True, bits

    def apply_emb(self, lS_o, lS_i, psw):
        ly = []
        for k, (offsets, idx) in enumerate(zip(lS_o, lS_i)):
            w = psw if k == 0 else None
            if self.quantize_emb:
                bag = {4: torch.ops.quantized.embedding_bag_4bit_rowwise_offsets,
                       8: torch.ops.quantized.embedding_bag_byte_rowwise_offsets}[self.quantize_bits]
                ly.append(bag(self.emb_l_q[k], idx, offsets, per_sample_weights=w))
            else:
                ly.append(self.emb_l[k](idx, offsets, per_sample_weights=w))
        return ly

    def interact_features(self, x, ly):
        if self.arch_interaction_op == "cat":
            return torch.cat([x] + ly, dim=1)
        batch, d = x.shape
        t = torch.cat([x] + ly, dim=1).view((batch, -1, d))
        z = torch.bmm(t, torch.transpose(t, 1, 2))
        li = torch.tensor([i for i in range(t.shape[1]) for j in range(i)])
        lj = torch.tensor([j for i in range(t.shape[1]) for j in range(i)])
        return torch.cat([x, z[:, li, lj]], dim=1)

    def forward(self, dense_x, lS_o, lS_i, psw=None):
        x = self.bot_l(dense_x)
        return self.top_l(self.interact_features(x, self.apply_emb(lS_o, lS_i, psw))).squeeze(1)


def dlrm_inputs(rows, batch_sizes, seed=0, weighted=False):
    """(dense, offsets per table, indices per table[, per-sample weights of table 0]) with ragged bags."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for b in batch_sizes:
        lengths = [torch.randint(0, 4, (b,), generator=g) for _ in rows]
        offsets = [torch.cat([torch.zeros(1, dtype=torch.long), n.cumsum(0)[:-1]]) for n in lengths]
        idx = [torch.randint(0, r, (int(n.sum()),), generator=g) for r, n in zip(rows, lengths)]
        x = (torch.rand(b, DENSE, generator=g), offsets, idx)
        out.append((*x, torch.rand(idx[0].numel(), generator=g)) if weighted else x)
    return out


def model_outputs(model, inputs):
    with torch.no_grad():
        return torch.cat([model(*x) for x in inputs]).numpy()


def assert_replays(trace, model, inputs):
    """The trace replayed with its own weights gives the model's outputs, and says so."""
    outputs, _, used = replay_trace(trace)
    assert used == trace / "weights" and max_output_difference(outputs) < 1e-6
    np.testing.assert_allclose(outputs["ctr"], model_outputs(model, inputs), rtol=1e-5, atol=1e-6)
    return outputs


TABLES = [("qr_mult", 53, 8), ("md", 40, 3), ("plain", 30, 8), ("qr_concat", 27, 8), ("qr_add", 21, 8),
          ("md", 12, 8)]  # the last: dims equal, proj is an Identity


def test_dlrm_qr_and_md_bags_are_captured_as_compressed_tables_and_replay_their_outputs(tmp_path):
    model = TricksDlrm(TABLES)
    inputs = dlrm_inputs([r for _, r, _ in TABLES], [6, 6, 3], weighted=True)
    out = capture_model(model, inputs, tmp_path / "tricks.trace", name="tricks", with_weights=True)
    trace = open_trace(out)
    spec = ModelSpec.model_validate(trace.meta.spec)
    assert [(t.name, t.rows, t.dim, t.scheme) for t in spec.table_list] == [
        ("emb_l.0", 53, 8, "qr"), ("emb_l.1", 40, 8, "md"), ("emb_l.2", 30, 8, "none"), ("emb_l.3", 27, 8, "qr"),
        ("emb_l.4", 21, 8, "qr"), ("emb_l.5.embs", 12, 8, "none")]
    qr, md, concat = spec.table_list[0].compression, spec.table_list[1].compression, spec.table_list[3].compression
    assert (qr.collisions, qr.operation, concat.operation, spec.table_list[4].compression.operation) == (
        5, "mult", "concat", "add")
    assert md.dims == (3,) and md.block_rows is None
    assert spec.table_list[0].parts == ((11, 8), (5, 8)) and spec.table_list[1].parts == ((40, 3),)
    assert trace.meta.table_rows == (53, 40, 30, 27, 21, 12) and trace.meta.weighted_tables == (0,)
    for x, batch in zip(inputs, trace):  # each table's indices are the ids the module was given
        for t in range(len(TABLES)):
            np.testing.assert_array_equal(batch.tables[t].indices, x[2][t].numpy())
    assert len(assert_replays(out, model, inputs)) == 15


def test_without_recognition_a_qr_bag_would_be_two_tables_and_the_spec_would_not_fit(tmp_path):
    """The spec counts one feature per QR bag: the model's top MLP (dot of 2 features) fits only so."""
    model = TricksDlrm([("qr_mult", 53, 8)])
    model.emb_l[0].num_collisions = float(model.emb_l[0].num_collisions)  # not dlrm's shape: an int is
    inputs = dlrm_inputs([53], [4])
    with pytest.raises(InputError, match="TricksDlrm: no interaction fits: dot gives the top MLP 11 inputs"):
        capture_model(model, inputs, tmp_path / "t.trace", name="t")


@pytest.mark.parametrize("bits,dtype,row_bytes", [(8, "int8", 16), (4, "int4", 8)])
def test_dlrm_quantize_embedding_is_captured_as_row_wise_quantised_tables(tmp_path, bits, dtype, row_bytes):
    tables = [("plain", 50, 8), ("plain", 20, 8)]
    model = TricksDlrm(tables, seed=bits)
    model.quantize_embedding(bits)
    inputs = dlrm_inputs([50, 20], [5, 4], seed=bits, weighted=True)
    out = capture_model(model, inputs, tmp_path / "q.trace", name="q", with_weights=True)
    trace = open_trace(out)
    spec = ModelSpec.model_validate(trace.meta.spec)
    assert [(t.name, t.rows, t.dim, t.dtype, t.row_bytes) for t in spec.table_list] == [
        ("emb_l_q.0", 50, 8, dtype, row_bytes), ("emb_l_q.1", 20, 8, dtype, row_bytes)]
    fused = np.load(out / "weights" / "table_0.part_0.npy")
    assert fused.dtype == np.uint8 and fused.shape == (50, row_bytes)  # FBGEMM's bytes, as the model holds them
    np.testing.assert_array_equal(fused, model.emb_l_q[0].numpy())
    assert_replays(out, model, inputs)


class QuantisedModules(nn.Module):
    """torch's own quantised EmbeddingBag modules (torch.ao.nn.quantized, packed row-wise int8 and int4 weights)
    beside a float table."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.arch_interaction_op = "dot"
        float_bags = [nn.EmbeddingBag(40, 8, mode="sum"), nn.EmbeddingBag(30, 8, mode="sum")]
        configs = [torch.ao.quantization.float_qparams_weight_only_qconfig,
                   torch.ao.quantization.float_qparams_weight_only_qconfig_4bit]
        for bag, config in zip(float_bags, configs):
            bag.qconfig = config
        self.emb_l = nn.ModuleList([*(torch.ao.nn.quantized.EmbeddingBag.from_float(b) for b in float_bags),
                                    nn.EmbeddingBag(20, 8, mode="sum")])
        self.bot_l = nn.Sequential(nn.Linear(DENSE, 8), nn.ReLU())
        self.top_l = nn.Sequential(nn.Linear(8 + 6, 1), nn.Sigmoid())

    def forward(self, dense_x, lS_o, lS_i, psw):
        x = self.bot_l(dense_x)
        ly = [e(i, o, per_sample_weights=psw if k == 0 else None) for k, (e, o, i) in
              enumerate(zip(self.emb_l, lS_o, lS_i))]
        t = torch.stack([x, *ly], dim=1)
        z = torch.bmm(t, t.transpose(1, 2))
        li, lj = torch.tril_indices(4, 4, offset=-1)
        return self.top_l(torch.cat([x, z[:, li, lj]], 1)).squeeze(1)


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")  # torch's own, making the modules
def test_torch_quantised_embedding_bag_modules_are_captured_as_int8_and_int4_tables(tmp_path):
    model = QuantisedModules()
    inputs = dlrm_inputs([40, 30, 20], [6, 5], weighted=True)
    out = capture_model(model, inputs, tmp_path / "ao.trace", name="ao", with_weights=True)
    spec = ModelSpec.model_validate(open_trace(out).meta.spec)
    assert [(t.name, t.dtype, t.dim, t.row_bytes) for t in spec.table_list] == [
        ("emb_l.0", "int8", 8, 16), ("emb_l.1", "int4", 8, 8), ("emb_l.2", "fp32", 8, 32)]
    assert_replays(out, model, inputs)


class HalfTables(nn.Module):
    """Tables kept in fp16 / bf16 (nn.EmbeddingBag on half weights pools in fp32 and returns the half type)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.arch_interaction_op = "dot"
        self.emb_l = nn.ModuleList([nn.EmbeddingBag(40, 8, mode="sum").half(), nn.EmbeddingBag(30, 8, mode="max").to(
            torch.bfloat16), nn.EmbeddingBag(20, 8, mode="mean")])
        self.bot_l = nn.Sequential(nn.Linear(DENSE, 8), nn.ReLU())
        self.top_l = nn.Sequential(nn.Linear(8 + 6, 1), nn.Sigmoid())

    def forward(self, dense_x, lS_o, lS_i):
        x = self.bot_l(dense_x)
        ly = [e(i, o).float() for e, o, i in zip(self.emb_l, lS_o, lS_i)]
        t = torch.stack([x, *ly], dim=1)
        z = torch.bmm(t, t.transpose(1, 2))
        li, lj = torch.tril_indices(4, 4, offset=-1)
        return self.top_l(torch.cat([x, z[:, li, lj]], 1)).squeeze(1)


def test_half_precision_tables_are_captured_with_their_dtype_and_pooling_and_replayed(tmp_path):
    model = HalfTables()
    inputs = dlrm_inputs([40, 30, 20], [6, 5])
    out = capture_model(model, inputs, tmp_path / "h.trace", name="h", with_weights=True)
    spec = ModelSpec.model_validate(open_trace(out).meta.spec)
    assert [(t.dtype, t.pooling, t.row_bytes) for t in spec.table_list] == [("fp16", "sum", 16), ("bf16", "max", 16),
                                                                            ("fp32", "mean", 32)]
    assert_replays(out, model, inputs)


class MixedCat(nn.Module):
    """A cat-interaction model whose tables each have their own dim and pooling (and one a QR concat)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.arch_interaction_op = "cat"
        self.emb_l = nn.ModuleList([nn.EmbeddingBag(40, 4, mode="mean"), nn.EmbeddingBag(30, 12, mode="max"),
                                    QuotientRemainderBag(25, [3, 3], 4, "concat", mode="sum"),
                                    nn.EmbeddingBag(20, 8, mode="sum")])
        self.bot_l = nn.Sequential(nn.Linear(DENSE, 8), nn.ReLU())
        self.top_l = nn.Sequential(nn.Linear(8 + 4 + 12 + 6 + 8, 4), nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid())

    def forward(self, dense_x, lS_o, lS_i):
        ly = [e(i, o) for e, o, i in zip(self.emb_l, lS_o, lS_i)]
        return self.top_l(torch.cat([self.bot_l(dense_x), *ly], 1)).squeeze(1)


def test_tables_of_mixed_dims_and_pooling_replay_through_the_api_and_the_cli(tmp_path, capsys):
    model = MixedCat()
    inputs = dlrm_inputs([40, 30, 25, 20], [7, 7, 2])
    out = capture_model(model, inputs, tmp_path / "m.trace", name="m", with_weights=True)
    spec = ModelSpec.model_validate(open_trace(out).meta.spec)
    assert [(t.dim, t.pooling, t.scheme) for t in spec.table_list] == [(4, "mean", "none"), (12, "max", "none"),
                                                                       (6, "sum", "qr"), (8, "sum", "none")]
    want = model_outputs(model, inputs)
    res = simulate("broadwell_cpu_only", mapping="cpu_only", trace=out, fidelity="analytic", weights=out / "weights")
    assert res.summary["ctr_max_abs_diff_vs_captured"] < 1e-6
    np.testing.assert_allclose(res.outputs["ctr"], want, rtol=1e-5, atol=1e-6)
    assert main(["replay", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 16 and report["ctr_max_abs_diff_vs_captured"] < 1e-6
    # `run --trace` takes the trace's spec and, for the functional model, its own weights
    assert main(["run", "--hw", "broadwell_cpu_only", "--mapping", "cpu_only", "--trace", str(out), "--fidelity",
                 "analytic", "--json", "-o", str(tmp_path / "res")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["workload"] == "m" and summary["ctr_max_abs_diff_vs_captured"] < 1e-6


def test_a_qr_module_used_twice_is_one_compressed_table_of_two_features(tmp_path):
    class Twice(TricksDlrm):
        def apply_emb(self, lS_o, lS_i, psw):
            return [self.emb_l[0](lS_i[0], lS_o[0]), self.emb_l[0](lS_i[1], lS_o[1])]

    model = Twice([("qr_mult", 53, 8), ("qr_mult", 53, 8)])
    inputs = dlrm_inputs([53, 53], [5, 5])
    out = capture_model(model, inputs, tmp_path / "t.trace", name="t", with_weights=True)
    spec = ModelSpec.model_validate(open_trace(out).meta.spec)
    assert [(t.scheme, t.storage) for t in spec.table_list] == [("qr", 0), ("qr", 0)]
    assert spec.total_table_bytes == spec.table_list[0].size_bytes
    outputs, _, _ = replay_trace(out)
    assert max_output_difference(outputs) < 1e-6


def test_compressed_modules_capture_cannot_represent_fail_at_the_forward_naming_them():
    bad_split = TricksDlrm([("qr_mult", 53, 8)])
    bad_split.emb_l[0] = QuotientRemainderBag(53, [2, 6], 5, "concat")
    with EmbeddingCapture(bad_split), torch.no_grad(), pytest.raises(
            InputError, match=r"module emb_l.0 \(a quotient-remainder embedding\): concat of dims 2 and 6"):
        bad_split(*dlrm_inputs([53], [3])[0])
    biased = TricksDlrm([("md", 40, 3)])
    biased.emb_l[0] = ProjectedBag(40, 3, 8, bias=True)
    with EmbeddingCapture(biased), torch.no_grad(), pytest.raises(
            InputError, match=r"module emb_l.0 \(a projected embedding\): proj has a bias"):
        biased(*dlrm_inputs([40], [3])[0])
    class Pruned(TricksDlrm):
        def apply_emb(self, lS_o, lS_i, psw):
            return [torch.ops.quantized.embedding_bag_byte_rowwise_offsets(
                self.emb_l_q[0], lS_i[0], lS_o[0], False, 0, True, None, torch.arange(30, dtype=torch.int32))]

    pruned = Pruned([("plain", 30, 8)])
    pruned.quantize_embedding(8)
    with EmbeddingCapture(pruned), torch.no_grad(), pytest.raises(
            InputError, match=r"module <the model> \(table emb_l_q.0\): a pruned quantised table"):
        pruned(*dlrm_inputs([30], [3])[0])


def test_compressed_weights_are_checked_against_the_spec(tmp_path):
    model = TricksDlrm(TABLES[:2])
    out = capture_model(model, dlrm_inputs([53, 40], [4]), tmp_path / "c.trace", name="c", with_weights=True)
    np.save(out / "weights" / "table_1.dense_0.npy", np.zeros((8, 3), np.float32))  # the projection transposed
    with pytest.raises(InputError, match=r"table_1.dense_0 is float32 \(8, 3\), expected float \(3, 8\)"):
        replay_trace(out)


@given(sizes=st.lists(st.integers(0, 4), min_size=1, max_size=6), mode=st.sampled_from(["sum", "mean", "max"]),
       op=st.sampled_from(["mult", "add", "concat"]), fixed=st.booleans(), seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_a_captured_qr_bag_pools_to_what_the_module_returned(sizes, mode, op, fixed, seed):
    """Any bags (empty ones, 2-D fixed-size input, every pooling): the captured ids pooled by accelsim's qr
    kernel from the module's two tables are the module's output."""
    g = torch.Generator().manual_seed(seed)
    bag = QuotientRemainderBag(23, [2, 2] if op == "concat" else 4, 4, op, mode)
    if fixed:
        idx, offsets = torch.randint(0, 23, (len(sizes), max(sizes[0], 1)), generator=g), None
    else:
        idx = torch.randint(0, 23, (sum(sizes),), generator=g)
        offsets = torch.tensor([0, *np.cumsum(sizes)[:-1]], dtype=torch.long)
    with EmbeddingCapture(bag) as cap, torch.no_grad():
        want = bag(idx, offsets).numpy()
    (feature,), (t,) = cap.features, cap.batches[0].tables
    np.testing.assert_array_equal(t.indices, idx.numpy().ravel())
    table = dict(rows=feature.rows, dim=feature.dim, lookups_per_sample=4, pooling=feature.pooling,
                 compression=feature.compression)
    spec = parse_model(ModelSpec, dict(name="q", source="test", embedding_dim=4, interaction="cat", bottom_mlp=[4],
                                       top_mlp=[1], tables=[table]))
    parts = (bag.weight_q.detach().numpy(), bag.weight_r.detach().numpy())
    got = compressed_bag(spec.table_list[0], CompressedWeights(parts), t.indices, t.offsets)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
