"""The PyTorch DLRM (facebookresearch/dlrm structure, torchrec DCNv2 cross net) and its random inputs.

Its parameters are those of `DlrmParams.from_spec(spec, seed)`, so its outputs are checked against the numba
reference forward. Tables are materialised in full, which only fits small models: a memory budget guards it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.kernels.reference import CrossLayer, DenseLayer
from accelsim.workload.trace import Batch, TableBags
from accelsim.workload.weights import DlrmParams, dense_inputs

DEFAULT_MEMORY_BUDGET_BYTES = 2 * 2**30
_FP32_BYTES = 4


def torch_model_bytes(spec: ModelSpec) -> int:
    """fp32 bytes of every table, MLP and cross layer of the PyTorch model of `spec`."""
    tables = sum(t.rows for t in spec.table_list) * spec.embedding_dim
    dense = sum(i * o + o for i, o in spec.bottom_layers + spec.top_layers)
    if spec.dcnv2 is not None:
        dense += spec.dcnv2.layers * (2 * spec.top_input_width * spec.dcnv2.rank + spec.top_input_width)
    return (tables + dense) * _FP32_BYTES


def interact_features(x: torch.Tensor, ly: Sequence[torch.Tensor], op: str) -> torch.Tensor:
    """facebookresearch/dlrm `interact_features`: 'dot' (strict lower triangle of T T^T) or 'cat'."""
    if op == "cat":
        return torch.cat([x, *ly], dim=1)
    batch, dim = x.shape
    t = torch.cat([x, *ly], dim=1).view((batch, -1, dim))
    z = torch.bmm(t, torch.transpose(t, 1, 2))
    n = z.shape[1]
    li = torch.tensor([i for i in range(n) for j in range(i)], dtype=torch.long)
    lj = torch.tensor([j for i in range(n) for j in range(i)], dtype=torch.long)
    return torch.cat([x, z[:, li, lj]], dim=1)


class LowRankCrossNet(nn.Module):
    """torchrec LowRankCrossNet: x_{l+1} = x0 * (W_l (V_l x_l) + b_l) + x_l."""

    def __init__(self, layers: Sequence[CrossLayer]):
        super().__init__()
        self.w_kernels = nn.ParameterList(nn.Parameter(torch.from_numpy(c.u.copy())) for c in layers)
        self.v_kernels = nn.ParameterList(nn.Parameter(torch.from_numpy(c.v.copy())) for c in layers)
        self.bias = nn.ParameterList(nn.Parameter(torch.from_numpy(c.bias.copy())) for c in layers)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for w, v, b in zip(self.w_kernels, self.v_kernels, self.bias):
            x = x0 * (nn.functional.linear(nn.functional.linear(x, v), w) + b) + x
        return x


def _torch_mlp(layers: Sequence[DenseLayer], sigmoid_last: bool) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i, (w, b) in enumerate(layers):
        lin = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        mods.append(nn.Sigmoid() if sigmoid_last and i == len(layers) - 1 else nn.ReLU())
    return nn.Sequential(*mods)


def torch_table(values: np.ndarray) -> torch.Tensor:
    """A float32 table holding `values`, allocated by PyTorch's own CPU allocator, as nn.EmbeddingBag(rows, dim)
    allocates its weight: 64-byte aligned, on whatever pages the kernel gives memory nobody advised.

    Not torch.from_numpy of a numpy array: numpy's large arrays start 16 bytes into their pages (glibc's mmap
    chunk header), so every row of a whole number of lines straddles one line more, and numpy advises huge
    pages for them. On 2026-12-03 (EPYC guest) one 1M x 64 EmbeddingBag call (512 x 40 lookups) took 199 us on
    a numpy table, 152 us on a 64-byte-aligned one on 2 MiB pages and 211 us on one on 4 KiB pages."""
    out = torch.empty(values.shape, dtype=torch.float32)
    out.copy_(torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)))
    return out


class TorchDlrm(nn.Module):
    """DLRM: bottom MLP, one EmbeddingBag per table, dot / cat / DCNv2 interaction, top MLP with sigmoid."""

    def __init__(self, spec: ModelSpec, params: DlrmParams):
        super().__init__()
        self.interaction = spec.interaction
        self.embeddings = nn.ModuleList(
            nn.EmbeddingBag(t.rows, spec.embedding_dim, mode=spec.pooling, include_last_offset=True,
                            _weight=torch_table(params.table_rows_values(t.index, np.arange(t.rows))))
            for t in spec.table_list
        )
        self.bottom = _torch_mlp(params.bottom, sigmoid_last=False)
        self.cross = LowRankCrossNet(params.cross) if spec.interaction == "dcnv2" else None
        self.top = _torch_mlp(params.top, sigmoid_last=True)

    def forward(self, dense: torch.Tensor, bags: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Click probability (B,) from dense (B, features) and (indices, offsets of length B+1) per table."""
        x = self.bottom(dense)
        ly = [emb(indices, offsets) for emb, (indices, offsets) in zip(self.embeddings, bags, strict=True)]
        if self.cross is not None:
            r = self.cross(torch.cat([x, *ly], dim=1))
        else:
            r = interact_features(x, ly, self.interaction)
        return self.top(r).squeeze(1)


