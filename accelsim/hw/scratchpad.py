"""A software-managed scratchpad that pins chosen embedding rows on chip; look-ups of pinned rows hit."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from accelsim.errors import InputError
from accelsim.hw.cache import as_index_array


def _per_table(row_bytes: int | Sequence[int], n_tables: int) -> np.ndarray:
    sizes = np.full(n_tables, row_bytes, dtype=np.int64) if np.isscalar(row_bytes) \
        else np.asarray(row_bytes, dtype=np.int64)
    if sizes.shape != (n_tables,) or (sizes <= 0).any():
        raise InputError(f"row_bytes: expected one positive size per table ({n_tables}), got {row_bytes!r}")
    return sizes


class Scratchpad:
    """Pinned rows per table within `capacity_bytes`; counts look-ups and hits per table."""

    def __init__(self, capacity_bytes: int, row_bytes: int | Sequence[int], pinned_rows: Sequence[np.ndarray]):
        if capacity_bytes < 0:
            raise InputError(f"scratchpad capacity_bytes: expected >= 0, got {capacity_bytes}")
        self.capacity_bytes = int(capacity_bytes)
        self.row_bytes = _per_table(row_bytes, len(pinned_rows))
        self._pinned = tuple(np.unique(as_index_array(r, f"pinned_rows[{t}]")) for t, r in enumerate(pinned_rows))
        self.used_bytes = int(sum(r.size * b for r, b in zip(self._pinned, self.row_bytes)))
        if self.used_bytes > self.capacity_bytes:
            raise InputError(f"scratchpad: pinned rows need {self.used_bytes} B, capacity is {self.capacity_bytes} B")
        self.lookups = np.zeros(len(self._pinned), dtype=np.int64)
        self.hits = np.zeros(len(self._pinned), dtype=np.int64)

    @classmethod
    def from_hot_rows(cls, capacity_bytes: int, row_bytes: int | Sequence[int], *,
                      index_streams: Sequence[np.ndarray] | None = None,
                      counts: Sequence[np.ndarray] | None = None) -> "Scratchpad":
        """Pin the rows with the most look-ups per byte in a profile (index streams or per-row counts).

        Rows are ranked over all tables by count / row_bytes, ties broken by table then row id, and pinned in
        that order until the next one does not fit; rows never looked up are never pinned.
        """
        if (index_streams is None) == (counts is None):
            raise InputError("scratchpad profile: give exactly one of index_streams or counts")
        # (row, count) of every row looked up at least once: O(lookups), never O(table rows) for a stream.
        if counts is None:
            used = [np.unique(as_index_array(s, f"index_streams[{t}]"), return_counts=True)
                    for t, s in enumerate(index_streams)]
        else:
            dense = [as_index_array(c, f"counts[{t}]") for t, c in enumerate(counts)]
            used = [(np.flatnonzero(c), c[c > 0]) for c in dense]
        sizes = _per_table(row_bytes, len(used))
        table = np.concatenate([np.full(r.size, t, dtype=np.int64) for t, (r, _) in enumerate(used)])
        row = np.concatenate([r for r, _ in used]).astype(np.int64)
        count = np.concatenate([c for _, c in used]).astype(np.int64)
        # lexsort's last key is the primary one: density descending, then table, then row ascending.
        density = count.astype(np.float64) / sizes[table]
        order = np.lexsort((row, table, -density))
        fits = np.cumsum(sizes[table[order]]) <= capacity_bytes
        chosen = order[: int(np.argmin(fits)) if not fits.all() else order.size]
        pinned = [np.sort(row[chosen][table[chosen] == t]) for t in range(len(used))]
        return cls(capacity_bytes, sizes, pinned)

    def pinned(self, table: int) -> np.ndarray:
        """Sorted row ids pinned for `table`."""
        return self._pinned[self._table(table)]

    def lookup(self, table: int, row_ids: np.ndarray) -> np.ndarray:
        """True where the row is pinned; counts the look-ups."""
        t = self._table(table)
        rows = as_index_array(row_ids, "row_ids")
        pinned = self._pinned[t]
        pos = np.minimum(np.searchsorted(pinned, rows), max(pinned.size - 1, 0))
        hit = pinned[pos] == rows if pinned.size else np.zeros(rows.size, dtype=np.bool_)
        self.lookups[t] += rows.size
        self.hits[t] += int(hit.sum())
        return hit

    def reset_counters(self) -> None:
        """Zero look-up and hit counts; the pinned set stays."""
        self.lookups.fill(0)
        self.hits.fill(0)

    def _table(self, table: int) -> int:
        if not 0 <= table < len(self._pinned):
            raise InputError(f"scratchpad: table {table} out of range 0..{len(self._pinned) - 1}")
        return table
