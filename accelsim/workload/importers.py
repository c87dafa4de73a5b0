"""Import and export of public trace formats: Meta's dlrm_datasets batches and dlrm's text index trace.

dlrm_datasets (facebookresearch/dlrm_datasets, read by FBGEMM's `--requests_data_file`): each file is one
batch, a gzip-compressed `torch.save` of `(indices, offsets, lengths)`; offsets are table-major over T*B bags
(`offsets[t*B + b]`, T*B + 1 entries) and `lengths` has shape [T, B].

dlrm text trace (facebookresearch/dlrm `dlrm_data_pytorch.py`, `write_trace_to_file` / `read_trace_from_file`
with `trace_file_binary_type` False): one line of row ids joined by ", " (the repr of a Python list without
its brackets). It is one index stream with no table or bag structure; see docs/trace_format.md for how it maps
onto bags and batches.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from accelsim.atomic import atomic_path
from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.workload.trace import DEFAULT_CHUNK_LOOKUPS, Batch, TableBags, TraceWriter, open_trace, \
    validate_batch

_TEXT_BLOCK_CHARS = 1 << 24  # read text traces 16 MiB at a time


def _table_rows(num_tables: int, spec: ModelSpec | None, rows: int | None, where: str) -> tuple[int, ...]:
    if (spec is None) == (rows is None):
        raise InputError(f"{where}: give exactly one of a workload (table rows from its spec) or --rows")
    if spec is not None:
        if spec.num_tables != num_tables:
            raise InputError(f"{where}: file has {num_tables} tables, workload {spec.name} has {spec.num_tables}")
        return tuple(t.rows for t in spec.table_list)
    assert rows is not None
    if rows < 1:
        raise InputError(f"{where}: --rows must be >= 1, got {rows}")
    return (int(rows),) * num_tables


def _load_dlrm_datasets(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import torch

    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: not a readable gzip file ({err})") from None
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a malformed archive; all mean "not this format"
        first = (str(err).splitlines() or [""])[0]
        raise InputError(f"{path}: not a torch.save file ({type(err).__name__}: {first})") from None
    if not isinstance(obj, (tuple, list)) or len(obj) != 3 or not all(isinstance(x, torch.Tensor) for x in obj):
        raise InputError(f"{path}: expected a tuple of 3 tensors (indices, offsets, lengths)")
    out = []
    for name, x, ndim in zip(("indices", "offsets", "lengths"), obj, (1, 1, 2)):
        if x.layout != torch.strided or x.dim() != ndim or x.dtype.is_floating_point or x.dtype.is_complex \
                or x.dtype == torch.bool:
            raise InputError(f"{path}: {name} must be a {ndim}-D dense integer tensor, got {x.dtype} {x.layout} "
                             f"shape {tuple(x.shape)}")
        out.append(x.numpy().astype(np.int64, copy=False))
    return out[0], out[1], out[2]


def _dlrm_datasets_batch(path: Path, indices: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> Batch:
    """Split one file into per-table bags after FBGEMM's consistency checks."""
    T, B = lengths.shape
    if T == 0 or B == 0:
        raise InputError(f"{path}: lengths has shape {(T, B)}; need at least one table and one bag")
    if len(offsets) != T * B + 1:
        raise InputError(f"{path}: offsets has {len(offsets)} entries, expected T*B + 1 = {T * B + 1} for "
                         f"lengths of shape (T, B) = {(T, B)}")
    if offsets[0] != 0:
        raise InputError(f"{path}: offsets position 0: {int(offsets[0])}, expected 0")
    bad = np.diff(offsets) != lengths.reshape(-1)
    if bad.any():
        p = int(np.flatnonzero(bad)[0])
        t, b = divmod(p, B)
        raise InputError(f"{path}: table {t}, bag {b}: offsets give length {int(offsets[p + 1] - offsets[p])}, "
                         f"lengths says {int(lengths[t, b])}")
    if offsets[-1] != len(indices):
        raise InputError(f"{path}: last offset {int(offsets[-1])}, expected len(indices) = {len(indices)}")
    tables = []
    for t in range(T):
        off = offsets[t * B:(t + 1) * B + 1]
        tables.append(TableBags(indices[off[0]:off[-1]], off - off[0]))
    return Batch(tuple(tables))


