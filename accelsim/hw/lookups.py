"""From a batch of bags to per-requester streams of row lookups, and rows to line addresses in memory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.config.workload import ModelSpec
from accelsim.hw.cache import row_lines
from accelsim.workload.trace import Batch

TABLE_ALIGN_BYTES = 1 << 21  # tables start on 2 MiB (huge-page) boundaries, as large allocations do


def _padded_sizes(spec: ModelSpec) -> np.ndarray:
    sizes = np.array([t.size_bytes for t in spec.table_list], dtype=np.int64)
    return (sizes + TABLE_ALIGN_BYTES - 1) // TABLE_ALIGN_BYTES * TABLE_ALIGN_BYTES


def table_bases(spec: ModelSpec) -> np.ndarray:
    """Base byte address of each table, laid out one after another in physical memory."""
    return np.concatenate([[0], np.cumsum(_padded_sizes(spec))[:-1]]).astype(np.int64)


def scratch_base(spec: ModelSpec) -> int:
    """First byte after the tables: where indices, dense inputs and activations live."""
    return int(_padded_sizes(spec).sum())


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


def lookup_lines(lookups: Lookups, bases: np.ndarray, row_bytes: int, line_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """(line byte address, lookup index) of every line of every looked-up row, rows in order."""
    return row_lines(bases[lookups.table] + lookups.row * row_bytes, row_bytes, line_bytes)
