"""The embedding trace: per batch, per table CSR bags, stored in chunks that stream batch by batch.

On disk a trace is a directory (see docs/trace_format.md): `meta.json` and, per chunk of whole batches,
`chunk_NNNNN.{indices,offsets,bounds[,weights][,dense][,outputs]}.npy`, read with memory maps so a trace larger
than memory is read one batch at a time. A captured trace may also hold the model's dense inputs and outputs
per sample, and its weights (`weights/`, see accelsim/workload/weights.py).
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

SCHEMA_VERSION: int = 2
READABLE_SCHEMA_VERSIONS = (1, 2)  # 1: weights on every table or none; no dense inputs, outputs or sample count
META_FILE = "meta.json"
TRACE_WEIGHTS = "weights"  # the captured model's weights, when captured with them (accelsim/workload/weights.py)
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
    """One batch: the bags of every table, in table order; optionally the model's dense inputs (B, features)
    and its outputs (B,) for this batch, as captured."""

    tables: tuple[TableBags, ...]
    dense: np.ndarray | None = None
    outputs: np.ndarray | None = None

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
    weighted_tables: tuple[int, ...] = ()
    num_samples: int | None = None
    dense_features: int | None = None
    has_outputs: bool = False

    @property
    def num_tables(self) -> int:
        return len(self.table_rows)


class _ChunkFile(Model):
    name: str
    num_batches: PositiveInt
    num_lookups: NonNegativeInt


class _MetaFile(Model):
    """meta.json as stored (schema_version 1 or 2)."""

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
    # schema_version 2; a version-1 trace has weights on every table when it has any
    weighted_tables: tuple[NonNegativeInt, ...] | None = None
    num_samples: PositiveInt | None = None
    dense_features: PositiveInt | None = None
    has_outputs: bool = False


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
    for name, a, ndim in (("dense inputs", batch.dense, 2), ("outputs", batch.outputs, 1)):
        if a is None:
            continue
        if not isinstance(a, np.ndarray) or a.ndim != ndim or a.dtype.kind != "f" or a.shape[0] != first:
            raise InputError(f"{where}: {name} must be a {ndim}-D float array with {first} rows (the batch size), "
                             f"got {getattr(a, 'dtype', type(a).__name__)} shape {getattr(a, 'shape', '?')}")


def _check_rows(table_rows: Sequence[int], spec: ModelSpec, where: str) -> None:
    rows = [t.rows for t in spec.table_list]
    if len(table_rows) != len(rows):
        raise InputError(f"{where}: trace has {len(table_rows)} tables, workload {spec.name} has {len(rows)}")
    for t, (a, b) in enumerate(zip(table_rows, rows)):
        if a != b:
            raise InputError(f"{where}: table {t}: trace has {a} rows, workload {spec.name} has {b}")


def _table_label(table: Any, t: int) -> str:
    name = getattr(table, "name", None)
    return f"table {t} ({name})" if name else f"table {t}"


def spec_mismatches(stored: ModelSpec, given: ModelSpec) -> list[str]:
    """Where `given` describes another model than `stored`: dims, pooling, interaction, table count, rows."""
    out = [f"{f}: trace {getattr(stored, f)!r}, workload {getattr(given, f)!r}"
           for f in ("embedding_dim", "pooling", "interaction", "dense_features")
           if getattr(stored, f) != getattr(given, f)]
    if stored.num_tables != given.num_tables:
        return out + [f"tables: trace has {stored.num_tables}, workload {given.num_tables}"]
    for t, (a, b) in enumerate(zip(stored.table_list, given.table_list)):
        out += [f"{_table_label(a, t)}: {f} trace {getattr(a, f)!r}, workload {getattr(b, f)!r}"
                for f in ("rows", "dim", "pooling") if hasattr(a, f) and getattr(a, f) != getattr(b, f)]
    return out


def stored_spec(meta: TraceMeta, *, where: str) -> ModelSpec | None:
    """The workload spec the trace was made with (capture builds it from the model), or None."""
    if meta.spec is None:
        return None
    from accelsim.config.workload import ModelSpec

    return parse_model(ModelSpec, meta.spec, source=f"{where}/{META_FILE}: spec")


def check_against_spec(meta: TraceMeta, spec: ModelSpec, *, where: str) -> None:
    """The trace's tables (count and rows) must be the workload's, and so must its stored spec's shape."""
    _check_rows(meta.table_rows, spec, where)
    stored = stored_spec(meta, where=where)
    bad = [] if stored is None else spec_mismatches(stored, spec)
    if bad:
        raise InputError(f"{where}: workload {spec.name} is not the model this trace was made with "
                         f"({stored.name}): " + "; ".join(bad) + ". Leave the workload out to use the trace's own")


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
        self._num_samples = 0
        self._weighted: tuple[bool, ...] | None = None
        self._dense_features: int | None = None
        self._has_outputs: bool | None = None
        self._pending_dense: list[np.ndarray] = []
        self._pending_outputs: list[np.ndarray] = []

    @property
    def staging(self) -> Path:
        """The directory being filled (published at `path` on clean exit): a place for files that travel with
        the trace, such as the model's weights."""
        if self._tmp is None:
            raise RuntimeError("TraceWriter.staging outside its with-block")
        return self._tmp

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
        weighted = tuple(t.weights is not None for t in batch.tables)
        dense = None if batch.dense is None else batch.dense.shape[1]
        if self._weighted is None:
            self._weighted, self._dense_features, self._has_outputs = weighted, dense, batch.outputs is not None
        for t, (now, first) in enumerate(zip(weighted, self._weighted)):
            if now != first:
                raise InputError(f"{where}, table {t}: {'has' if now else 'lacks'} per-sample weights but batch 0 "
                                 f"{'did not' if now else 'did'}; a table has weights on every batch or none")
        if dense != self._dense_features or (batch.outputs is not None) != self._has_outputs:
            raise InputError(f"{where}: dense inputs of width {dense} and outputs {batch.outputs is not None}, "
                             f"batch 0 had {self._dense_features} and {self._has_outputs}; every batch or none")
        self._pending.extend(batch.tables)
        if batch.dense is not None:
            self._pending_dense.append(batch.dense)
        if batch.outputs is not None:
            self._pending_outputs.append(batch.outputs)
        self._num_samples += batch.batch_size
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
        if any(self._weighted or ()):
            # Aligned with the indices; an unweighted table's slots hold 1.0 and are never read back.
            np.save(self._tmp / f"{name}.weights.npy", np.concatenate(
                [b.weights if b.weights is not None else np.ones(len(b.indices), np.float32) for b in bags]))
        if self._pending_dense:
            np.save(self._tmp / f"{name}.dense.npy", np.concatenate(self._pending_dense).astype(np.float32))
        if self._pending_outputs:
            np.save(self._tmp / f"{name}.outputs.npy", np.concatenate(self._pending_outputs).astype(np.float32))
        self._chunks.append(dict(name=name, num_batches=self._pending_batches, num_lookups=self._pending_lookups))
        self._pending, self._pending_batches, self._pending_lookups = [], 0, 0
        self._pending_dense, self._pending_outputs = [], []

    def _finish(self) -> None:
        if self._num_batches == 0:
            raise InputError(f"{self.path}: empty trace (no batches were written)")
        self._flush()
        weighted = [t for t, w in enumerate(self._weighted or ()) if w]
        meta = dict(self._head, num_batches=self._num_batches, batch_size=self._max_batch,
                    num_samples=self._num_samples, num_lookups=self._num_lookups, has_weights=bool(weighted),
                    weighted_tables=weighted, dense_features=self._dense_features,
                    has_outputs=bool(self._has_outputs), extra=self._extra, chunks=self._chunks)
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