def import_dlrm_datasets(files: str | os.PathLike | Sequence[str | os.PathLike], out: str | Path, *,
                         spec: ModelSpec | None = None, rows: int | None = None,
                         chunk_lookups: int = DEFAULT_CHUNK_LOOKUPS) -> Path:
    """Import dlrm_datasets files (one batch each, in the order given) into a trace at `out`."""
    paths = [Path(files)] if isinstance(files, (str, os.PathLike)) else [Path(f) for f in files]
    if not paths:
        raise InputError("no dlrm_datasets files given")
    first = _load_dlrm_datasets(paths[0])
    table_rows = _table_rows(first[2].shape[0], spec, rows, str(paths[0]))
    with TraceWriter(out, source="import:dlrm-datasets", table_rows=table_rows, spec=spec,
                     extra=dict(files=[p.name for p in paths]), chunk_lookups=chunk_lookups) as writer:
        for i, path in enumerate(paths):
            arrays = first if i == 0 else _load_dlrm_datasets(path)
            batch = _dlrm_datasets_batch(path, *arrays)
            validate_batch(batch, table_rows, where=str(path))  # names the input file, not the output
            writer.write(batch)
            first = None  # let the first file's arrays go
    return Path(out)


def export_dlrm_datasets(trace: str | Path, out_dir: str | Path, *, drop_weights: bool = False) -> Path:
    """Write each batch of a trace as `batch_NNNNN.pt.gz` (dlrm_datasets format) in a new directory."""
    import torch

    reader = open_trace(trace)
    if reader.meta.has_weights and not drop_weights:
        raise InputError(f"{trace}: has per-sample weights, which dlrm_datasets cannot hold (drop them explicitly)")
    with atomic_path(out_dir, is_dir=True, kind="dlrm-datasets-export") as tmp:
        for i, batch in enumerate(reader):
            starts = np.cumsum([0] + [len(t.indices) for t in batch.tables])
            offsets = np.concatenate([t.offsets[:-1] + s for t, s in zip(batch.tables, starts)] + [starts[-1:]])
            lengths = np.stack([np.diff(t.offsets) for t in batch.tables])
            indices = np.concatenate([t.indices for t in batch.tables])
            buf = io.BytesIO()
            torch.save(tuple(torch.from_numpy(np.ascontiguousarray(a, np.int64)) for a in (indices, offsets,
                                                                                           lengths)), buf)
            with gzip.open(tmp / f"batch_{i:05d}.pt.gz", "wb") as f:
                f.write(buf.getvalue())
    return Path(out_dir)


def _parse_tokens(tokens: list[str], first_pos: int, path: Path) -> np.ndarray:
    try:
        return np.array(tokens).astype(np.int64)
    except (ValueError, OverflowError):
        for p, tok in enumerate(tokens):
            try:
                np.array([tok]).astype(np.int64)
            except (ValueError, OverflowError):
                raise InputError(f"{path}: index position {first_pos + p}: {tok.strip()!r} is not an int64 "
                                 f"row id") from None
        raise


def read_dlrm_text(path: str | Path, block_chars: int = _TEXT_BLOCK_CHARS) -> Iterator[np.ndarray]:
    """Stream the row ids of a dlrm text trace in blocks (int64 arrays)."""
    path = Path(path)
    pos, carry, chars = 0, "", 0
    try:
        with open(path, encoding="ascii") as f:
            while block := f.read(block_chars):
                nul = block.find("\x00")
                if nul >= 0:  # numpy would drop a trailing NUL from a token and take "2\0" as 2
                    raise InputError(f"{path}: character {chars + nul}: NUL byte in a text trace")
                chars += len(block)
                text = carry + block
                cut = text.rfind(",")
                if cut < 0:
                    carry = text
                    continue
                body, carry = text[:cut], text[cut + 1:]
                vals = _parse_tokens(body.split(","), pos, path)
                pos += len(vals)
                yield vals
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read as a text trace ({err})") from None
    if carry.strip() or pos:
        yield _parse_tokens([carry], pos, path)


