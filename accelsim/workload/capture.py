"""Capture the embedding lookups of any PyTorch model into a trace, through forward pre-hooks.

Every call of an `nn.EmbeddingBag` or `nn.Embedding` during one forward of the captured model becomes one
table of one trace Batch, as CSR bags (indices, offsets of length B+1, optional per-sample weights):
- EmbeddingBag: 2-D input (B, N) is B bags of N; 1-D input with offsets, with or without include_last_offset.
  Entries equal to `padding_idx` are dropped: PyTorch neither reads nor counts them.
- Embedding: 1-D input (N,) is N bags of one row; input (B, ...) is B bags of the trailing elements.
  `padding_idx` rows are kept: an Embedding forward does read them.
Tables are ordered by call within the forward (module order for the usual one call per module); a module
called twice in a forward gives two tables. Every forward must make the same calls. Lookups made outside
a forward of the captured model are not recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.workload.torch_model import DEFAULT_MEMORY_BUDGET_BYTES, build_torch_dlrm, generate_inputs, torch_bags
from accelsim.workload.trace import Batch, TableBags, TraceWriter


def _array(t: torch.Tensor, dtype: type) -> np.ndarray:
    """A private copy: the model may reuse or modify its input tensors after the call."""
    return np.array(t.detach().cpu().numpy(), dtype=dtype, copy=True)


def _call_args(args: tuple, kwargs: dict, names: tuple[str, ...]) -> list[Any]:
    merged = dict(zip(names, args))
    merged.update((k, v) for k, v in kwargs.items() if k in names)
    return [merged.get(n) for n in names]


def bag_bags(module: nn.EmbeddingBag, args: tuple, kwargs: dict) -> TableBags:
    """The bags of one nn.EmbeddingBag call, in CSR form with the last offset."""
    inp, offsets, psw = _call_args(args, kwargs, ("input", "offsets", "per_sample_weights"))
    indices = _array(inp, np.int64)
    weights = None if psw is None else _array(psw, np.float32).reshape(-1)
    if indices.ndim == 2:
        bags, size = indices.shape
        full = np.arange(bags + 1, dtype=np.int64) * size
        indices = indices.reshape(-1)
    elif indices.ndim == 1 and offsets is not None:
        full = _array(offsets, np.int64).reshape(-1)
        if not module.include_last_offset:
            full = np.append(full, np.int64(indices.size))
        # With include_last_offset PyTorch ignores indices past the last offset.
        indices = indices[: full[-1]]
        weights = None if weights is None else weights[: full[-1]]
    else:
        raise InputError(f"EmbeddingBag call with a {indices.ndim}-D input and offsets={offsets is not None}: "
                         "expected a 2-D input, or a 1-D input with offsets")
    if module.padding_idx is not None:
        keep = indices != module.padding_idx
        if not keep.all():
            full = np.concatenate([[0], np.cumsum(keep)])[full]
            indices = indices[keep]
            weights = None if weights is None else weights[keep]
    return TableBags(indices=indices, offsets=full, weights=weights)


def embedding_bags(args: tuple, kwargs: dict) -> TableBags:
    """The rows one nn.Embedding call reads: one bag per leading-dimension element."""
    (inp,) = _call_args(args, kwargs, ("input",))
    indices = _array(inp, np.int64)
    if indices.ndim <= 1:
        indices = indices.reshape(-1)
        return TableBags(indices=indices, offsets=np.arange(indices.size + 1, dtype=np.int64), weights=None)
    bags = indices.shape[0]
    size = indices.size // bags if bags else 0
    return TableBags(indices=indices.reshape(-1), offsets=np.arange(bags + 1, dtype=np.int64) * size,
                     weights=None)


class EmbeddingCapture:
    """Context manager recording the embedding lookups of every forward of `model` as trace Batches."""

    def __init__(self, model: nn.Module):
        self.model = model
        self._lookups = [(name, m) for name, m in model.named_modules()
                         if isinstance(m, (nn.EmbeddingBag, nn.Embedding))]
        if not self._lookups:
            raise InputError(f"{type(model).__name__} has no nn.EmbeddingBag or nn.Embedding module to capture")
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._calls: list[tuple[str, nn.Module, TableBags]] | None = None
        self._slots: list[tuple[str, int]] | None = None
        self._rows: list[int] = []
        self.batches: list[Batch] = []

    def __enter__(self) -> "EmbeddingCapture":
        self._handles.append(self.model.register_forward_pre_hook(self._begin))
        for name, m in self._lookups:
            self._handles.append(m.register_forward_pre_hook(self._recorder(name), with_kwargs=True))
        self._handles.append(self.model.register_forward_hook(self._end))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._calls = None

    def _begin(self, module: nn.Module, args: tuple) -> None:
        self._calls = []

    def _recorder(self, name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            if self._calls is None:
                return
            if isinstance(module, nn.EmbeddingBag):
                self._calls.append((name, module, bag_bags(module, args, kwargs)))
            else:
                self._calls.append((name, module, embedding_bags(args, kwargs)))
        return hook

    def _end(self, module: nn.Module, args: tuple, output: Any) -> None:
        calls, self._calls = self._calls, None
        if not calls:
            return
        slots: list[tuple[str, int]] = []
        for name, _, _ in calls:
            slots.append((name, sum(1 for s in slots if s[0] == name)))
        if self._slots is None:
            self._slots = slots
            self._rows = [m.num_embeddings for _, m, _ in calls]
        elif slots != self._slots:
            raise InputError(f"forward {len(self.batches)} looked up {[n for n, _ in slots]}, the first forward "
                             f"looked up {[n for n, _ in self._slots]}; a trace needs the same tables every batch")
        self.batches.append(Batch(tables=tuple(b for _, _, b in calls)))

    @property
    def table_rows(self) -> list[int]:
        """num_embeddings of the module behind each trace table."""
        if self._slots is None:
            raise InputError("no embedding lookups were captured")
        return list(self._rows)

    def write(self, path: str | Path, spec: ModelSpec | None = None, seed: int | None = None) -> Path:
        """Write the captured batches as a trace; table_rows are the modules' num_embeddings."""
        rows = self.table_rows
        extra = {"capture_tables": [{"module": n, "call": k} for n, k in self._slots]}
        with TraceWriter(path, source="pytorch-capture", table_rows=rows, spec=spec, seed=seed, extra=extra) as w:
            for b in self.batches:
                w.write(b)
        return Path(path)


def capture_dlrm(spec: ModelSpec, *, batches: int, batch_size: int, seed: int, out: str | Path,
                 memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES) -> Path:
    """Run `batches` forwards of the PyTorch DLRM of `spec` on generate_inputs and write the captured trace."""
    if batches < 1:
        raise InputError(f"batches must be >= 1, got {batches}")
    model = build_torch_dlrm(spec, seed, memory_budget_bytes=memory_budget_bytes)
    with EmbeddingCapture(model) as cap, torch.no_grad():
        for i in range(batches):
            dense, batch = generate_inputs(spec, batch_size, seed, i)
            model(torch.from_numpy(dense), torch_bags(batch))
    return cap.write(out, spec=spec, seed=seed)
