"""fp32 reference kernels of a DLRM-family forward: embedding bags, MLPs, interactions, the DCNv2 cross net.

Semantics follow PyTorch (`torch.nn.functional.embedding_bag`, `nn.Linear`) and facebookresearch/dlrm
(`interact_features`); tests check each kernel against them. Dense products use numpy's BLAS matmul: numba's
`np.dot` needs SciPy's BLAS bindings, which are not a dependency, and a hand loop would be far slower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol, Sequence

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from accelsim.errors import InputError

if TYPE_CHECKING:  # only for hints: the trace module owns Batch
    from accelsim.workload.trace import Batch

_MODES = {"sum": 0, "mean": 1, "max": 2}
_MEAN, _MAX = 1, 2


class DenseLayer(NamedTuple):
    """One Linear: `weight` (out, in) as in torch, `bias` (out,)."""

    weight: np.ndarray
    bias: np.ndarray


class CrossLayer(NamedTuple):
    """One low-rank DCNv2 cross layer, W = u @ v: `u` (n, rank), `v` (rank, n), `bias` (n,)."""

    u: np.ndarray
    v: np.ndarray
    bias: np.ndarray


# ---------------------------------------------------------------------------------------------------------
# Embedding bags
# ---------------------------------------------------------------------------------------------------------

# Rows are prefetched this many lookups ahead: a gather is bound by DRAM latency, and the hardware prefetchers
# cannot guess random row ids. 8-16 measured best on the benchmark machine (benchmarks/bench_kernels.py).
_PREFETCH_LOOKUPS_AHEAD = 16
_LINE_BYTES = 64  # cache line of x86-64 and Arm Neoverse cores
# Bags of up to this many floats per row (16 AVX-512 or 32 AVX2 registers' worth) sum into a stack accumulator
# of compile-time width, which the compiler keeps in registers; wider rows take the generic loop.
_MAX_REGISTER_FLOATS = 128
_REGISTER_WIDTH_MULTIPLE = 8  # compiled once per width: common dims (16, 32, 64, 128) only


@intrinsic
def _prefetch_row(typingctx, weight, indices, k):
    """Software prefetch of every cache line of row indices[k] of `weight`, if k is within `indices`.

    An intrinsic, so it is emitted inline: a call to a separate jitted helper per row costs more than it saves.
    """
    def codegen(context, builder, sig, args):
        wty, ity = sig.args[0], sig.args[1]
        w = context.make_array(wty)(context, builder, args[0])
        idx = context.make_array(ity)(context, builder, args[1])
        k = args[2]
        n = cgutils.unpack_tuple(builder, idx.shape)[0]
        with builder.if_then(builder.icmp_signed("<", k, n), likely=True):
            iptr = cgutils.get_item_pointer2(context, builder, data=idx.data, shape=[n],
                                             strides=cgutils.unpack_tuple(builder, idx.strides),
                                             layout=ity.layout, inds=[k])
            zero = context.get_constant(types.intp, 0)
            first = cgutils.get_item_pointer2(context, builder, data=w.data,
                                              shape=cgutils.unpack_tuple(builder, w.shape),
                                              strides=cgutils.unpack_tuple(builder, w.strides),
                                              layout=wty.layout, inds=[builder.load(iptr), zero])
            i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            base = builder.bitcast(first, i8p)
            item_bytes = context.get_abi_sizeof(context.get_data_type(wty.dtype))
            row_bytes = builder.mul(cgutils.unpack_tuple(builder, w.shape)[1],
                                    context.get_constant(types.intp, item_bytes))
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0")
            with cgutils.for_range_slice(builder, zero, row_bytes, context.get_constant(types.intp, _LINE_BYTES),
                                         intp=context.get_value_type(types.intp)) as (offset, _):
                # read access, high temporal locality (keep in all cache levels), data cache
                builder.call(fn, [builder.gep(base, [offset]), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.void(weight, indices, k), codegen


@intrinsic
def _stack_floats(typingctx, width):
    """A float32 array on the stack, as long as the tuple `width` (its length is known at compile time)."""
    if not isinstance(width, types.UniTuple):
        return None
    size = width.count
    arrty = types.Array(types.float32, 1, "C")

    def codegen(context, builder, sig, args):
        def intp(v):
            return context.get_constant(types.intp, v)
        ptr = cgutils.alloca_once(builder, context.get_data_type(types.float32), size=intp(size))
        ary = context.make_array(arrty)(context, builder)
        context.populate_array(ary, data=ptr, shape=[intp(size)], strides=[intp(4)], itemsize=intp(4),
                               meminfo=None)
        return ary._getvalue()
    return arrty(width), codegen


@njit(cache=True, nogil=True)
def _sum_bags_in_registers(weight, indices, offsets, psw, mean, out, width):
    """Sum / mean bags whose row width len(width) is a compile-time constant; rows added in bag order.

    Returns the position of the first out-of-range index, or -1.
    """
    dim = len(width)
    rows = weight.shape[0]
    for b in range(out.shape[0]):
        acc = _stack_floats(width)
        for j in range(dim):
            acc[j] = 0.0
        start, end = offsets[b], offsets[b + 1]
        for k in range(start, end):
            _prefetch_row(weight, indices, k + _PREFETCH_LOOKUPS_AHEAD)
            if not 0 <= indices[k] < rows:
                return k
            row = weight[indices[k]]
            if psw is None:  # resolved at compile time: numba prunes the branch for a None-typed argument
                for j in range(dim):
                    acc[j] += row[j]
            else:
                s = psw[k]
                for j in range(dim):
                    acc[j] += s * row[j]
        if mean and end > start:
            n = np.float32(end - start)
            for j in range(dim):
                acc[j] = acc[j] / n
        for j in range(dim):
            out[b, j] = acc[j]
    return -1


@njit(cache=True, nogil=True)
def _pool_bags(weight, indices, offsets, psw, mode, out):
    """Any row width, any mode: accumulates in the output row. Returns the first bad index position, or -1."""
    dim = out.shape[1]
    rows = weight.shape[0]
    for b in range(out.shape[0]):
        o = out[b]
        for j in range(dim):
            o[j] = 0.0
        start, end = offsets[b], offsets[b + 1]
        for k in range(start, end):
            _prefetch_row(weight, indices, k + _PREFETCH_LOOKUPS_AHEAD)
            if not 0 <= indices[k] < rows:
                return k
            row = weight[indices[k]]
            if mode == _MAX:
                for j in range(dim):
                    if k == start or row[j] > o[j]:
                        o[j] = row[j]
            elif psw is None:
                for j in range(dim):
                    o[j] += row[j]
            else:
                s = psw[k]
                for j in range(dim):
                    o[j] += s * row[j]
        if mode == _MEAN and end > start:
            n = np.float32(end - start)
            for j in range(dim):
                o[j] = o[j] / n
    return -1


@njit(parallel=True, cache=True, nogil=True)
def _pool_runs_parallel(weight, indices, offsets, psw, mode, out, width, edges):
    """Runs of bags [edges[c], edges[c+1]) pooled on numba's worker threads; first bad position per run."""
    bad = np.full(edges.size - 1, -1, dtype=np.int64)
    for c in prange(edges.size - 1):
        lo, hi = edges[c], edges[c + 1]
        if len(width) > 0 and mode != _MAX:
            bad[c] = _sum_bags_in_registers(weight, indices, offsets[lo:hi + 1], psw, mode == _MEAN, out[lo:hi],
                                            width)
        else:
            bad[c] = _pool_bags(weight, indices, offsets[lo:hi + 1], psw, mode, out[lo:hi])
    return bad