def build_torch_dlrm(spec: ModelSpec, seed: int, params: DlrmParams | None = None, *,
                     memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES) -> TorchDlrm:
    """The PyTorch DLRM of `spec` with the parameters of DlrmParams.from_spec(spec, seed)."""
    need = torch_model_bytes(spec)
    if need > memory_budget_bytes:
        raise InputError(
            f"workload {spec.name!r}: the PyTorch model needs {need / 2**30:.2f} GiB of fp32 tables and weights, "
            f"over the {memory_budget_bytes / 2**30:.2f} GiB memory budget; use a workload with smaller tables "
            "or raise the budget (accelsim trace capture --memory-budget-gib)")
    return TorchDlrm(spec, params if params is not None else DlrmParams.from_spec(spec, seed))


def _random_bags(rng: np.random.Generator, rows: int, max_bag: int, dist: str, batch_size: int) -> TableBags:
    """DLRM's random bags: `max_bag` (or U[1, max_bag]) uniform rows per sample, duplicates removed."""
    sizes = np.full(batch_size, max_bag) if dist == "fixed" else rng.integers(1, max_bag + 1, batch_size)
    draws = rng.integers(0, rows, (batch_size, max_bag), dtype=np.int64)
    # Unused slots get the value `rows`, which sorts last and is dropped with the duplicates.
    draws[np.arange(max_bag)[None, :] >= sizes[:, None]] = rows
    draws.sort(axis=1)
    keep = draws != rows
    keep[:, 1:] &= draws[:, 1:] != draws[:, :-1]
    offsets = np.zeros(batch_size + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=offsets[1:])
    return TableBags(indices=draws[keep], offsets=offsets, weights=None)


def generate_inputs(spec: ModelSpec, batch_size: int, seed: int, batch_index: int) -> tuple[np.ndarray, Batch]:
    """Dense features U[0,1) (B, features) fp32 and one bag per sample per table, as DLRM's random data."""
    if batch_size < 1 or seed < 0 or batch_index < 0:
        raise InputError(f"generate_inputs: need batch_size >= 1, seed >= 0, batch_index >= 0; "
                         f"got {batch_size}, {seed}, {batch_index}")
    dense = dense_inputs(spec, batch_size, seed, batch_index)
    rng = np.random.default_rng([seed, batch_index])
    tables = tuple(_random_bags(rng, t.rows, t.lookups_per_sample, t.bag_size_dist, batch_size)
                   for t in spec.table_list)
    return dense, Batch(tables=tables)


def torch_bags(batch: Batch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A trace batch as the (indices, offsets) tensors TorchDlrm.forward takes."""
    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a if a.flags.writeable else a.copy())  # trace batches are read-only memory maps
    return [(tensor(t.indices), tensor(t.offsets)) for t in batch.tables]
