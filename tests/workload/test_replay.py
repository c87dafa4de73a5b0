"""A user's own model in, its spec, weights and outputs out: capture_model, build_spec, replay."""

import shutil

import numpy as np
import pytest
import torch
from torch import nn

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.sim.functional import max_output_difference, replay_trace
from accelsim.workload.capture import capture_model
from accelsim.workload.torch_model import build_torch_dlrm, generate_inputs, torch_bags
from accelsim.workload.trace import open_trace
from accelsim.workload.weights import load_weights

F = nn.functional


class FunctionalDlrm(nn.Module):
    """facebookresearch/dlrm-shaped, written another way: raw Parameters looked up with F.embedding_bag on
    fixed-size 2-D bags, per-sample weights on the first and last table, one table read by two features."""

    def __init__(self, op, rows=(40, 25, 60), dim=8):
        super().__init__()
        torch.manual_seed(3)
        self.arch_interaction_op = op
        self.emb_w = nn.ParameterList(nn.Parameter(torch.randn(r, dim) * 0.1) for r in rows)
        self.bot_l = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, dim), nn.ReLU())
        n = len(rows) + 2  # tables, the shared table's second feature, the bottom output
        top_in = dim + n * (n - 1) // 2 if op == "dot" else dim * n
        self.top_l = nn.Sequential(nn.Linear(top_in, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())

    def forward(self, dense, idx, psw):
        x = self.bot_l(dense)
        ly = [F.embedding_bag(idx[0], self.emb_w[0], mode="sum", per_sample_weights=psw[0]),
              F.embedding_bag(idx[1], self.emb_w[1], mode="sum"),
              F.embedding_bag(idx[2], self.emb_w[2], mode="sum", per_sample_weights=psw[1]),
              F.embedding_bag(idx[3], self.emb_w[1], mode="sum")]  # table 1 again: a second feature
        if self.arch_interaction_op == "cat":
            r = torch.cat([x, *ly], dim=1)
        else:
            t = torch.stack([x, *ly], dim=1)
            z = torch.bmm(t, t.transpose(1, 2))
            li, lj = torch.tril_indices(t.shape[1], t.shape[1], offset=-1)
            r = torch.cat([x, z[:, li, lj]], dim=1)
        return self.top_l(r).squeeze(1)


def functional_inputs(batch_sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    for b in batch_sizes:
        idx = [torch.randint(0, r, (b, 3), generator=g) for r in (40, 25, 60, 25)]
        yield torch.rand(b, 5, generator=g), idx, [torch.rand(b, 3, generator=g), torch.rand(b, 3, generator=g)]


@pytest.mark.parametrize("op", ["dot", "cat"])
def test_a_functional_weighted_shared_model_is_replayed_with_its_weights(tmp_path, op):
    model = FunctionalDlrm(op)
    out = capture_model(model, functional_inputs([6, 6, 4]), tmp_path / "m.trace", name="fdlrm", with_weights=True)
    trace = open_trace(out)
    spec = ModelSpec.model_validate(trace.meta.spec)
    assert spec.interaction == op and spec.bottom_mlp == (5, 12, 8) and spec.top_mlp == (16, 1)
    assert [(t.rows, t.dim, t.lookups_per_sample) for t in spec.table_list] == [(40, 8, 3), (25, 8, 3), (60, 8, 3),
                                                                                 (25, 8, 3)]
    assert [t.storage for t in spec.table_list] == [0, 1, 2, 1]  # one table, two features
    assert trace.meta.weighted_tables == (0, 2) and trace.meta.dense_features == 5 and trace.meta.has_outputs
    assert [b.batch_size for b in trace] == [6, 6, 4]
    outputs, _, used = replay_trace(out)
    assert used == out / "weights" and len(outputs) == 16
    assert max_output_difference(outputs) < 1e-6
    with torch.no_grad():
        want = torch.cat([model(*x) for x in functional_inputs([6, 6, 4])]).numpy()
    np.testing.assert_allclose(outputs["ctr"], want, rtol=1e-5, atol=1e-6)
    # Without the model's weights the outputs are another model's, and the difference says so.
    shutil.copytree(out, tmp_path / "bare.trace", ignore=shutil.ignore_patterns("weights"))
    generated, _, used = replay_trace(tmp_path / "bare.trace")
    assert used is None and max_output_difference(generated) > 1e-3


def test_replay_of_the_project_dlrm_from_a_torch_weights_file(tmp_path):
    spec = parse_model(ModelSpec, dict(name="t", source="test", embedding_dim=4, interaction="dcnv2",
                                       dcnv2={"layers": 2, "rank": 2}, tables=[{"rows": 30, "lookups_per_sample": 3,
                                                                                "count": 2}],
                                       bottom_mlp=[3, 4], top_mlp=[5, 1]))
    model = build_torch_dlrm(spec, 9)
    inputs = [(torch.from_numpy(d), torch_bags(b)) for d, b in (generate_inputs(spec, 8, 1, i) for i in range(2))]
    out = capture_model(model, inputs, tmp_path / "d.trace", name="t", with_weights=True)
    stored = load_weights(out / "weights", ModelSpec.model_validate(open_trace(out).meta.spec))
    state = {f.stem: torch.from_numpy(np.load(f)) for f in (out / "weights").glob("*.npy")}
    torch.save(state, tmp_path / "w.pt")
    outputs, spec_used, _ = replay_trace(out, weights=tmp_path / "w.pt")
    assert spec_used.interaction == "dcnv2" and spec_used.dcnv2.rank == 2
    assert max_output_difference(outputs) < 1e-6
    assert len(stored.cross) == 2
    torch.save({"table_0": torch.zeros(30, 4)}, tmp_path / "short.pt")
    with pytest.raises(InputError, match=r"short\.pt: no array 'table_1'"):
        replay_trace(out, weights=tmp_path / "short.pt")


class Gadget:
    """Not a tensor: a torch file holding it needs code to unpickle."""


def test_weights_never_unpickle_code(tmp_path):
    torch.save({"table_0": Gadget()}, tmp_path / "evil.pt")
    spec = parse_model(ModelSpec, dict(name="t", source="test", embedding_dim=4, tables=[{"rows": 3,
                                                                                          "lookups_per_sample": 1}],
                                       bottom_mlp=[4], top_mlp=[1]))
    with pytest.raises(InputError, match=r"evil\.pt: not a torch weights file loadable with weights_only=True"):
        load_weights(tmp_path / "evil.pt", spec)
    (tmp_path / "npy").mkdir()
    np.save(tmp_path / "npy" / "table_0.npy", np.array([Gadget()], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"table_0\.npy: not a readable \.npy array"):
        load_weights(tmp_path / "npy", spec)
    with open(tmp_path / "npy" / "table_0.npy", "wb") as f:  # np.load opens an .npz archive whatever its name
        np.savez(f, a=np.zeros((3, 4), np.float32))
    with pytest.raises(InputError, match=r"table_0\.npy: an \.npz archive, expected one \.npy array"):
        load_weights(tmp_path / "npy", spec)


def test_a_model_that_is_not_dlrm_like_needs_its_dense_part(tmp_path):
    class Bags(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.EmbeddingBag(10, 4, mode="mean"), nn.EmbeddingBag(7, 2, mode="max")

        def forward(self, i):
            return torch.cat([self.a(i), self.b(i % 7)], 1).sum(1)

    inputs = [torch.randint(0, 10, (4, 2)) for _ in range(2)]
    with pytest.raises(InputError, match="Bags is not DLRM-like .* give its dense part"):
        capture_model(Bags(), inputs, tmp_path / "b.trace", name="bags")
    assert not (tmp_path / "b.trace").exists()
    out = capture_model(Bags(), inputs, tmp_path / "b.trace", name="bags",
                        dense={"bottom_mlp": [3, 4], "top_mlp": [1], "interaction": "cat"})
    spec = ModelSpec.model_validate(open_trace(out).meta.spec)
    assert [(t.name, t.rows, t.dim, t.pooling) for t in spec.table_list] == [("a", 10, 4, "mean"), ("b", 7, 2, "max")]
    with pytest.raises(InputError, match="not DLRM-like: its weights cannot be replayed"):
        capture_model(Bags(), inputs, tmp_path / "c.trace", name="bags", with_weights=True,
                      dense={"bottom_mlp": [3, 4], "top_mlp": [1], "interaction": "cat"})


class QrDlrm(nn.Module):
    """facebookresearch/dlrm with a QR embedding: two tables combine into one feature before the interaction."""

    def __init__(self):
        super().__init__()
        self.arch_interaction_op = "dot"
        self.w_q, self.w_r = nn.Parameter(torch.randn(10, 4)), nn.Parameter(torch.randn(8, 4))
        self.bot_l = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        self.top_l = nn.Sequential(nn.Linear(4 + 1, 1), nn.Sigmoid())  # 2 features: one dot product

    def forward(self, dense, idx):
        x = self.bot_l(dense)
        e = F.embedding_bag(idx // 8, self.w_q, mode="sum") * F.embedding_bag(idx % 8, self.w_r, mode="sum")
        return self.top_l(torch.cat([x, (x * e).sum(1, keepdim=True)], 1)).squeeze(1)


def test_a_model_whose_tables_combine_first_names_the_misfit_and_takes_the_users_dense_part(tmp_path):
    inputs = [(torch.rand(4, 3), torch.randint(0, 80, (4, 2)))]
    with pytest.raises(InputError, match="QrDlrm: no interaction fits: dot gives the top MLP 7 inputs, module "
                                         "top_l takes 5"):
        capture_model(QrDlrm(), inputs, tmp_path / "q.trace", name="qr")
    out = capture_model(QrDlrm(), inputs, tmp_path / "q.trace", name="qr",
                        dense={"top_mlp": [4, 1], "interaction": "dot"})
    spec = ModelSpec.model_validate(open_trace(out).meta.spec)
    assert spec.num_tables == 2 and spec.bottom_mlp == (3, 4) and spec.top_mlp == (4, 1)
