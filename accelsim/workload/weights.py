"""Deterministic procedural DLRM parameters: any embedding row is generated on demand, never a whole table.

Real tables are too large to hold (MLPerf DLRM: 96 GB), so each row's values are a pure function of
(seed, table, row id): a counter-based hash (splitmix64 finaliser) mapped to DLRM's uniform init range
[-sqrt(1/rows), sqrt(1/rows)]. Generating k rows costs O(k * dim) whatever the table size.
MLP weights follow facebookresearch/dlrm `create_mlp`: W ~ normal(0, sqrt(2/(in+out))), b ~ normal(0, sqrt(1/out)).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from accelsim.config.workload import QUANT_BITS, ModelSpec, Table, row_layout_bytes
from accelsim.errors import InputError
from accelsim.kernels.compressed import CompressedWeights, round_to_dtype
from accelsim.kernels.reference import CrossLayer, DenseLayer

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_UNIT = 1.0 / float(1 << 24)  # a 24-bit draw fills a float32 mantissa exactly


@njit(cache=True)
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _fill_rows(key, row_ids, bound, out):
    dim = out.shape[1]
    for i in range(row_ids.shape[0]):
        base = _mix64(key + np.uint64(row_ids[i]) * _GOLDEN)
        for j in range(dim):
            h = _mix64(base + np.uint64(j + 1) * _GOLDEN)
            u = np.float64(h >> np.uint64(40)) * _UNIT
            out[i, j] = np.float32((2.0 * u - 1.0) * bound)


def table_key(seed: int, table: int) -> np.uint64:
    """The hash key of one table: distinct tables of one seed draw independent rows."""
    if seed < 0 or table < 0:
        raise InputError(f"seed and table must be non-negative, got seed={seed}, table={table}")
    # numba hands uint64 results back as Python ints; re-wrap so the row kernel is compiled for uint64 keys
    return np.uint64(_mix64(np.uint64(_mix64(np.uint64(seed % (1 << 64)))) ^ np.uint64(table)))


def table_rows_values(seed: int, table: int, row_ids: np.ndarray, dim: int, num_rows: int) -> np.ndarray:
    """fp32 values (len(row_ids), dim) of the given rows of a `num_rows`-row table; pure in (seed, table, row)."""
    row_ids = np.ascontiguousarray(row_ids, dtype=np.int64).reshape(-1)
    if row_ids.size and (row_ids.min() < 0 or row_ids.max() >= num_rows):
        bad = row_ids.min() if row_ids.min() < 0 else row_ids.max()
        raise InputError(f"table {table}: row {bad} out of range [0, {num_rows})")
    out = np.empty((row_ids.size, dim), dtype=np.float32)
    _fill_rows(table_key(seed, table), row_ids, float(np.sqrt(1.0 / num_rows)), out)
    return out


def _dense_layers(rng: np.random.Generator, widths: list[tuple[int, int]]) -> tuple[DenseLayer, ...]:
    return tuple(
        DenseLayer(weight=rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), (n_out, n_in)).astype(np.float32),
                   bias=rng.normal(0.0, np.sqrt(1.0 / n_out), n_out).astype(np.float32))
        for n_in, n_out in widths
    )


def _cross_layers(rng: np.random.Generator, width: int, rank: int, layers: int) -> tuple[CrossLayer, ...]:
    # torchrec's LowRankCrossNet draws U and V xavier-normal (the same std) and starts the bias at zero; a
    # non-zero bias (DLRM's bias rule) keeps the bias path of every checked datapath exercised.
    std = np.sqrt(2.0 / (width + rank))
    return tuple(
        CrossLayer(u=rng.normal(0.0, std, (width, rank)).astype(np.float32),
                   v=rng.normal(0.0, std, (rank, width)).astype(np.float32),
                   bias=rng.normal(0.0, np.sqrt(1.0 / width), width).astype(np.float32))
        for _ in range(layers)
    )


# Separates the dense-feature stream of (seed, batch) from its bag stream. The simulator's functional model
# draws dense inputs through dense_inputs too, so replaying a captured trace reproduces the model's inputs.
_DENSE_STREAM = 0xDE05E


def dense_inputs(spec: ModelSpec, batch_size: int, seed: int, batch_index: int) -> np.ndarray:
    """Dense features U[0,1) (B, features) fp32 of one batch, as DLRM's random data; pure in (seed, batch)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, batch_index, _DENSE_STREAM]))
    return rng.random((batch_size, spec.dense_features), dtype=np.float32)