def import_dlrm_text(file: str | Path, out: str | Path, *, spec: ModelSpec | None = None, rows: int | None = None,
                     batch_size: int | None = None, bag_size: int | None = None,
                     chunk_lookups: int = DEFAULT_CHUNK_LOOKUPS) -> Path:
    """Import a dlrm text trace as one table: consecutive ids form bags of `bag_size`, bags form batches.

    Defaults with a workload (which must have one table): its lookups per sample and default batch size;
    with `rows`: bags of one lookup, and the batch size must be given.
    """
    file = Path(file)
    table_rows = _table_rows(1, spec, rows, str(file))
    if bag_size is None:
        bag_size = spec.table_list[0].lookups_per_sample if spec is not None else 1
    if batch_size is None:
        if spec is None:
            raise InputError(f"{file}: a text trace imported with --rows needs --batch-size")
        batch_size = spec.default_batch_size
    if bag_size < 1 or batch_size < 1:
        raise InputError(f"{file}: bag size and batch size must be >= 1, got {bag_size} and {batch_size}")
    per_batch = bag_size * batch_size
    with TraceWriter(out, source="import:dlrm-text", table_rows=table_rows, spec=spec,
                     extra=dict(file=file.name, bag_size=bag_size, batch_size=batch_size),
                     chunk_lookups=chunk_lookups) as writer:
        pending: list[np.ndarray] = []
        held = 0
        done = 0
        for block in read_dlrm_text(file):
            pending.append(block)
            held += len(block)
            while held >= per_batch:
                stream = np.concatenate(pending)
                writer.write(_text_batch(stream[:per_batch], bag_size, file, done, table_rows[0]))
                done += per_batch
                pending, held = [stream[per_batch:]], len(stream) - per_batch
        if held:
            writer.write(_text_batch(np.concatenate(pending), bag_size, file, done, table_rows[0]))
        elif not done:
            raise InputError(f"{file}: holds no row ids")
    return Path(out)


def _text_batch(ids: np.ndarray, bag_size: int, file: Path, first_pos: int, rows: int) -> Batch:
    bags = -(-len(ids) // bag_size)
    offsets = np.minimum(np.arange(bags + 1, dtype=np.int64) * bag_size, len(ids))
    bad = (ids < 0) | (ids >= rows)
    if bad.any():
        p = int(np.flatnonzero(bad)[0])
        raise InputError(f"{file}: index position {first_pos + p}: row {int(ids[p])} out of range [0, {rows})")
    return Batch((TableBags(ids, offsets),))


def export_dlrm_text(trace: str | Path, out_file: str | Path, *, table: int | None = None) -> Path:
    """Write one table's lookups, batch after batch, as a dlrm text trace (bag boundaries are lost)."""
    reader = open_trace(trace)
    T = reader.meta.num_tables
    if table is None:
        if T != 1:
            raise InputError(f"{trace}: has {T} tables; a text trace holds one, choose it with --table")
        table = 0
    if not 0 <= table < T:
        raise InputError(f"{trace}: table {table} out of range (trace has {T} tables)")
    with atomic_path(out_file, kind="dlrm-text-export") as tmp, open(tmp, "w", encoding="ascii") as f:
        sep = ""
        for batch in reader:
            ids = batch.tables[table].indices
            if len(ids):
                f.write(sep + ", ".join(map(str, ids.tolist())))
                sep = ", "
    return Path(out_file)