def _load_npy(path: Path, dtype: type, ndim: int, field: str = "chunks") -> np.ndarray:
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: missing (named by {META_FILE} {field})") from None
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
        if type(version) is not int or version not in READABLE_SCHEMA_VERSIONS:
            raise InputError(f"{meta_path}: schema_version {version!r} not supported "
                             f"(this accelsim reads {', '.join(map(str, READABLE_SCHEMA_VERSIONS))})")
        m = parse_model(_MetaFile, raw, source=str(meta_path))
        if sum(c.num_batches for c in m.chunks) != m.num_batches:
            raise InputError(f"{meta_path}: chunks hold {sum(c.num_batches for c in m.chunks)} batches, "
                             f"num_batches says {m.num_batches}")
        if sum(c.num_lookups for c in m.chunks) != m.num_lookups:
            raise InputError(f"{meta_path}: chunks hold {sum(c.num_lookups for c in m.chunks)} lookups, "
                             f"num_lookups says {m.num_lookups}")
        weighted = m.weighted_tables if m.weighted_tables is not None else \
            tuple(range(len(m.table_rows))) if m.has_weights else ()
        if any(t >= len(m.table_rows) for t in weighted) or bool(weighted) != m.has_weights:
            raise InputError(f"{meta_path}: weighted_tables {list(weighted)} do not fit {len(m.table_rows)} tables "
                             f"with has_weights {m.has_weights}")
        self.meta = TraceMeta(schema_version=m.schema_version, source=m.source, seed=m.seed, workload=m.workload,
                              spec=m.spec, table_rows=m.table_rows, num_batches=m.num_batches,
                              batch_size=m.batch_size, num_lookups=m.num_lookups, has_weights=m.has_weights,
                              extra=m.extra, weighted_tables=tuple(weighted), num_samples=m.num_samples,
                              dense_features=m.dense_features, has_outputs=m.has_outputs)
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
        field = f"chunks.{k}.name"
        arr = {kind: _load_npy(Path(f"{base}.{kind}.npy"), dtype, ndim, field) for kind, dtype, ndim in (
            ("indices", np.int64, 1), ("offsets", np.int64, 1), ("bounds", np.int64, 2))}
        if self.meta.has_weights:
            arr["weights"] = _load_npy(Path(f"{base}.weights.npy"), np.float32, 1, field)
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
        # Sample rows of each batch in the chunk's dense inputs and outputs: table 0's bag counts.
        T = self.meta.num_tables
        sizes = b[1::T, 1][:c.num_batches] - b[:-1:T, 1][:c.num_batches] - 1
        arr["sample_starts"] = np.concatenate([[0], np.cumsum(sizes)])
        samples = int(arr["sample_starts"][-1])
        for kind, ndim, on in (("dense", 2, self.meta.dense_features is not None),
                               ("outputs", 1, self.meta.has_outputs)):
            if not on:
                continue
            a = arr[kind] = _load_npy(Path(f"{base}.{kind}.npy"), np.float32, ndim, field)
            want = (samples, self.meta.dense_features) if kind == "dense" else (samples,)
            if a.shape != want:
                raise InputError(f"{base}.{kind}.npy: shape {a.shape}, expected {want} for the chunk's "
                                 f"{samples} samples")
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
        for t, e in enumerate(range(e0, e0 + T)):
            i0, i1, o0, o1 = int(b[e, 0]), int(b[e + 1, 0]), int(b[e, 1]), int(b[e + 1, 1])
            w = arr["weights"][i0:i1] if t in self.meta.weighted_tables else None
            tables.append(TableBags(arr["indices"][i0:i1], arr["offsets"][o0:o1], w))
        s0, s1 = (int(x) for x in arr["sample_starts"][i - int(self._starts[k]):][:2])
        batch = Batch(tuple(tables), dense=arr["dense"][s0:s1] if "dense" in arr else None,
                      outputs=arr["outputs"][s0:s1] if "outputs" in arr else None)
        validate_batch(batch, self.meta.table_rows, where=f"{self.path}: batch {i}")
        return batch