@dataclass(frozen=True, eq=False)
class DlrmParams:
    """All parameters of a DLRM-family model; embedding rows are produced on demand from (seed, table, row)."""

    seed: int
    embedding_dim: int
    table_rows: tuple[int, ...]
    pooling: str
    interaction: str
    bottom: tuple[DenseLayer, ...]
    top: tuple[DenseLayer, ...]
    cross: tuple[CrossLayer, ...]
    storage: tuple[int, ...] = ()  # per table: the table whose rows it reads (shared_with); empty: its own

    @classmethod
    def from_spec(cls, spec: ModelSpec, seed: int) -> "DlrmParams":
        """Draw MLP (bottom, then cross, then top) weights from numpy's default_rng(seed)."""
        if seed < 0:
            raise InputError(f"seed must be non-negative, got {seed}")
        rng = np.random.default_rng(seed)
        bottom = _dense_layers(rng, list(spec.bottom_layers))
        cross = () if spec.dcnv2 is None else _cross_layers(rng, spec.top_input_width, spec.dcnv2.rank,
                                                              spec.dcnv2.layers)
        top = _dense_layers(rng, list(spec.top_layers))
        return cls(seed=seed, embedding_dim=spec.embedding_dim, table_rows=tuple(t.rows for t in spec.table_list),
                   pooling=spec.pooling, interaction=spec.interaction, bottom=bottom, top=top, cross=cross,
                   storage=tuple(t.storage for t in spec.table_list))

    def table_rows_values(self, table: int, row_ids: np.ndarray) -> np.ndarray:
        """fp32 rows (len(row_ids), dim) of table `table`."""
        if not 0 <= table < len(self.table_rows):
            raise InputError(f"table {table} out of range: the model has {len(self.table_rows)} tables")
        src = self.storage[table] if self.storage else table  # two features of one table read the same rows
        return table_rows_values(self.seed, src, row_ids, self.embedding_dim, self.table_rows[src])


# ---------------------------------------------------------------------------------------------------------
# A model's own weights: stored with a captured trace (`weights/`), or given as a torch state file
# ---------------------------------------------------------------------------------------------------------

WEIGHTS_INDEX = "weights.json"


@dataclass(frozen=True, eq=False)
class ModelWeights:
    """A real model's parameters in accelsim's layout; `feature_tables[t]` is the table trace table t reads
    (two features of one shared table read the same arrays). Each table is its stored parts (one (rows, dim)
    array for a plain table; a compressed table's parts and dense factors; FBGEMM's fused uint8 rows when
    row-wise quantised), as accelsim.kernels.compressed reads them. For plain tables of the model's dim it
    provides what reference.dlrm_forward needs."""

    tables: tuple[CompressedWeights, ...]
    feature_tables: tuple[int, ...]
    embedding_dim: int
    pooling: str
    interaction: str
    bottom: tuple[DenseLayer, ...]
    top: tuple[DenseLayer, ...]
    cross: tuple[CrossLayer, ...]

    @property
    def table_rows(self) -> tuple[int, ...]:
        """Rows of the table behind each trace table."""
        return tuple(self.tables[k].parts[0].shape[0] for k in self.feature_tables)

    def table_rows_values(self, table: int, row_ids: np.ndarray) -> np.ndarray:
        """fp32 rows (len(row_ids), dim) of the plain table behind trace table `table`."""
        return self.tables[self.feature_tables[table]].parts[0][np.asarray(row_ids, dtype=np.int64)]

    def table(self, feature: int) -> CompressedWeights:
        """The stored arrays of the table behind trace table `feature`."""
        return self.tables[self.feature_tables[feature]]


def _one_array(parts: int, dense: int, quantised: bool) -> bool:
    """A table stored as one float array and nothing else is named table_K; any other as its parts."""
    return parts == 1 and dense == 0 and not quantised


def _table_arrays(k: int, t: CompressedWeights) -> dict[str, np.ndarray]:
    if _one_array(len(t.parts), len(t.dense), t.parts[0].dtype == np.uint8):
        return {f"table_{k}": t.parts[0]}
    return {**{f"table_{k}.part_{j}": p for j, p in enumerate(t.parts)},
            **{f"table_{k}.dense_{j}": d for j, d in enumerate(t.dense)}}


def _dense_shapes(table: Table) -> tuple[tuple[int, int], ...]:
    """Shapes of a table's dense factors: md projections (stored dim, dim), the low-rank V (rank, dim)."""
    c = table.compression
    if c is not None and c.scheme == "md":
        return tuple((d, table.dim) for d in c.dims)
    if c is not None and c.scheme == "lowrank":
        return ((c.rank, table.dim),)
    return ()


def _weight_arrays(w: ModelWeights) -> dict[str, np.ndarray]:
    out = {name: a for k, t in enumerate(w.tables) for name, a in _table_arrays(k, t).items()}
    for part, layers in (("bottom", w.bottom), ("top", w.top)):
        for i, (weight, bias) in enumerate(layers):
            out[f"{part}_{i}.weight"], out[f"{part}_{i}.bias"] = weight, bias
    for i, (u, v, bias) in enumerate(w.cross):
        out[f"cross_{i}.u"], out[f"cross_{i}.v"], out[f"cross_{i}.bias"] = u, v, bias
    out["feature_tables"] = np.asarray(w.feature_tables, dtype=np.int64)
    return out


