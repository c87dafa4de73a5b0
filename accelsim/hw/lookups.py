"""From a batch of bags to per-requester streams of row lookups, and rows to line addresses in memory.

A compressed table is stored as parts (sub-tables); a lookup expands into reads of part rows
(accelsim.kernels.compressed_index), and the timing models walk the reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.config.workload import QUANT_BITS, ModelSpec
from accelsim.hw.cache import row_lines
from accelsim.kernels.compressed_index import expand_rows
from accelsim.workload.trace import Batch

TABLE_ALIGN_BYTES = 1 << 21  # tables start on 2 MiB (huge-page) boundaries, as large allocations do


def _padded(sizes: np.ndarray) -> np.ndarray:
    return (sizes + TABLE_ALIGN_BYTES - 1) // TABLE_ALIGN_BYTES * TABLE_ALIGN_BYTES


@dataclass(frozen=True)
class PartLayout:
    """Where every stored part of every table lives: parts of a table stored once (shared_with) laid out once."""

    bases: np.ndarray         # int64, per part: first byte
    row_bytes: np.ndarray     # int64, per part
    row_elems: np.ndarray     # int64, per part: elements of one part row
    quantized: np.ndarray     # bool, per part: row-wise quantised rows (dequantised in the reduce path)
    first_part: np.ndarray    # int64, per table (feature): global index of its storage table's first part
    end: int                  # first byte after the last part


def part_layout(spec: ModelSpec) -> PartLayout:
    """Parts of the storage tables one after another from address 0, each on a huge-page boundary."""
    sizes, rb, elems, quant, first = [], [], [], [], {}
    for t in spec.table_list:
        if not t.owns_storage:
            continue
        first[t.index] = len(rb)
        for (n, e), b in zip(t.parts, t.part_row_bytes):
            sizes.append(n * b)
            rb.append(b)
            elems.append(e)
            quant.append(t.dtype in QUANT_BITS)
    padded = _padded(np.array(sizes, dtype=np.int64))
    bases = np.concatenate([[0], np.cumsum(padded)[:-1]]).astype(np.int64)
    return PartLayout(bases=bases, row_bytes=np.array(rb, np.int64), row_elems=np.array(elems, np.int64),
                      quantized=np.array(quant, np.bool_),
                      first_part=np.array([first[t.storage] for t in spec.table_list], np.int64),
                      end=int(padded.sum()))


def plain_tables(rows: int, dim: int, tables: int = 1) -> tuple[ModelSpec, PartLayout]:
    """An embedding-only spec of `tables` uncompressed fp32 tables of rows x dim, and its layout: what a bare
    EmbeddingBag stream (a validation case, a mechanism test) gathers from."""
    spec = ModelSpec(name="embedding_bag", source="a bare EmbeddingBag stream", embedding_dim=dim,
                     tables=({"rows": rows, "lookups_per_sample": 1, "count": tables},), bottom_mlp=(dim,),
                     top_mlp=(1,))
    return spec, part_layout(spec)


def table_bases(spec: ModelSpec) -> np.ndarray:
    """Base byte address of each table (its first stored part; a shared table's features share it)."""
    lay = part_layout(spec)
    return lay.bases[lay.first_part]


def scratch_base(spec: ModelSpec) -> int:
    """First byte after the tables: where indices, dense inputs and activations live."""
    return part_layout(spec).end


@dataclass(frozen=True)
class Lookups:
    """Every lookup of a batch in issue order, tagged with the requester (core or gather unit) that does it."""

    table: np.ndarray      # int64
    row: np.ndarray        # int64
    requester: np.ndarray  # int64
    position: np.ndarray   # int64: index of the lookup within its requester's stream
    n_requesters: int

    @property
    def size(self) -> int:
        return int(self.row.size)

    def per_requester(self) -> np.ndarray:
        """Lookups done by each requester."""
        return np.bincount(self.requester, minlength=self.n_requesters)


def split_lookups(batch: Batch, n_requesters: int) -> Lookups:
    """Bags in table-major order, dealt out whole in contiguous runs of near-equal lookups per requester."""
    rows = [t.indices for t in batch.tables]
    lengths = np.concatenate([np.diff(t.offsets) for t in batch.tables]) if rows else np.zeros(0, np.int64)
    table = np.repeat(np.arange(len(rows), dtype=np.int64), [r.size for r in rows])
    row = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    n = row.size
    # A bag goes to the requester owning the lookup at the bag's start, so bags are never split.
    bag_start = np.cumsum(lengths) - lengths
    bag_owner = np.minimum(bag_start * n_requesters // max(n, 1), n_requesters - 1)
    requester = np.repeat(bag_owner, lengths).astype(np.int64)
    starts = np.searchsorted(requester, np.arange(n_requesters), side="left")
    position = np.arange(n, dtype=np.int64) - starts[requester]
    return Lookups(table, row, requester, position, n_requesters)


def lookup_lines(lookups: Lookups, bases: np.ndarray, row_bytes: int | np.ndarray,
                 line_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """(line byte address, lookup index) of every line of every looked-up row, rows in order.

    `row_bytes` is one size, or one per entry of `bases` (the reads of compressed tables, by part).
    """
    rb = row_bytes if np.isscalar(row_bytes) else np.asarray(row_bytes, np.int64)[lookups.table]
    return row_lines(bases[lookups.table] + lookups.row * rb, rb, line_bytes)


@dataclass(frozen=True)
class Reads:
    """The stored-row reads of a stream of lookups: `reads.table` is a global part index (PartLayout)."""

    reads: Lookups
    parent: np.ndarray  # int64, per read: the lookup it belongs to
    elems: np.ndarray   # int64, per read: elements of the part row
    quantized: np.ndarray  # bool, per read
    first: np.ndarray   # bool, per read: the first read of its lookup (where per-lookup compute is charged)


def expand_lookups(lookups: Lookups, spec: ModelSpec, layout: PartLayout, tables: np.ndarray | None = None) -> Reads:
    """Each lookup's reads of part rows, in lookup order; positions re-counted along each requester's reads.

    `tables` maps lookups.table to the spec's table index (default: identity).
    """
    spec_table = lookups.table if tables is None else np.asarray(tables, np.int64)[lookups.table]
    part_parts, sub_parts, own_parts = [], [], []
    for t in np.unique(spec_table):
        sel = np.flatnonzero(spec_table == t)
        part, sub, owner = expand_rows(spec.table_list[int(t)], lookups.row[sel])
        part_parts.append(layout.first_part[int(t)] + part)
        sub_parts.append(sub)
        own_parts.append(sel[owner])
    if part_parts:
        parent = np.concatenate(own_parts)
        order = np.argsort(parent, kind="stable")
        part, sub, parent = np.concatenate(part_parts)[order], np.concatenate(sub_parts)[order], parent[order]
    else:
        part = sub = parent = np.zeros(0, np.int64)
    requester = lookups.requester[parent]
    # a requester's reads in lookup order; lookups dealt round-robin (concurrent tables) are not sorted by it
    order = np.argsort(requester, kind="stable")
    by_req = requester[order]
    starts = np.searchsorted(by_req, np.arange(lookups.n_requesters), side="left")
    position = np.empty(part.size, dtype=np.int64)
    position[order] = np.arange(part.size, dtype=np.int64) - starts[by_req]
    first = np.r_[True, parent[1:] != parent[:-1]] if parent.size else np.zeros(0, np.bool_)
    return Reads(Lookups(part, sub, requester, position, lookups.n_requesters), parent,
                 layout.row_elems[part], layout.quantized[part], first)