def open_trace(path: str | Path) -> TraceReader:
    """Open a trace directory for reading."""
    return TraceReader(path)


def _slice(a: np.ndarray | None, lo: int, hi: int) -> np.ndarray | None:
    return None if a is None else a[lo:hi]


def samples(batch: Batch, lo: int, hi: int) -> Batch:
    """Samples [lo, hi) of a batch, as a batch of its own."""
    tables = []
    for t in batch.tables:
        a, b = int(t.offsets[lo]), int(t.offsets[hi])
        tables.append(TableBags(t.indices[a:b], t.offsets[lo:hi + 1] - a, _slice(t.weights, a, b)))
    return Batch(tuple(tables), dense=_slice(batch.dense, lo, hi), outputs=_slice(batch.outputs, lo, hi))


def join(parts: Sequence[Batch]) -> Batch:
    """The samples of several batches, in order, as one batch."""
    if len(parts) == 1:
        return parts[0]

    def cat(arrays: list[np.ndarray | None]) -> np.ndarray | None:
        return None if arrays[0] is None else np.concatenate(arrays)
    tables = []
    for t in range(len(parts[0].tables)):
        bags = [p.tables[t] for p in parts]
        starts = np.cumsum([0] + [len(b.indices) for b in bags[:-1]])
        offsets = np.concatenate([[0]] + [b.offsets[1:] + s for b, s in zip(bags, starts)])
        tables.append(TableBags(cat([b.indices for b in bags]), offsets, cat([b.weights for b in bags])))
    return Batch(tuple(tables), dense=cat([p.dense for p in parts]), outputs=cat([p.outputs for p in parts]))


