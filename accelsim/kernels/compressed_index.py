"""Which stored rows a lookup of a compressed table reads: the index maps of md, qr, hash and tt.

Shared by the functional kernels (accelsim.kernels.compressed) and the timing models (accelsim.hw.lookups), so
the simulated addresses are the rows the real computation touches.
"""

from __future__ import annotations

import numpy as np

from accelsim.config.workload import Table

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def hash_rows(rows: np.ndarray, k: int, hash_rows: int) -> np.ndarray:
    """Row of the hashed table chosen by hash function `k` for each id (splitmix64 of the id and k, mod rows)."""
    with np.errstate(over="ignore"):
        z = _mix64(rows.astype(np.uint64) * _GOLDEN + np.uint64(k + 1) * _MIX2)
    return (z % np.uint64(hash_rows)).astype(np.int64)


def tt_digits(rows: np.ndarray, row_factors: tuple[int, ...]) -> list[np.ndarray]:
    """Mixed-radix digits (i_1, ..., i_K) of each row id, i_1 most significant."""
    digits, rest = [], rows.astype(np.int64)
    for n in reversed(row_factors):
        digits.append(rest % n)
        rest = rest // n
    return digits[::-1]


def md_blocks(table: Table) -> np.ndarray:
    """First row id of each md block, and the end: blocks hold consecutive ids, hottest first."""
    return np.concatenate([[0], np.cumsum([n for n, _ in table.parts])]).astype(np.int64)


def expand_rows(table: Table, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(part, row within the part, index of the lookup) of every stored row that lookups of `rows` read.

    Reads are in lookup order, and within a lookup in part (or hash-function) order.
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = rows.size
    ids = np.arange(n, dtype=np.int64)
    c = table.compression
    if c is None or c.scheme == "lowrank":
        return np.zeros(n, np.int64), rows, ids
    if c.scheme == "md":
        edges = md_blocks(table)
        part = np.searchsorted(edges, rows, side="right") - 1
        return part.astype(np.int64), rows - edges[part], ids
    if c.scheme == "qr":
        slots = [rows // c.collisions, rows % c.collisions]
        parts = [0, 1]
    elif c.scheme == "hash":
        slots = [hash_rows(rows, k, c.hash_rows) for k in range(c.hashes)]
        parts = [0] * c.hashes
    else:
        slots = tt_digits(rows, c.row_factors)
        parts = list(range(len(slots)))
    k = len(slots)
    part = np.tile(np.asarray(parts, dtype=np.int64), n)
    sub = np.stack(slots, axis=1).reshape(-1) if n else np.zeros(0, np.int64)
    return part, sub, np.repeat(ids, k)