def save_weights(w: ModelWeights, folder: Path) -> None:
    """Write `w` as one .npy per array into `folder` (created), plus an index naming them."""
    folder.mkdir(parents=True, exist_ok=False)
    arrays = _weight_arrays(w)
    for name, a in arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(a))
    (folder / WEIGHTS_INDEX).write_text(json.dumps({"format": "accelsim-weights", "arrays": sorted(arrays)}) + "\n")


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Arrays by name from a weights folder (.npy, never pickles) or a torch file (weights_only=True)."""
    if path.is_dir():
        out = {}
        for f in sorted(path.glob("*.npy")):
            try:
                out[f.stem] = np.load(f, allow_pickle=False)
            except (ValueError, OSError, EOFError) as err:
                raise InputError(f"{f}: not a readable .npy array ({err})") from None
            if not isinstance(out[f.stem], np.ndarray):  # np.load opens an .npz archive too
                raise InputError(f"{f}: an .npz archive, expected one .npy array")
        return out
    if not path.is_file():
        raise InputError(f"{path}: no such weights file or folder")
    import torch  # only for torch files

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds (pickle, zip, unsafe global): all mean "not weights"
        raise InputError(f"{path}: not a torch weights file loadable with weights_only=True "
                         f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise InputError(f"{path}: expected a dict of named tensors (as save_weights names them)")
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def load_weights(path: str | Path, spec: ModelSpec) -> ModelWeights:
    """Load a model's weights for `spec` (a weights folder or a torch file), checking every shape.

    fp16 / bf16 tables are rounded to their dtype; int8 / int4 tables are FBGEMM's fused uint8 rows.
    """
    path = Path(path)
    num_features = spec.num_tables
    arrays = _read_arrays(path)

    def take(name: str, shape: tuple[int, ...], fused: bool = False) -> np.ndarray:
        kind = "uint8 (fused row-wise quantised rows)" if fused else "float"
        if name not in arrays:
            raise InputError(f"{path}: no array {name!r} (expected {kind} {shape})")
        a = arrays[name]
        if a.shape != shape or (a.dtype != np.uint8 if fused else a.dtype.kind not in "fiu"):
            raise InputError(f"{path}: {name} is {a.dtype} {a.shape}, expected {kind} {shape}")
        if fused:
            return np.ascontiguousarray(a)
        a = np.ascontiguousarray(a, dtype=np.float32)
        if not np.isfinite(a).all():
            raise InputError(f"{path}: {name} holds non-finite values")
        return a

    def table_weights(k: int, t: Table) -> CompressedWeights:
        fused = t.dtype in QUANT_BITS
        shapes = [(n, row_layout_bytes(e, t.dtype) if fused else e) for n, e in t.parts]
        if _one_array(len(shapes), len(_dense_shapes(t)), fused):
            return CompressedWeights(parts=(round_to_dtype(take(f"table_{k}", shapes[0]), t.dtype),))
        return CompressedWeights(
            parts=tuple(round_to_dtype(take(f"table_{k}.part_{j}", s, fused), t.dtype) for j, s in enumerate(shapes)),
            dense=tuple(take(f"table_{k}.dense_{j}", s) for j, s in enumerate(_dense_shapes(t))))

    ft = arrays.get("feature_tables", np.arange(num_features))
    if ft.dtype.kind not in "iu" or ft.shape != (num_features,) or (ft.size and ft.min() < 0):
        raise InputError(f"{path}: feature_tables must be {num_features} non-negative integers, got {ft.dtype} "
                         f"{ft.shape}")
    feature_tables = tuple(int(k) for k in ft)
    if set(feature_tables) != set(range(len(set(feature_tables)))):
        raise InputError(f"{path}: feature_tables {list(feature_tables)} must number the tables 0, 1, ... in use")
    owner: dict[int, Table] = {}

    def layout(t: Table) -> str:
        return f"{t.rows} rows of dim {t.dim}, {t.dtype}, compression {t.scheme}"
    for t, k in enumerate(feature_tables):
        table = spec.table_list[t]
        first = owner.setdefault(k, table)
        if (first.rows, first.dim, first.dtype, first.compression) != (table.rows, table.dim, table.dtype,
                                                                        table.compression):
            raise InputError(f"{path}: trace tables {first.index} and {t} share table_{k}, but the workload gives "
                             f"them {layout(first)} and {layout(table)}")
    tables = tuple(table_weights(k, owner[k]) for k in range(len(owner)))

    def dense(part: str, widths: tuple[tuple[int, int], ...]) -> tuple[DenseLayer, ...]:
        return tuple(DenseLayer(take(f"{part}_{i}.weight", (o, n)), take(f"{part}_{i}.bias", (o,)))
                     for i, (n, o) in enumerate(widths))

    n, rank = spec.top_input_width, spec.dcnv2.rank if spec.dcnv2 else 0
    cross = tuple(CrossLayer(take(f"cross_{i}.u", (n, rank)), take(f"cross_{i}.v", (rank, n)),
                             take(f"cross_{i}.bias", (n,))) for i in range(spec.dcnv2.layers if spec.dcnv2 else 0))
    return ModelWeights(tables=tables, feature_tables=feature_tables, embedding_dim=spec.embedding_dim,
                        pooling=spec.pooling, interaction=spec.interaction, bottom=dense("bottom", spec.bottom_layers),
                        top=dense("top", spec.top_layers), cross=cross)
