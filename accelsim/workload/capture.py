"""Capture every embedding lookup of any PyTorch model into a trace, through a TorchFunctionMode.

Modules (`nn.EmbeddingBag`, `nn.Embedding` and their subclasses) and functional calls (`F.embedding_bag`,
`F.embedding`, `torch.embedding_bag`, `torch.embedding`) all reach the mode, so one mechanism sees them all.
Each lookup of one forward becomes one trace table (a *feature*) of one Batch, as CSR bags:
- embedding_bag: 2-D input (B, N) is B bags of N; 1-D input with offsets, with or without include_last_offset.
  Entries equal to `padding_idx` are dropped: PyTorch neither reads nor counts them.
- embedding: input (B, ...) is B bags of the trailing elements; `padding_idx` rows are kept (they are read).
  An input whose leading size is not the batch's (a position embedding `pos(torch.arange(S))`, or a leading
  size of 1) is *broadcast*: every sample of the batch uses the same rows, so each bag holds them all.
The batch size B of a forward is the bag count of its embedding_bag lookups and of its >= 2-D embedding
lookups; with none of those, the length of its 1-D embedding lookups. A *table* is a weight tensor: a weight
reached by two lookups is one table feeding two features (`shared_with` in the spec). Features are ordered by
call within the forward; every forward must make the same lookups. A forward whose lookups a trace cannot
represent fails at that forward, naming the module that made the lookup.

Compressed tables are recognised by the shapes facebookresearch/dlrm gives them (`tricks/`), duck-typed:
- a quotient-remainder bag (QREmbeddingBag: `weight_q`, `weight_r`, `num_collisions`, `operation`) makes one
  table of `num_categories` rows with `compression: qr`; its two lookups (quotient, remainder) become one
  feature whose indices are the ids the module was given (q * collisions + r);
- a projected bag (PrEmbeddingBag: an `embs` EmbeddingBag and a bias-free `proj` Linear) makes one table at the
  projected dim with `compression: md` (one block at the stored dim; the projection is its dense factor); with
  `proj` an Identity it is a plain table;
- row-wise quantised lookups (`torch.ops.quantized.embedding_bag_byte_rowwise_offsets` /
  `embedding_bag_4bit_rowwise_offsets` on FBGEMM's fused rows, as dlrm's `quantize_embedding` runs them, and
  `embedding_bag_byte` / `_4bit` on packed rows, as torch.ao.nn.quantized.EmbeddingBag does) make tables of
  dtype int8 / int4; half-precision weights make fp16 / bf16 tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from accelsim.config.workload import QUANT_BITS, ModelSpec
from accelsim.errors import InputError
from accelsim.kernels.compressed import CompressedWeights
from accelsim.kernels.reference import CrossLayer, DenseLayer
from accelsim.workload.model_spec import cross_kernels, build_spec, find_dense_parts, linear_layers
from accelsim.workload.torch_model import DEFAULT_MEMORY_BUDGET_BYTES, build_torch_dlrm, generate_inputs, torch_bags
from accelsim.workload.trace import TRACE_WEIGHTS, Batch, TableBags, TraceWriter
from accelsim.workload.weights import ModelWeights, save_weights

_F = nn.functional
_BAG_MODES = {0: "sum", 1: "mean", 2: "max", "sum": "sum", "mean": "mean", "max": "max"}
# Argument names of each lookup function, in positional order (torch.* are the aten signatures).
_SIGNATURES: dict[Callable, tuple[str, ...]] = {
    _F.embedding_bag: ("input", "weight", "offsets", "max_norm", "norm_type", "scale_grad_by_freq", "mode",
                       "sparse", "per_sample_weights", "include_last_offset", "padding_idx"),
    torch.embedding_bag: ("weight", "input", "offsets", "scale_grad_by_freq", "mode", "sparse",
                          "per_sample_weights", "include_last_offset", "padding_idx"),
    _F.embedding: ("input", "weight", "padding_idx"),
    torch.embedding: ("weight", "input", "padding_idx"),
}
_QUANT_ARGS = ("weight", "input", "offsets", "scale_grad_by_freq", "mode", "pruned_weights", "per_sample_weights",
               "compressed_indices_mapping", "include_last_offset")
# Row-wise quantised bags on FBGEMM's fused rows: (dtype, bytes of scale and bias at the end of each row). The
# *_rowwise_offsets ops take the fused rows as a uint8 tensor (dlrm's quantize_embedding); embedding_bag_byte /
# _4bit take them packed (torch.ao.nn.quantized.EmbeddingBag), and capture unpacks them (_fused_rows).
_QUANT_FUNCS: dict[Callable, tuple[str, int]] = {}
_PACKED_FUNCS: set[Callable] = set()
for _op, _layout in (("embedding_bag_byte_rowwise_offsets", ("int8", 8)),
                     ("embedding_bag_4bit_rowwise_offsets", ("int4", 4)),
                     ("embedding_bag_byte", ("int8", 8)), ("embedding_bag_4bit", ("int4", 4))):
    _packet = getattr(torch.ops.quantized, _op, None)  # absent from torch builds without quantized kernels
    if _packet is not None:
        _QUANT_FUNCS[_packet] = _QUANT_FUNCS[_packet.default] = _layout
        _SIGNATURES[_packet] = _SIGNATURES[_packet.default] = _QUANT_ARGS
        if not _op.endswith("_offsets"):
            _PACKED_FUNCS.update((_packet, _packet.default))
_BAG_FUNCS = (_F.embedding_bag, torch.embedding_bag)
_DEFAULT_BAG_MODE = {_F.embedding_bag: "mean", torch.embedding_bag: 0}


def _array(t: torch.Tensor, dtype: type) -> np.ndarray:
    """A private copy: the model may reuse or modify its input tensors after the call."""
    return np.array(t.detach().cpu().numpy(), dtype=dtype, copy=True)


def _bound(func: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    merged = dict(zip(_SIGNATURES[func], args))
    merged.update(kwargs)
    return merged


def _bag_csr(where: str, a: dict[str, Any], padding_idx: int | None) -> TableBags:
    """The bags of one embedding_bag call, in CSR form with the last offset; padding entries dropped."""
    indices = _array(a["input"], np.int64)
    offsets, psw = a.get("offsets"), a.get("per_sample_weights")
    weights = None if psw is None else _array(psw, np.float32).reshape(-1)
    if indices.ndim == 2:
        bags, size = indices.shape
        full = np.arange(bags + 1, dtype=np.int64) * size
        indices = indices.reshape(-1)
    elif indices.ndim == 1 and offsets is not None:
        full = _array(offsets, np.int64).reshape(-1)
        if not a.get("include_last_offset", False):
            full = np.append(full, np.int64(indices.size))
        # With include_last_offset PyTorch ignores indices past the last offset.
        indices = indices[: full[-1]]
        weights = None if weights is None else weights[: full[-1]]
    else:
        raise InputError(f"{where}: embedding_bag with a {indices.ndim}-D input and offsets={offsets is not None}; "
                         "expected a 2-D input, or a 1-D input with offsets")
    if padding_idx is not None:
        keep = indices != padding_idx
        if not keep.all():
            full = np.concatenate([[0], np.cumsum(keep)])[full]
            indices = indices[keep]
            weights = None if weights is None else weights[keep]
    return TableBags(indices=indices, offsets=full, weights=weights)


@dataclass
class _Storage:
    """What a table holds: its stored parts as looked up (one weight, or a scheme's several) and dense factors."""

    parts: tuple[torch.Tensor, ...]
    dense: tuple[torch.Tensor, ...] = ()


@dataclass
class _Lookup:
    """One lookup of one forward as it was called; embedding lookups become bags once B is known."""

    module: str
    table: str
    rows: int
    dim: int
    dtype: str
    pooling: str  # sum | mean | max, or none (embedding: every row is its own output)
    padding_idx: int | None
    bags: TableBags | None = None
    index: np.ndarray | None = None
    compression: dict | None = None
    part: int = 0  # inside a recognised compressed module: which of its tables the lookup read

    @property
    def where(self) -> str:
        return f"module {self.module or '<the model>'} (table {self.table})"


@dataclass(frozen=True)
class _Scheme:
    """A module recognised as one compressed table: which weights its lookups read, and what it makes of them."""

    kind: str  # qr | md
    rows: int
    dim: int
    compression: dict
    storage: _Storage


def _qr_scheme(name: str, m: nn.Module) -> _Scheme | None:
    """dlrm's QREmbeddingBag: pooled quotient rows (id // c) and remainder rows (id % c), combined by `operation`."""
    wq, wr = getattr(m, "weight_q", None), getattr(m, "weight_r", None)
    c, op = getattr(m, "num_collisions", None), getattr(m, "operation", None)
    if not (isinstance(wq, torch.Tensor) and isinstance(wr, torch.Tensor) and isinstance(c, int)
            and not isinstance(c, bool) and op in ("mult", "add", "concat")):
        return None
    where = f"module {name} (a quotient-remainder embedding)"
    if wq.ndim != 2 or wr.ndim != 2 or c < 1 or wr.shape[0] != c:
        raise InputError(f"{where}: weight_q {tuple(wq.shape)} and weight_r {tuple(wr.shape)} are not the "
                         f"(ceil(rows/{c}), dim) and ({c}, dim) tables of {c} collisions")
    rows = getattr(m, "num_categories", None)
    rows = int(rows) if isinstance(rows, int) and not isinstance(rows, bool) else int(wq.shape[0]) * c
    dq, dr = int(wq.shape[1]), int(wr.shape[1])
    dim = dq + dr if op == "concat" else dq
    if ceil(rows / c) != wq.shape[0]:
        raise InputError(f"{where}: {rows} categories need {ceil(rows / c)} quotient rows, weight_q has {wq.shape[0]}")
    if op != "concat" and dq != dr:
        raise InputError(f"{where}: operation {op} of dims {dq} and {dr}; they must be equal")
    if op == "concat" and (dq, dr) != (ceil(dim / 2), dim // 2):
        raise InputError(f"{where}: concat of dims {dq} and {dr}; the workload format's qr concat splits a dim d "
                         "as ceil(d/2) + floor(d/2)")
    if _torch_dtype_name(wq) != _torch_dtype_name(wr):
        raise InputError(f"{where}: weight_q is {wq.dtype}, weight_r {wr.dtype}; one table has one dtype")
    return _Scheme("qr", rows, dim, {"scheme": "qr", "collisions": c, "operation": op}, _Storage((wq, wr)))


def _md_scheme(name: str, m: nn.Module) -> _Scheme | None:
    """dlrm's PrEmbeddingBag: an EmbeddingBag at a stored dim, then a bias-free Linear to the model's dim."""
    embs, proj = getattr(m, "embs", None), getattr(m, "proj", None)
    if not (isinstance(embs, nn.EmbeddingBag) and isinstance(proj, nn.Linear)):
        return None
    where = f"module {name} (a projected embedding)"
    if proj.in_features != embs.embedding_dim:
        raise InputError(f"{where}: proj takes {proj.in_features} inputs, embs gives {embs.embedding_dim}")
    if proj.bias is not None:
        raise InputError(f"{where}: proj has a bias; an md projection is a bias-free Linear (dlrm's PrEmbeddingBag)")
    return _Scheme("md", int(embs.num_embeddings), int(proj.out_features),
                   {"scheme": "md", "dims": [int(embs.embedding_dim)]},
                   _Storage((embs.weight,), (proj.weight.T,)))


@dataclass
class Feature:
    """One trace table: which module looked up which table, and how (the trace's `capture_features`)."""

    module: str
    table: str
    call: int  # 0 for the first lookup of `table` in a forward, 1 for the second, ...
    rows: int
    dim: int
    dtype: str
    pooling: str
    padding_idx: int | None
    weighted: bool
    broadcast: bool = False
    bag_sizes: set[int] = field(default_factory=set)
    compression: dict | None = None  # the spec's `compression` of a recognised compressed module

    def as_json(self) -> dict:
        """The feature as stored in meta.json extra.capture_features."""
        return dict(module=self.module, table=self.table, call=self.call, rows=self.rows, dim=self.dim,
                    dtype=self.dtype, pooling=self.pooling, padding_idx=self.padding_idx, weighted=self.weighted,
                    broadcast=self.broadcast, compression=self.compression)


class _LookupMode(TorchFunctionMode):
    """Hands every embedding lookup to the capture, then runs it."""

    def __init__(self, on_lookup: Callable[[Callable, dict[str, Any]], None]):
        super().__init__()
        self._on_lookup = on_lookup

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _SIGNATURES:
            self._on_lookup(func, _bound(func, args, kwargs))
        return func(*args, **kwargs)


def _fused_rows(packed: Any, dtype: str) -> torch.Tensor:
    """FBGEMM's fused rows (uint8) of a packed quantised table, as torch's prepack of a quantised tensor lays
    them out: the codes, then the row's scale and bias = -zero_point * scale (fp32 for int8, fp16 for int4)."""
    q = torch.ops.quantized.embedding_bag_unpack(packed)
    rows = int(q.shape[0])
    codes = q.int_repr().numpy().reshape(rows, -1)  # int4: two codes per byte, the even element low
    scale = q.q_per_channel_scales().numpy().astype(np.float32)
    bias = (-q.q_per_channel_zero_points().numpy().astype(np.float32)) * scale
    kind = np.float32 if dtype == "int8" else np.float16
    tail = np.stack([scale.astype(kind), bias.astype(kind)], axis=1).view(np.uint8).reshape(rows, -1)
    return torch.from_numpy(np.ascontiguousarray(np.concatenate([codes, tail], axis=1)))


def _torch_dtype_name(t: torch.Tensor) -> str:
    return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16", torch.int8: "int8",
            torch.uint8: "int8"}.get(t.dtype, str(t.dtype).removeprefix("torch."))


class EmbeddingCapture:
    """Context manager recording the embedding lookups of every forward of `model` as trace Batches.

    `dense_module` names the submodule whose input is the dense features (a DLRM's bottom MLP): its input is
    stored with each batch. The model's output is stored too when it holds one float per sample.
    """

    def __init__(self, model: nn.Module, *, dense_module: str | None = None):
        self.model = model
        self.dense_module = dense_module
        modules = dict(model.named_modules())
        if dense_module is not None and dense_module not in modules:
            raise InputError(f"{type(model).__name__} has no submodule {dense_module!r} (dense_module)")
        self._modules = modules
        self._names: dict[int, str] = {}
        for n, p in [*model.named_parameters(remove_duplicate=False), *model.named_buffers()]:
            self._names.setdefault(id(p), n.removesuffix(".weight"))  # a tied weight keeps its first name
        self._fused: dict[int, tuple[Any, torch.Tensor]] = {}  # packed tables (by id) and their fused rows
        for n, m in modules.items():  # tensors kept in plain attributes (dlrm's quantised emb_l_q list)
            packed = getattr(getattr(m, "_packed_params", None), "_packed_weight", None)
            if packed is not None:  # torch.ao.nn.quantized.EmbeddingBag: the table is the module
                self._names.setdefault(id(packed), n)
            for attr, v in vars(m).items():
                held = v if isinstance(v, (list, tuple)) else [v] if not attr.startswith("_") else []
                for i, t in enumerate(held):
                    if isinstance(t, torch.Tensor):
                        suffix = f".{i}" if held is v else ""
                        self._names.setdefault(id(t), f"{n + '.' if n else ''}{attr}{suffix}")
        self._schemes: dict[str, _Scheme | None] = {}
        self._open: dict[str, int] = {}  # recognised compressed modules being run: where their lookups start
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._mode: _LookupMode | None = None
        self._stack: list[str] = []
        self._calls: list[_Lookup] | None = None
        self._dense: np.ndarray | None = None
        self._weights: dict[str, _Storage] = {}
        self.features: list[Feature] | None = None
        self.batches: list[Batch] = []

    def __enter__(self) -> "EmbeddingCapture":
        for name, m in self._modules.items():
            self._handles.append(m.register_forward_pre_hook(self._enter_module(name), with_kwargs=True))
            self._handles.append(m.register_forward_hook(self._leave_module(name), always_call=True))
        self._mode = _LookupMode(self._record)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
            self._mode = None
        self._calls, self._stack, self._open = None, [], {}

    def _scheme(self, name: str, module: nn.Module) -> _Scheme | None:
        if name not in self._schemes:
            self._schemes[name] = _qr_scheme(name, module) or _md_scheme(name, module)
        return self._schemes[name]

    def _enter_module(self, name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            if module is self.model and not self._stack:
                self._calls, self._dense, self._open = [], None, {}
            if self._calls is not None and self._scheme(name, module) is not None:
                self._open[name] = len(self._calls)
            self._stack.append(name)
            if name == self.dense_module and self._calls is not None and self._dense is None:
                x = args[0] if args else next(iter(kwargs.values()), None)
                if isinstance(x, torch.Tensor) and x.ndim == 2 and x.dtype.is_floating_point:
                    self._dense = _array(x, np.float32)
        return hook

    def _leave_module(self, name: str):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            if self._stack and self._stack[-1] == name:
                self._stack.pop()
            if name in self._open and self._calls is not None:
                start = self._open.pop(name)
                self._calls[start:] = [self._merge(name, self._calls[start:])]
            if module is self.model and not self._stack and self._calls is not None:
                calls, self._calls = self._calls, None
                if calls:
                    self._end_forward(calls, output)
        return hook

    def _record(self, func: Callable, a: dict[str, Any]) -> None:
        if self._calls is None:
            return  # a lookup outside a forward of the captured model
        packed = a["weight"]
        module = self._stack[-1] if self._stack else ""
        if func in _PACKED_FUNCS:
            if id(packed) not in self._fused:  # unpacked once: the table does not change between forwards
                self._fused[id(packed)] = (packed, _fused_rows(packed, _QUANT_FUNCS[func][0]))
            a["weight"] = self._fused[id(packed)][1]
        weight = a["weight"]
        # An unregistered weight (made in the forward) is told apart by its place among the module's lookups.
        k = sum(1 for c in self._calls if c.module == module)
        table = self._names.get(id(packed), f"{module or '<the model>'}:lookup{k}")
        self._weights[table] = _Storage((weight,))
        rows, dim = (int(s) for s in weight.shape[:2]) if weight.ndim == 2 else (0, 0)
        base = _Lookup(module=module, table=table, rows=rows, dim=dim, dtype=_torch_dtype_name(weight),
                       pooling="none", padding_idx=None)
        if weight.ndim != 2:
            raise InputError(f"{base.where}: embedding weight of shape {tuple(weight.shape)}, expected (rows, dim)")
        group = next((g for g in reversed(self._stack) if g in self._open), None)
        if group is not None:
            parts = self._schemes[group].storage.parts
            base.part = next((i for i, p in enumerate(parts) if p is weight), -1)
            if base.part < 0:
                raise InputError(f"{base.where}: a lookup inside module {group}, recognised as a "
                                 f"{self._schemes[group].kind} embedding, of a weight that is not one of its tables")
        if func in _QUANT_FUNCS:
            self._calls.append(self._quantized(base, func, a))
            return
        pad = a.get("padding_idx")
        # aten's -1 means none; F.* count a negative padding_idx from the end, as PyTorch does
        if pad is not None and not (func in (torch.embedding, torch.embedding_bag) and pad == -1):
            base.padding_idx = int(pad) + rows if int(pad) < 0 else int(pad)
        if func in _BAG_FUNCS:
            base.pooling = _BAG_MODES[a.get("mode", _DEFAULT_BAG_MODE[func])]
            base.bags = _bag_csr(base.where, a, base.padding_idx)
        else:
            base.index = _array(a["input"], np.int64)
        self._calls.append(base)

    def _quantized(self, base: _Lookup, func: Callable, a: dict[str, Any]) -> _Lookup:
        """A row-wise quantised bag: `weight` holds FBGEMM's fused rows (codes, then the row's scale and bias)."""
        dtype, tail = _QUANT_FUNCS[func]
        weight = a["weight"]
        if weight.dtype != torch.uint8 or base.dim <= tail:
            raise InputError(f"{base.where}: {dtype} row-wise weights of {weight.dtype} {tuple(weight.shape)}, "
                             f"expected uint8 fused rows of codes and a {tail}-byte scale and bias")
        if a.get("pruned_weights", False) or a.get("compressed_indices_mapping") is not None:
            raise InputError(f"{base.where}: a pruned quantised table (compressed_indices_mapping) cannot be "
                             "captured: its row ids are not the table's")
        base.dtype, base.pooling = dtype, "sum"  # torch's quantised bags always sum: they ignore `mode`
        base.dim = (base.dim - tail) * 8 // QUANT_BITS[dtype]
        base.bags = _bag_csr(base.where, a, None)
        return base

    def _merge(self, name: str, calls: list[_Lookup]) -> _Lookup:
        """The lookups of one call of a recognised compressed module, as the one lookup of its table they are."""
        scheme = self._schemes[name]
        where = f"module {name} (a {scheme.kind} embedding)"
        by_part = sorted(calls, key=lambda c: c.part)
        n = len(scheme.storage.parts)
        if [c.part for c in by_part] != list(range(n)) or any(c.bags is None for c in calls):
            raise InputError(f"{where}: {len(calls)} lookups in one call; expected one embedding bag of each of "
                             f"its {n} tables")
        first = by_part[0]
        for c in by_part[1:]:
            same_weights = (c.bags.weights is None) == (first.bags.weights is None) and (
                c.bags.weights is None or np.array_equal(c.bags.weights, first.bags.weights))
            if not (np.array_equal(c.bags.offsets, first.bags.offsets) and c.pooling == first.pooling
                    and same_weights):
                raise InputError(f"{where}: its lookups of {first.table} and {c.table} pool different bags "
                                 "(offsets, mode or per-sample weights differ); a qr table pools both alike")
        indices = first.bags.indices
        if scheme.kind == "qr":
            indices = indices * scheme.compression["collisions"] + by_part[1].bags.indices
            if indices.size and indices.max() >= scheme.rows:
                raise InputError(f"{where}: quotient and remainder rows make id {int(indices.max())}, beyond its "
                                 f"{scheme.rows} categories (num_categories)")
        self._weights[name] = scheme.storage
        return _Lookup(module=name, table=name, rows=scheme.rows, dim=scheme.dim, dtype=first.dtype,
                       pooling=first.pooling, padding_idx=None, compression=scheme.compression,
                       bags=TableBags(indices=indices, offsets=first.bags.offsets, weights=first.bags.weights))

    def _batch_size(self, calls: list[_Lookup]) -> int:
        sized = [(c.bags.batch_size if c.bags is not None else c.index.shape[0], c) for c in calls
                 if c.bags is not None or c.index.ndim >= 2]
        if not sized:
            sized = [(c.index.size, c) for c in calls]
        b0, c0 = max(sized, key=lambda s: s[0])
        for b, c in sized:
            broadcastable = c.index is not None and (b == 1 or c.index.ndim == 1)
            if b != b0 and not broadcastable:
                raise InputError(f"forward {len(self.batches)}: {c.where} looked up {b} bags, but {c0.where} "
                                 f"{b0}; a trace batch needs one batch size (or an embedding of one row set "
                                 "shared by every sample)")
        return b0

    def _end_forward(self, calls: list[_Lookup], output: Any) -> None:
        B = self._batch_size(calls)
        tables: list[TableBags] = []
        features: list[Feature] = []
        seen: dict[str, int] = {}
        for c in calls:
            broadcast = False
            if c.bags is None:
                idx = c.index
                if idx.ndim >= 1 and idx.shape[0] == B:
                    flat, per = idx.reshape(-1), idx.size // B
                else:  # one row set for the whole batch: every sample uses all of it
                    broadcast, flat, per = True, np.tile(idx.reshape(-1), B), idx.size
                c.bags = TableBags(indices=flat, offsets=np.arange(B + 1, dtype=np.int64) * per, weights=None)
            call = seen.get(c.table, 0)
            seen[c.table] = call + 1
            features.append(Feature(module=c.module, table=c.table, call=call, rows=c.rows, dim=c.dim,
                                    dtype=c.dtype, pooling=c.pooling, padding_idx=c.padding_idx,
                                    weighted=c.bags.weights is not None, broadcast=broadcast,
                                    compression=c.compression))
            tables.append(c.bags)
        self._check_features(features)
        for f, now, t in zip(self.features, features, tables):
            f.broadcast |= now.broadcast
            f.bag_sizes.update(np.unique(np.diff(t.offsets)).tolist())
        dense = self._dense
        if dense is not None and dense.shape[0] != B:
            dense = None
        out = output if isinstance(output, torch.Tensor) else None
        outputs = None
        if out is not None and out.dtype.is_floating_point and out.numel() == B:
            outputs = _array(out, np.float32).reshape(-1)
        self.batches.append(Batch(tables=tuple(tables), dense=dense, outputs=outputs))

    def _check_features(self, features: list[Feature]) -> None:
        def key(f: Feature) -> tuple:
            return (f.module, f.table, f.call, f.pooling, f.padding_idx, f.weighted)
        if self.features is None:
            self.features = features
            return
        if [key(f) for f in features] != [key(f) for f in self.features]:
            for i, (a, b) in enumerate(zip(features, self.features)):
                if key(a) != key(b):
                    raise InputError(f"forward {len(self.batches)}: lookup {i} was module {a.module} (table "
                                     f"{a.table}, {a.pooling}, weighted {a.weighted}), in the first forward module "
                                     f"{b.module} (table {b.table}, {b.pooling}, weighted {b.weighted}); a trace "
                                     "needs the same lookups every forward")
            raise InputError(f"forward {len(self.batches)} made {len(features)} lookups "
                             f"{[f.module for f in features]}, the first forward {len(self.features)} "
                             f"{[f.module for f in self.features]}; a trace needs the same lookups every forward")

    @property
    def table_rows(self) -> list[int]:
        """Rows of the table behind each trace table (feature)."""
        if self.features is None:
            raise InputError("no embedding lookups were captured")
        return [f.rows for f in self.features]

    def model_weights(self, spec: ModelSpec) -> ModelWeights:
        """The captured model's tables (as last looked up) and MLPs, in accelsim's layout, for replay."""
        if self.features is None:
            raise InputError("no embedding lookups were captured")
        parts = find_dense_parts(self.model)
        if not parts.dlrm_like:
            raise InputError(f"{type(self.model).__name__} is not DLRM-like: its weights cannot be replayed by "
                             "accelsim's DLRM forward (capture without weights)")
        order = list(dict.fromkeys(f.table for f in self.features))
        dtypes = {f.table: f.dtype for f in self.features}

        def arr(t: torch.Tensor) -> np.ndarray:
            return np.array(t.detach().cpu().float().numpy(), dtype=np.float32, copy=True, order="C")

        def stored(table: str) -> CompressedWeights:
            s = self._weights[table]
            fused = dtypes[table] in QUANT_BITS  # FBGEMM's fused rows, kept as the bytes they are
            return CompressedWeights(
                parts=tuple(np.array(p.detach().cpu().numpy(), np.uint8, copy=True, order="C") if fused else arr(p)
                            for p in s.parts), dense=tuple(arr(d) for d in s.dense))

        def dense(name: str) -> tuple[DenseLayer, ...]:
            return tuple(DenseLayer(arr(m.weight), arr(m.bias) if m.bias is not None else
                                    np.zeros(m.out_features, np.float32)) for m in linear_layers(self.model, name))
        cross: tuple[CrossLayer, ...] = ()
        if parts.cross is not None:
            w, v, b = cross_kernels(getattr(self.model, parts.cross))
            cross = tuple(CrossLayer(arr(u), arr(vv), arr(bb)) for u, vv, bb in zip(w, v, b))
        return ModelWeights(tables=tuple(stored(t) for t in order),
                            feature_tables=tuple(order.index(f.table) for f in self.features),
                            embedding_dim=spec.embedding_dim, pooling=spec.pooling, interaction=spec.interaction,
                            bottom=dense(parts.bottom), top=dense(parts.top), cross=cross)

    def write(self, path: str | Path, spec: ModelSpec | None = None, seed: int | None = None,
              extra: dict | None = None, weights: ModelWeights | None = None) -> Path:
        """Write the captured batches as a trace, with each feature's module, table and pooling in its meta,
        and `weights` (model_weights) in its `weights/` folder."""
        rows = self.table_rows
        assert self.features is not None
        meta = {"capture_features": [f.as_json() for f in self.features], **(extra or {})}
        with TraceWriter(path, source="pytorch-capture", table_rows=rows, spec=spec, seed=seed, extra=meta) as w:
            for b in self.batches:
                w.write(b)
            if weights is not None:
                save_weights(weights, w.staging / TRACE_WEIGHTS)
        return Path(path)


def run_forwards(model: nn.Module, inputs: Iterable[Any], batches: int | None = None) -> int:
    """Call `model` on each item of `inputs` (a tuple: positional, a dict: keywords, else one argument)."""
    n = 0
    with torch.no_grad():
        for x in inputs:
            if batches is not None and n >= batches:
                break
            if isinstance(x, tuple):
                model(*x)
            elif isinstance(x, dict):
                model(**x)
            else:
                model(x)
            n += 1
    return n


def capture_model(model: nn.Module, inputs: Iterable[Any], out: str | Path, *, name: str,
                  batches: int | None = None, dense: dict[str, Any] | None = None, with_weights: bool = False,
                  seed: int | None = None) -> Path:
    """Capture `model` on `inputs` (per batch: a tuple of arguments, a dict of keywords, or one argument) and
    write the trace with the workload spec built from the model (model_spec.build_spec) and, if asked, its
    weights; the bottom MLP's inputs and the model's outputs are stored per sample when it is DLRM-like.
    The model is put in eval mode (inference: no dropout, batch-norm statistics frozen)."""
    if batches is not None and batches < 1:
        raise InputError(f"batches must be >= 1, got {batches}")
    model.eval()
    with EmbeddingCapture(model, dense_module=find_dense_parts(model).bottom) as cap:
        n = run_forwards(model, inputs, batches)
    if n == 0:
        raise InputError(f"the inputs of {name} gave no batch to run")
    if cap.features is None:
        raise InputError(f"{n} forwards of {type(model).__name__} made no embedding lookup")
    sizes = [b.batch_size for b in cap.batches]
    spec = build_spec(cap.features, model, name=name, source=f"captured from {type(model).__name__}",
                      dense=dense, default_batch_size=max(sizes))
    return cap.write(out, spec=spec, seed=seed, weights=cap.model_weights(spec) if with_weights else None)


def capture_dlrm(spec: ModelSpec, *, batches: int, batch_size: int, seed: int, out: str | Path,
                 memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES) -> Path:
    """Run `batches` forwards of the PyTorch DLRM of `spec` on generate_inputs and write the captured trace."""
    if batches < 1:
        raise InputError(f"batches must be >= 1, got {batches}")
    model = build_torch_dlrm(spec, seed, memory_budget_bytes=memory_budget_bytes)
    with EmbeddingCapture(model, dense_module="bottom") as cap:
        run_forwards(model, ((torch.from_numpy(d), torch_bags(b)) for d, b in
                             (generate_inputs(spec, batch_size, seed, i) for i in range(batches))))
    return cap.write(out, spec=spec, seed=seed)