def trace_samples(reader: TraceReader) -> int:
    """Samples in the trace (counted for a version-1 trace, which does not record them)."""
    if reader.meta.num_samples is not None:
        return reader.meta.num_samples
    return sum(b.batch_size for b in reader)


def batches_at(reader: TraceReader, size: int) -> int:
    """How many batches `rebatch` cuts at `size`: the trace's own count at its own size."""
    if size == reader.meta.batch_size:
        return reader.meta.num_batches
    return -(-trace_samples(reader) // size)


def trace_point_defaults(path: str, workload: dict | None, batch_size: int | None,
                         batches: int | None) -> dict[str, Any]:
    """What a point replaying the trace at `path` leaves None: its workload (the trace's stored spec), batch
    size (the trace's own) and batch count (all of the trace's samples)."""
    reader = open_trace(path)
    out: dict[str, Any] = {}
    if workload is None:
        if reader.meta.spec is None:
            raise InputError(f"{path}: the trace stores no workload spec (it was not captured from a model or "
                             "made for a workload); give the workload")
        out["workload"] = reader.meta.spec
    size = batch_size if batch_size is not None else reader.meta.batch_size
    out["batch_size"] = size
    if batches is None and isinstance(size, int) and not isinstance(size, bool) and size >= 1:
        out["batches"] = batches_at(reader, size)
    return out


def rebatch(reader: TraceReader, size: int, count: int, where: str) -> list[Batch]:
    """The first `count` batches of the trace at batch size `size`, keeping every sample.

    At the trace's own batch size (its largest batch) its batches are used as they are, a short one running
    short. At any other size, batches of `size` consecutive samples are cut across the trace's batches, and
    the last holds what remains.
    """
    out: list[Batch] = []
    if size == reader.meta.batch_size:
        out = [reader.batch(i) for i in range(min(count, len(reader)))]
    else:
        pending: list[Batch] = []
        held = 0
        for b in reader:
            lo = 0
            while lo < b.batch_size and len(out) < count:
                take = min(size - held, b.batch_size - lo)
                pending.append(samples(b, lo, lo + take))
                held, lo = held + take, lo + take
                if held == size:
                    out.append(join(pending))
                    pending, held = [], 0
            if len(out) == count:
                break
        if pending and len(out) < count:
            out.append(join(pending))
    if len(out) < count:
        raise InputError(f"the trace cuts into {len(out)} batches at batch size {size}, the point asks for {count}",
                         source=where)
    return out
