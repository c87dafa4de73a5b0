"""Functional kernels of compressed and quantised embedding bags (md, qr, hash, tt, low rank; int8 / int4 rows).

Semantics: QR as facebookresearch/dlrm's QREmbeddingBag (pool the quotient and the remainder rows, then combine
the two pooled vectors), md as its PrEmbeddingBag (pool the stored rows, then project; one projection per row
block), multi-hash and low rank rebuild each looked-up row before pooling, tensor trains contract each row's
core slices left to right (TT-Rec). Row-wise quantised rows are FBGEMM's fused layout (codes, then scale and
bias) and are dequantised as they are read (numba), as torch.ops.quantized.embedding_bag_byte_rowwise_offsets
does. Tests check every scheme against a PyTorch implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from accelsim.config.workload import QUANT_BITS, Table
from accelsim.errors import InputError
from accelsim.kernels.compressed_index import expand_rows, md_blocks
from accelsim.kernels.reference import embedding_bag


@dataclass(frozen=True)
class CompressedWeights:
    """A table's stored parts (fp32 (rows, elems), or fused uint8 rows when quantised) and dense factors.

    `dense` holds the md projections (one (dims[b], dim) per block, applied as x @ P) or the low-rank V (rank, dim).
    """

    parts: tuple[np.ndarray, ...]
    dense: tuple[np.ndarray, ...] = ()


def round_to_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    """fp32 values rounded to nearest even in a half-precision dtype (fp16, bf16); others unchanged."""
    if dtype == "fp16":
        return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)
    if dtype == "bf16":
        u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
        return ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
    return a


def quantize_rowwise(w: np.ndarray, dtype: str) -> np.ndarray:
    """FBGEMM's fused row-wise quantisation of fp32 rows: min/max range, codes, then scale and bias."""
    w = np.asarray(w, dtype=np.float32)
    bits = QUANT_BITS[dtype]
    lo, hi = w.min(axis=1, initial=np.inf), w.max(axis=1, initial=-np.inf)
    levels = (1 << bits) - 1
    if dtype == "int4":  # FBGEMM keeps the 4-bit scale and bias in fp16
        lo = lo.astype(np.float16).astype(np.float32)
    scale = (hi - lo) / levels
    scale = np.where(scale == 0, 1.0, scale).astype(np.float16 if dtype == "int4" else np.float32)
    codes = np.clip(np.rint((w - lo[:, None]) / scale.astype(np.float32)[:, None]), 0, levels).astype(np.uint8)
    if dtype == "int4":
        padded = np.zeros((w.shape[0], (w.shape[1] + 1) // 2 * 2), np.uint8)
        padded[:, :w.shape[1]] = codes
        codes = padded[:, 0::2] | (padded[:, 1::2] << 4)
        tail = np.stack([scale, lo.astype(np.float16)], axis=1).view(np.uint8).reshape(w.shape[0], 4)
    else:
        tail = np.stack([scale, lo], axis=1).astype(np.float32).view(np.uint8).reshape(w.shape[0], 8)
    return np.ascontiguousarray(np.concatenate([codes, tail], axis=1))


@njit(cache=True)
def _dequant(fused, idx, elems, bits, scale, bias, out):
    """out[i] = code * scale + bias of row idx[i]; 4-bit codes two per byte, the even element in the low nibble."""
    per_byte = 8 // bits
    mask = np.uint8((1 << bits) - 1)
    for i in range(idx.shape[0]):
        r = idx[i]
        row = fused[r]
        for j in range(elems):
            code = (row[j // per_byte] >> np.uint8(bits * (j % per_byte))) & mask
            out[i, j] = np.float32(code) * scale[r] + bias[r]


def _scale_bias(fused: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-row fp32 scale and bias from the tail of fused rows (fp32 for 8-bit rows, fp16 for 4-bit)."""
    width = 4 if dtype == "int8" else 2
    kind = np.float32 if dtype == "int8" else np.float16
    tail = np.ascontiguousarray(fused[:, fused.shape[1] - 2 * width:])
    sb = tail.view(kind).astype(np.float32)
    return np.ascontiguousarray(sb[:, 0]), np.ascontiguousarray(sb[:, 1])


def part_rows(part: np.ndarray, dtype: str, elems: int, idx: np.ndarray) -> np.ndarray:
    """fp32 values (len(idx), elems) of rows `idx` of one stored part, dequantised if row-wise quantised."""
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= part.shape[0]):
        raise InputError(f"part row {int(idx.max()) if idx.max() >= part.shape[0] else int(idx.min())} out of "
                         f"range [0, {part.shape[0]})")
    if dtype not in QUANT_BITS:
        return np.ascontiguousarray(part[idx], dtype=np.float32)
    out = np.empty((idx.size, elems), np.float32)
    scale, bias = _scale_bias(part, dtype)
    _dequant(np.ascontiguousarray(part, np.uint8), idx, elems, QUANT_BITS[dtype], scale, bias, out)
    return out


def _pool(rows: np.ndarray, offsets: np.ndarray, mode: str, psw) -> np.ndarray:
    return embedding_bag(rows, np.arange(rows.shape[0]), offsets, mode, psw, include_last_offset=True)


def _rebuilt_rows(table: Table, w: CompressedWeights, indices: np.ndarray) -> np.ndarray:
    """Every looked-up row rebuilt at the table's dim (schemes whose rows combine before pooling)."""
    c = table.compression
    part, sub, _ = expand_rows(table, indices)
    elems = [e for _, e in table.parts]
    if c is None:
        return part_rows(w.parts[0], table.dtype, elems[0], sub)
    if c.scheme == "lowrank":
        return part_rows(w.parts[0], table.dtype, c.rank, sub) @ w.dense[0]
    if c.scheme == "hash":
        rows = part_rows(w.parts[0], table.dtype, elems[0], sub).reshape(indices.size, c.hashes, elems[0])
        return rows.sum(axis=1) if c.combine == "sum" else rows.reshape(indices.size, table.dim)
    # tensor train: running product (L, D_{<k}, r_{k-1}) times core slices (L, r_{k-1}, d_k r_k)
    r = (1, *c.ranks, 1)
    k_parts = len(c.row_factors)
    acc, width = np.ones((indices.size, 1, 1), np.float32), 1
    for k in range(k_parts):
        s = part_rows(w.parts[k], table.dtype, elems[k], sub[k::k_parts])
        acc = np.matmul(acc, s.reshape(indices.size, r[k], c.dim_factors[k] * r[k + 1]))
        width *= c.dim_factors[k]
        acc = acc.reshape(indices.size, width, r[k + 1])
    return acc.reshape(indices.size, table.dim)


def compressed_bag(table: Table, w: CompressedWeights, indices: np.ndarray, offsets: np.ndarray,
                   per_sample_weights: np.ndarray | None = None) -> np.ndarray:
    """Pooled vectors (B, table.dim) of bags `offsets` (length B + 1) over `indices`, with the table's pooling."""
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= table.rows):
        raise InputError(f"table {table.name}: index out of range [0, {table.rows})")
    c, mode = table.compression, table.pooling
    if c is None and table.dtype not in QUANT_BITS:  # a plain table: pool its rows where they are
        # torch pools half-precision rows in fp32 and returns the rows' type
        return round_to_dtype(embedding_bag(w.parts[0], indices, offsets, mode, per_sample_weights,
                                            include_last_offset=True), table.dtype)
    if c is None or c.scheme in ("lowrank", "hash", "tt"):
        return _pool(_rebuilt_rows(table, w, indices), offsets, mode, per_sample_weights)
    elems = [e for _, e in table.parts]
    if c.scheme == "qr":
        q = _pool(part_rows(w.parts[0], table.dtype, elems[0], indices // c.collisions), offsets, mode,
                  per_sample_weights)
        r = _pool(part_rows(w.parts[1], table.dtype, elems[1], indices % c.collisions), offsets, mode,
                  per_sample_weights)
        if c.operation == "concat":
            return np.concatenate([q, r], axis=1)
        return q * r if c.operation == "mult" else q + r
    # md: pool each block's stored rows (mean divides by the whole bag), project, and sum the blocks
    edges = md_blocks(table)
    block = np.searchsorted(edges, indices, side="right") - 1
    bag_of = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    out = np.zeros((offsets.size - 1, table.dim), np.float32)
    for b, proj in enumerate(w.dense):
        sel = np.flatnonzero(block == b)
        sub_off = np.concatenate([[0], np.cumsum(np.bincount(bag_of[sel], minlength=offsets.size - 1))])
        psw = None if per_sample_weights is None else np.asarray(per_sample_weights, np.float32)[sel]
        pooled = _pool(part_rows(w.parts[b], table.dtype, elems[b], indices[sel] - edges[b]), sub_off,
                       "sum" if mode == "mean" else mode, psw)
        if mode == "mean":
            pooled = pooled / np.maximum(np.diff(offsets), 1)[:, None].astype(np.float32)
        out += pooled @ proj
    return out
