"""The embedding trace: per batch, per table CSR bags, stored in chunks that stream batch by batch.

On disk a trace is a directory (see docs/trace_format.md): `meta.json` and, per chunk of whole batches,
`chunk_NNNNN.{indices,offsets,bounds[,weights]}.npy`, read with memory maps so a trace larger than memory
is read one batch at a time.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
from pydantic import NonNegativeInt, PositiveInt

from accelsim.atomic import atomic_path
from accelsim.config.base import Model, parse_model
from accelsim.errors import InputError

if TYPE_CHECKING:
    from accelsim.config.workload import ModelSpec

SCHEMA_VERSION: int = 1
META_FILE = "meta.json"
TRACE_KIND = "trace"  # the output kind a trace directory is marked with (accelsim.atomic)
# A chunk is flushed once it holds this many lookups (128 MiB of int64 indices): large enough that per-file
# overhead vanishes, small enough that the writer's buffer stays far below memory.
DEFAULT_CHUNK_LOOKUPS = 1 << 24
_INT64_MAX = np.iinfo(np.int64).max


def _as_int64(a: Any) -> np.ndarray:
    """Integer arrays become int64 (no copy when they already are); anything else is left for validation."""
    a = np.asarray(a)
    if a.dtype.kind not in "iu" or a.dtype == np.int64:
        return a
    if a.dtype == np.uint64 and a.size and int(a.max()) > _INT64_MAX:
        return a  # would wrap negative; validation reports the true value
    return a.astype(np.int64)


@dataclass(frozen=True)
class TableBags:
    """One table of one batch in CSR form (EmbeddingBag `include_last_offset` offsets: B+1 entries)."""

    indices: np.ndarray
    offsets: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "indices", _as_int64(self.indices))
        object.__setattr__(self, "offsets", _as_int64(self.offsets))
        if self.weights is not None:
            w = np.asarray(self.weights)
            object.__setattr__(self, "weights", w.astype(np.float32, copy=False) if w.dtype.kind == "f" else w)

    @property
    def batch_size(self) -> int:
        return max(len(self.offsets) - 1, 0)

    @property
    def num_lookups(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class Batch:
    """One batch: the bags of every table, in table order."""

    tables: tuple[TableBags, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", tuple(self.tables))

    @property
    def batch_size(self) -> int:
        sizes = {t.batch_size for t in self.tables}
        if len(sizes) > 1:
            raise InputError(f"tables disagree on batch size: {sorted(sizes)}")
        return sizes.pop() if sizes else 0

    @property
    def num_lookups(self) -> int:
        return sum(t.num_lookups for t in self.tables)


@dataclass(frozen=True)
class TraceMeta:
    """What a trace holds and where it came from."""

    schema_version: int
    source: str
    seed: int | None
    workload: str | None
    spec: dict | None
    table_rows: tuple[int, ...]
    num_batches: int
    batch_size: int
    num_lookups: int
    has_weights: bool
    extra: dict = field(default_factory=dict)

    @property
    def num_tables(self) -> int:
        return len(self.table_rows)


class _ChunkFile(Model):
    name: str
    num_batches: PositiveInt
    num_lookups: NonNegativeInt


class _MetaFile(Model):
    """meta.json as stored (schema_version 1)."""

    schema_version: int
    source: str
    seed: int | None
    workload: str | None
    spec: dict | None
    table_rows: tuple[PositiveInt, ...]
    num_batches: PositiveInt
    batch_size: PositiveInt
    num_lookups: NonNegativeInt
    has_weights: bool
    extra: dict
    chunks: tuple[_ChunkFile, ...]


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _validate_table(bags: TableBags, rows: int, at: str) -> None:
    idx, off, w = bags.indices, bags.offsets, bags.weights
    if not isinstance(idx, np.ndarray) or idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise InputError(f"{at}: indices must be a 1-D integer array, got {idx.dtype} shape {idx.shape}")
    if not isinstance(off, np.ndarray) or off.ndim != 1 or off.dtype.kind not in "iu":
        raise InputError(f"{at}: offsets must be a 1-D integer array, got {off.dtype} shape {off.shape}")
    if len(off) < 2:
        raise InputError(f"{at}: offsets has {len(off)} entries; need batch size + 1 >= 2")
    if off[0] != 0:
        raise InputError(f"{at}, offset position 0: {int(off[0])}, expected 0")
    dec = np.diff(off) < 0
    if dec.any():
        p = _first(dec) + 1
        raise InputError(f"{at}, offset position {p}: {int(off[p])} < previous {int(off[p - 1])} "
                         f"(offsets must be non-decreasing)")
    n = len(idx)
    if off[-1] != n:
        raise InputError(f"{at}, offset position {len(off) - 1}: {int(off[-1])}, expected len(indices) = {n} "
                         f"(ragged)")
    if n and (idx.min() < 0 or idx.max() >= rows):
        p = _first((idx < 0) | (idx >= rows))
        raise InputError(f"{at}, index position {p}: row {int(idx[p])} out of range [0, {rows})")
    if w is not None:
        if not isinstance(w, np.ndarray) or w.ndim != 1 or w.dtype.kind != "f":
            raise InputError(f"{at}: weights must be a 1-D float array, got {w.dtype} shape {w.shape}")
        if len(w) != n:
            raise InputError(f"{at}: weights length {len(w)}, expected {n} (one per index)")
        bad = ~np.isfinite(w)
        if bad.any():
            p = _first(bad)
            raise InputError(f"{at}, weight position {p}: {float(w[p])} is not finite")


def validate_batch(batch: Batch, table_rows: Sequence[int], *, where: str) -> None:
    """Check one batch against the table bounds; `where` names the file and batch ("t.trace: batch 3")."""
    if not batch.tables:
        raise InputError(f"{where}: batch has no tables")
    if len(batch.tables) != len(table_rows):
        raise InputError(f"{where}: {len(batch.tables)} tables, expected {len(table_rows)}")
    first = batch.tables[0].batch_size
    for t, (bags, rows) in enumerate(zip(batch.tables, table_rows)):
        at = f"{where}, table {t}"
        _validate_table(bags, int(rows), at)
        if bags.batch_size != first:
            raise InputError(f"{at}: batch size {bags.batch_size}, expected {first} (table 0's)")
    if any((t.weights is None) != (batch.tables[0].weights is None) for t in batch.tables):
        raise InputError(f"{where}: per-sample weights on some tables only; give them for all tables or none")


def _check_rows(table_rows: Sequence[int], spec: ModelSpec, where: str) -> None:
    rows = [t.rows for t in spec.table_list]
    if len(table_rows) != len(rows):
        raise InputError(f"{where}: trace has {len(table_rows)} tables, workload {spec.name} has {len(rows)}")
    for t, (a, b) in enumerate(zip(table_rows, rows)):
        if a != b:
            raise InputError(f"{where}: table {t}: trace has {a} rows, workload {spec.name} has {b}")


def check_against_spec(meta: TraceMeta, spec: ModelSpec, *, where: str) -> None:
    """The trace's tables (count and rows) must be the workload's."""
    _check_rows(meta.table_rows, spec, where)


class TraceWriter:
    """Write a trace batch by batch; a context manager that publishes the directory only on clean exit."""

    def __init__(self, path: str | Path, *, source: str, table_rows: Sequence[int], spec: ModelSpec | None = None,
                 seed: int | None = None, extra: dict | None = None, chunk_lookups: int = DEFAULT_CHUNK_LOOKUPS):
        self.path = Path(path)
        self.table_rows = tuple(int(r) for r in table_rows)
        if not self.table_rows:
            raise InputError(f"{self.path}: a trace needs at least one table")
        if min(self.table_rows) <= 0:
            raise InputError(f"{self.path}: table rows must be positive, got {list(self.table_rows)}")
        if spec is not None:
            _check_rows(self.table_rows, spec, str(self.path))
        self._head = dict(schema_version=SCHEMA_VERSION, source=source, seed=seed,
                          workload=spec.name if spec is not None else None,
                          spec=spec.model_dump(mode="json") if spec is not None else None,
                          table_rows=list(self.table_rows))
        self._extra = json.loads(json.dumps(extra or {}))  # fails now, not at close, if not JSON-ready
        self.chunk_lookups = int(chunk_lookups)
        self._stack: contextlib.ExitStack | None = None
        self._tmp: Path | None = None
        self._pending: list[TableBags] = []
        self._pending_batches = 0
        self._pending_lookups = 0
        self._chunks: list[dict] = []
        self._num_batches = 0
        self._num_lookups = 0
        self._max_batch = 0
        self._has_weights: bool | None = None

    def __enter__(self) -> "TraceWriter":
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path, is_dir=True, kind=TRACE_KIND))
        return self

    def write(self, batch: Batch) -> None:
        """Validate one batch and append it; a full chunk goes to disk at once.

        The writer keeps references to the batch's arrays until its chunk is flushed: do not modify them.
        """
        if self._tmp is None:
            raise RuntimeError("TraceWriter.write outside its with-block")
        where = f"{self.path}: batch {self._num_batches}"
        validate_batch(batch, self.table_rows, where=where)
        weighted = batch.tables[0].weights is not None
        if self._has_weights is None:
            self._has_weights = weighted
        elif weighted != self._has_weights:
            raise InputError(f"{where}: {'has' if weighted else 'lacks'} per-sample weights but batch 0 "
                             f"{'did not' if weighted else 'did'}; a trace has weights on every batch or none")
        self._pending.extend(batch.tables)
        self._pending_batches += 1
        self._pending_lookups += batch.num_lookups
        self._num_batches += 1
        self._num_lookups += batch.num_lookups
        self._max_batch = max(self._max_batch, batch.batch_size)
        if self._pending_lookups >= self.chunk_lookups:
            self._flush()

    def _flush(self) -> None:
        if not self._pending_batches:
            return
        name = f"chunk_{len(self._chunks):05d}"
        bags = self._pending
        n_idx = np.fromiter((len(b.indices) for b in bags), np.int64, len(bags))
        n_off = np.fromiter((len(b.offsets) for b in bags), np.int64, len(bags))
        bounds = np.zeros((len(bags) + 1, 2), np.int64)
        bounds[1:, 0] = np.cumsum(n_idx)
        bounds[1:, 1] = np.cumsum(n_off)
        assert self._tmp is not None
        np.save(self._tmp / f"{name}.indices.npy", np.concatenate([b.indices for b in bags]).astype(np.int64))
        np.save(self._tmp / f"{name}.offsets.npy", np.concatenate([b.offsets for b in bags]))
        np.save(self._tmp / f"{name}.bounds.npy", bounds)
        if self._has_weights:
            np.save(self._tmp / f"{name}.weights.npy", np.concatenate([b.weights for b in bags]))
        self._chunks.append(dict(name=name, num_batches=self._pending_batches, num_lookups=self._pending_lookups))
        self._pending, self._pending_batches, self._pending_lookups = [], 0, 0

    def _finish(self) -> None:
        if self._num_batches == 0:
            raise InputError(f"{self.path}: empty trace (no batches were written)")
        self._flush()
        meta = dict(self._head, num_batches=self._num_batches, batch_size=self._max_batch,
                    num_lookups=self._num_lookups, has_weights=bool(self._has_weights), extra=self._extra,
                    chunks=self._chunks)
        assert self._tmp is not None
        (self._tmp / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack = self._stack
        assert stack is not None
        if exc_type is None:
            try:
                self._finish()
            except BaseException:
                self._stack, self._tmp = None, None
                if not stack.__exit__(*sys.exc_info()):
                    raise
                return False
        self._stack, self._tmp = None, None
        return bool(stack.__exit__(exc_type, exc, tb))


def _load_npy(path: Path, dtype: type, ndim: int) -> np.ndarray:
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: missing (listed in {META_FILE})") from None
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{path}: corrupt or truncated npy file ({err})") from None
    if not isinstance(a, np.ndarray):  # an .npz archive where an .npy belongs
        raise InputError(f"{path}: expected an .npy array, got {type(a).__name__}")
    if a.dtype != dtype or a.ndim != ndim:
        raise InputError(f"{path}: expected a {ndim}-D {np.dtype(dtype)} array, got {a.dtype} shape {a.shape}")
    return np.asarray(a)


class TraceReader:
    """A trace on disk; iterating yields validated batches, one chunk memory-mapped at a time."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta_path = self.path / META_FILE
        if not self.path.is_dir():
            raise InputError(f"{self.path}: not a trace (expected a directory holding {META_FILE})")
        try:
            raw = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise InputError(f"{meta_path}: missing; {self.path} is not a trace") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{meta_path}: unreadable or corrupt JSON ({err})") from None
        if not isinstance(raw, dict):
            raise InputError(f"{meta_path}: expected a JSON object")
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise InputError(f"{meta_path}: schema_version {version!r} not supported "
                             f"(this accelsim reads {SCHEMA_VERSION})")
        m = parse_model(_MetaFile, raw, source=str(meta_path))
        if sum(c.num_batches for c in m.chunks) != m.num_batches:
            raise InputError(f"{meta_path}: chunks hold {sum(c.num_batches for c in m.chunks)} batches, "
                             f"num_batches says {m.num_batches}")
        if sum(c.num_lookups for c in m.chunks) != m.num_lookups:
            raise InputError(f"{meta_path}: chunks hold {sum(c.num_lookups for c in m.chunks)} lookups, "
                             f"num_lookups says {m.num_lookups}")
        self.meta = TraceMeta(schema_version=m.schema_version, source=m.source, seed=m.seed, workload=m.workload,
                              spec=m.spec, table_rows=m.table_rows, num_batches=m.num_batches,
                              batch_size=m.batch_size, num_lookups=m.num_lookups, has_weights=m.has_weights,
                              extra=m.extra)
        self._chunks = m.chunks
        self._starts = np.cumsum([0] + [c.num_batches for c in m.chunks])
        self._open: tuple[int, dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return self.meta.num_batches

    def __iter__(self) -> Iterator[Batch]:
        for i in range(len(self)):
            yield self.batch(i)

    def _chunk(self, k: int) -> dict[str, np.ndarray]:
        if self._open is not None and self._open[0] == k:
            return self._open[1]
        c = self._chunks[k]
        base = self.path / c.name
        arr = {kind: _load_npy(Path(f"{base}.{kind}.npy"), dtype, ndim) for kind, dtype, ndim in (
            ("indices", np.int64, 1), ("offsets", np.int64, 1), ("bounds", np.int64, 2))}
        if self.meta.has_weights:
            arr["weights"] = _load_npy(Path(f"{base}.weights.npy"), np.float32, 1)
        b = arr["bounds"]
        bpath = f"{base}.bounds.npy"
        entries = c.num_batches * self.meta.num_tables
        if b.shape != (entries + 1, 2):
            raise InputError(f"{bpath}: shape {b.shape}, expected ({entries + 1}, 2) for {c.num_batches} batches "
                             f"x {self.meta.num_tables} tables")
        if (b[0] != 0).any() or (np.diff(b, axis=0) < 0).any():
            raise InputError(f"{bpath}: boundaries must start at 0 and be non-decreasing")
        ends = (len(arr["indices"]), len(arr["offsets"]))
        if tuple(int(x) for x in b[-1]) != ends or ends[0] != c.num_lookups:
            raise InputError(f"{bpath}: last boundary {tuple(int(x) for x in b[-1])} does not match the "
                             f"{ends[0]} indices / {ends[1]} offsets stored ({c.num_lookups} lookups in {META_FILE})")
        if self.meta.has_weights and len(arr["weights"]) != ends[0]:
            raise InputError(f"{base}.weights.npy: {len(arr['weights'])} weights for {ends[0]} indices")
        self._open = (k, arr)
        return arr

    def batch(self, i: int) -> Batch:
        """Batch `i`, validated against the table bounds."""
        if not 0 <= i < len(self):
            raise InputError(f"{self.path}: batch {i} out of range (trace has {len(self)} batches)")
        k = int(np.searchsorted(self._starts, i, side="right")) - 1
        arr = self._chunk(k)
        b, T = arr["bounds"], self.meta.num_tables
        e0 = (i - int(self._starts[k])) * T
        tables = []
        for e in range(e0, e0 + T):
            i0, i1, o0, o1 = int(b[e, 0]), int(b[e + 1, 0]), int(b[e, 1]), int(b[e + 1, 1])
            w = arr["weights"][i0:i1] if self.meta.has_weights else None
            tables.append(TableBags(arr["indices"][i0:i1], arr["offsets"][o0:o1], w))
        batch = Batch(tuple(tables))
        validate_batch(batch, self.meta.table_rows, where=f"{self.path}: batch {i}")
        return batch


def open_trace(path: str | Path) -> TraceReader:
    """Open a trace directory for reading."""
    return TraceReader(path)