def _bags_csr(indices: np.ndarray, offsets: np.ndarray | None, include_last_offset: bool,
              per_sample_weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Normalise torch's three input forms to (indices, offsets of length B+1, weights)."""
    if indices.ndim == 2:
        if offsets is not None:
            raise InputError("embedding_bag: offsets must be None when indices is 2-D (fixed-size bags)")
        bags, size = indices.shape
        full = np.arange(bags + 1, dtype=np.int64) * size
        psw = None if per_sample_weights is None else np.asarray(per_sample_weights).reshape(-1)
        return indices.reshape(-1), full, psw
    if indices.ndim != 1:
        raise InputError(f"embedding_bag: indices must be 1-D or 2-D, got {indices.ndim}-D")
    if offsets is None:
        raise InputError("embedding_bag: offsets are required with 1-D indices")
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
    if include_last_offset:
        if offsets.size == 0:
            raise InputError("embedding_bag: include_last_offset needs at least one offset")
        full = offsets
    else:
        full = np.append(offsets, np.int64(indices.size))
    return indices, full, per_sample_weights


def embedding_bag(weight: np.ndarray, indices: np.ndarray, offsets: np.ndarray | None = None,
                  mode: str = "sum", per_sample_weights: np.ndarray | None = None,
                  include_last_offset: bool = False, *, threads: int = 1) -> np.ndarray:
    """Pooled rows of `weight` per bag, (B, dim) fp32, with torch.nn.functional.embedding_bag semantics.

    `threads` > 1 splits the bags into that many runs of about equal lookups, pooled on numba's threads.
    """
    if mode not in _MODES:
        raise InputError(f"embedding_bag: mode must be one of sum, mean, max, got {mode!r}")
    weight = np.ascontiguousarray(weight, dtype=np.float32)
    if weight.ndim != 2:
        raise InputError(f"embedding_bag: weight must be 2-D (rows, dim), got shape {weight.shape}")
    idx, full, psw = _bags_csr(np.asarray(indices), offsets, include_last_offset, per_sample_weights)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if full.size and full[0] != 0:
        raise InputError(f"embedding_bag: offsets[0] must be 0, got {full[0]}")
    if full.size > 1 and np.any(full[1:] < full[:-1]):
        raise InputError("embedding_bag: offsets must be non-decreasing")
    if full.size and full[-1] > idx.size:
        raise InputError(f"embedding_bag: last offset {full[-1]} exceeds the {idx.size} indices")
    if psw is not None:
        if mode != "sum":
            raise InputError(f"embedding_bag: per_sample_weights are only supported with mode='sum', got {mode!r}")
        psw = np.ascontiguousarray(psw, dtype=np.float32).reshape(-1)
        if psw.size != idx.size:
            raise InputError(f"embedding_bag: {psw.size} per_sample_weights for {idx.size} indices")
    out = np.empty((max(full.size - 1, 0), weight.shape[1]), dtype=np.float32)
    dim = weight.shape[1]
    # A compile-time row width lets the sum live in registers; other widths and max take the generic loop.
    in_registers = mode != "max" and 0 < dim <= _MAX_REGISTER_FLOATS and dim % _REGISTER_WIDTH_MULTIPLE == 0
    if threads > 1 and out.shape[0] > 1:
        # Runs of bags cut where the lookups are split evenly, one per thread.
        cuts = np.searchsorted(full, np.linspace(0, full[-1], threads + 1)[1:-1])
        edges = np.unique(np.concatenate([[0, out.shape[0]], np.minimum(cuts, out.shape[0])])).astype(np.int64)
        width = (0,) * dim if in_registers else ()
        runs_bad = _pool_runs_parallel(weight, idx, full, psw, _MODES[mode], out, width, edges)
        bad = min((int(r) for r in runs_bad if r >= 0), default=-1)
    elif in_registers:
        bad = _sum_bags_in_registers(weight, idx, full, psw, mode == "mean", out, (0,) * dim)
    else:
        bad = _pool_bags(weight, idx, full, psw, _MODES[mode], out)
    if bad >= 0:  # checked in the kernels: a separate pass over the indices costs ~4% of a gather
        raise InputError(f"embedding_bag: index {idx[bad]} at position {bad} out of range [0, {weight.shape[0]})")
    return out


# ---------------------------------------------------------------------------------------------------------
# Dense layers and interactions
# ---------------------------------------------------------------------------------------------------------

@njit(cache=True)
def _sigmoid_inplace(x):
    flat = x.reshape(-1)
    for i in range(flat.shape[0]):
        v = flat[i]
        # exp of a non-positive argument only, so large |v| never overflows
        if v >= 0:
            flat[i] = np.float32(1.0) / (np.float32(1.0) + np.exp(-v))
        else:
            e = np.exp(v)
            flat[i] = e / (np.float32(1.0) + e)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, fp32, overflow-free for any input."""
    out = np.array(x, dtype=np.float32, order="C", copy=True)
    _sigmoid_inplace(out)
    return out


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray, relu: bool) -> np.ndarray:
    """x @ w.T + b (torch nn.Linear layout), optionally followed by ReLU."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != w.shape[1]:
        raise InputError(f"linear: input of shape {x.shape} does not match weight of shape {w.shape}")
    y = x @ np.asarray(w, dtype=np.float32).T
    y += np.asarray(b, dtype=np.float32)
    if relu:
        np.maximum(y, 0.0, out=y)
    return y


def mlp(x: np.ndarray, layers: Sequence[DenseLayer], sigmoid_last: bool) -> np.ndarray:
    """Linear+ReLU layers; the last is Linear+Sigmoid when `sigmoid_last` (DLRM's top MLP)."""
    y = np.asarray(x, dtype=np.float32)
    for i, (w, b) in enumerate(layers):
        last = i == len(layers) - 1
        y = linear(y, w, b, relu=not (last and sigmoid_last))
    if sigmoid_last and layers:
        y = sigmoid(y)
    return y


@njit(cache=True)
def _dot_tril(bottom_out, pooled, out):
    tables, batch, dim = pooled.shape
    for b in range(batch):
        p = 0
        for i in range(1, tables + 1):
            fi = pooled[i - 1, b]
            for j in range(i):
                fj = bottom_out[b] if j == 0 else pooled[j - 1, b]
                s = np.float32(0.0)
                for k in range(dim):
                    s += fi[k] * fj[k]
                out[b, dim + p] = s
                p += 1
        for k in range(dim):
            out[b, k] = bottom_out[b, k]


def _check_features(bottom_out: np.ndarray, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bottom_out = np.ascontiguousarray(bottom_out, dtype=np.float32)
    pooled = np.ascontiguousarray(pooled, dtype=np.float32)
    if bottom_out.ndim != 2 or pooled.ndim != 3 or pooled.shape[1] != bottom_out.shape[0]:
        raise InputError(f"interaction: bottom output {bottom_out.shape} and pooled (T, B, d) {pooled.shape} "
                         "disagree on the batch size")
    return bottom_out, pooled


def interact_dot(bottom_out: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """[bottom_out, strict lower triangle of T T^T] with T = (bottom_out, pooled...), in dlrm's row order."""
    bottom_out, pooled = _check_features(bottom_out, pooled)
    tables, batch, dim = pooled.shape
    if bottom_out.shape[1] != dim:
        raise InputError(f"interact_dot: bottom output width {bottom_out.shape[1]} must equal embedding dim {dim}")
    f = tables + 1
    out = np.empty((batch, dim + f * (f - 1) // 2), dtype=np.float32)
    _dot_tril(bottom_out, pooled, out)
    return out


def interact_cat(bottom_out: np.ndarray, pooled: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """[bottom_out, pooled[0], ..., pooled[T-1]] per sample; `pooled` is (T, B, d), or T arrays (B, d_t) of
    mixed widths."""
    if not isinstance(pooled, np.ndarray):
        for t, p in enumerate(pooled):
            if np.ndim(p) != 2 or np.shape(p)[0] != np.shape(bottom_out)[0]:
                raise InputError(f"interaction: pooled table {t} of shape {np.shape(p)} does not fit a batch of "
                                 f"{np.shape(bottom_out)[0]}")
        return np.concatenate([np.asarray(bottom_out, np.float32), *(np.asarray(p, np.float32) for p in pooled)],
                              axis=1)
    bottom_out, pooled = _check_features(bottom_out, pooled)
    tables, batch, dim = pooled.shape
    return np.concatenate([bottom_out, pooled.transpose(1, 0, 2).reshape(batch, tables * dim)], axis=1)


def dcnv2_cross(x0: np.ndarray, layers: Sequence[CrossLayer]) -> np.ndarray:
    """Low-rank DCNv2 cross net (torchrec LowRankCrossNet): x_{l+1} = x0 * (U (V x_l) + b_l) + x_l."""
    x0 = np.asarray(x0, dtype=np.float32)
    x = x0
    for u, v, bias in layers:
        if v.shape[1] != x0.shape[1] or u.shape[0] != x0.shape[1]:
            raise InputError(f"dcnv2_cross: layer of shapes u{u.shape} v{v.shape} does not fit width {x0.shape[1]}")
        x = x0 * ((x @ v.T) @ u.T + bias) + x
    return x


# ---------------------------------------------------------------------------------------------------------
# Whole-model forward
# ---------------------------------------------------------------------------------------------------------

class DlrmParameters(Protocol):
    """What dlrm_forward needs of a parameter set (accelsim.workload.weights.DlrmParams provides it)."""

    table_rows: tuple[int, ...]
    embedding_dim: int
    pooling: str
    interaction: str
    bottom: tuple[DenseLayer, ...]
    top: tuple[DenseLayer, ...]
    cross: tuple[CrossLayer, ...]

    def table_rows_values(self, table: int, row_ids: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class DlrmOutputs:
    """Every intermediate a datapath is checked against: pooled (T, B, d) (a tuple of (B, d_t) when the
    tables' dims differ), bottom_out, top_in, ctr (B,)."""

    pooled: np.ndarray | tuple[np.ndarray, ...]
    bottom_out: np.ndarray
    top_in: np.ndarray
    ctr: np.ndarray


def pool_tables(params: DlrmParameters, batch: "Batch", poolings: Sequence[str] | None = None) -> np.ndarray:
    """Pooled embeddings (T, B, d), generating only the rows the batch touches (a compact gather).

    `poolings` gives each table its own mode (default: params.pooling for all).
    """
    if len(batch.tables) != len(params.table_rows):
        raise InputError(f"batch has {len(batch.tables)} tables, the model has {len(params.table_rows)}")
    bags0 = batch.tables[0]
    pooled = np.empty((len(params.table_rows), bags0.offsets.size - 1, params.embedding_dim), dtype=np.float32)
    for t, bags in enumerate(batch.tables):
        if bags.offsets.size - 1 != pooled.shape[1]:
            raise InputError(f"table {t}: {bags.offsets.size - 1} bags, table 0 has {pooled.shape[1]}")
        unique, compact = np.unique(bags.indices, return_inverse=True)
        if unique.size and (unique[0] < 0 or unique[-1] >= params.table_rows[t]):
            bad = unique[0] if unique[0] < 0 else unique[-1]
            raise InputError(f"table {t}: index {bad} out of range [0, {params.table_rows[t]})")
        rows = params.table_rows_values(t, unique)
        mode = params.pooling if poolings is None else poolings[t]
        pooled[t] = embedding_bag(rows, compact.reshape(-1), bags.offsets, mode, bags.weights,
                                  include_last_offset=True)
    return pooled


def dlrm_forward(params: DlrmParameters, dense: np.ndarray, batch: "Batch",
                 poolings: Sequence[str] | None = None) -> DlrmOutputs:
    """Reference DLRM / DCNv2 forward of one batch: bottom MLP, pooled tables, interaction, top MLP."""
    return dense_forward(params, dense, pool_tables(params, batch, poolings))


def dense_forward(params: DlrmParameters, dense: np.ndarray,
                  pooled: np.ndarray | tuple[np.ndarray, ...]) -> DlrmOutputs:
    """The rest of the forward from the pooled tables ((T, B, d), or T arrays (B, d_t) for a cat or DCNv2
    interaction of mixed dims): bottom MLP, interaction, top MLP."""
    dense = np.ascontiguousarray(dense, dtype=np.float32)
    batch = pooled.shape[1] if isinstance(pooled, np.ndarray) else pooled[0].shape[0]
    if dense.ndim != 2 or dense.shape[0] != batch:
        raise InputError(f"dense features of shape {dense.shape} do not match a batch of {batch}")
    bottom_out = mlp(dense, params.bottom, sigmoid_last=False)
    if params.interaction == "dot":
        top_in = interact_dot(bottom_out, pooled)
    elif params.interaction == "cat":
        top_in = interact_cat(bottom_out, pooled)
    else:
        top_in = dcnv2_cross(interact_cat(bottom_out, pooled), params.cross)
    ctr = mlp(top_in, params.top, sigmoid_last=True)[:, 0]
    return DlrmOutputs(pooled=pooled, bottom_out=bottom_out, top_in=top_in, ctr=ctr)
