"""ModelSpec: a recommendation model's tables, MLPs and interaction, and what follows from them."""

from __future__ import annotations

from functools import cached_property
from itertools import accumulate
from pathlib import Path
from math import ceil, gcd, prod
from typing import Annotated, Literal, Union

from pydantic import Field, PositiveInt, model_validator

from accelsim.config.base import Model, load_yaml, resolve_named

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}  # activations; rows: see row_layout_bytes
# FBGEMM's fused row-wise quantised rows: the codes, then the row's scale and bias (fp32 for 8-bit rows,
# fp16 for 4-bit rows, two codes per byte), as FloatToFused8BitRowwiseQuantized and
# FloatToFusedNBitRowwiseQuantizedSBHalf lay them out.
QUANT_BITS = {"int8": 8, "int4": 4}
QUANT_SCALE_BIAS_BYTES = {"int8": 8, "int4": 4}
FLOPS_PER_DEQUANT = 2  # x * scale + bias, per element
PROJECTION_BYTES_PER_ELEM = 4  # md projections, low-rank V factors: fp32 dense weights
REPO_ROOT = Path(__file__).resolve().parents[2]
WORKLOADS_DIR = REPO_ROOT / "workloads"
Width = Annotated[int, Field(gt=0, le=2**20)]  # one MLP layer's width
MAX_TABLES = 2**16  # the largest published models have ~10^3 tables
MAX_MLP_WEIGHTS = 2**28  # 1 GiB of fp32 weights; MLPerf DLRM-DCNv2 has ~2^22


Dtype = Literal["fp32", "fp16", "bf16", "int8"]
RowDtype = Literal["fp32", "fp16", "bf16", "int8", "int4"]
Pooling = Literal["sum", "mean", "max"]


def row_layout_bytes(elems: int, dtype: str) -> int:
    """Bytes of one stored row of `elems` elements (row-wise quantised rows carry their scale and bias)."""
    if dtype in QUANT_BITS:
        return ceil(elems * QUANT_BITS[dtype] / 8) + QUANT_SCALE_BIAS_BYTES[dtype]
    return elems * DTYPE_BYTES[dtype]


def lines_per_row(row_bytes: int, line_bytes: int) -> float:
    """Mean cache lines a row touches when rows are packed back to back from a line-aligned base.

    Row starts fall on multiples of gcd(row_bytes, line_bytes) within a line, each equally often over a table.
    """
    g = gcd(row_bytes, line_bytes)
    return sum((off + row_bytes - 1) // line_bytes + 1 for off in range(0, line_bytes, g)) / (line_bytes // g)


class Md(Model):
    """Mixed-dimension embeddings (Ginart et al.): row blocks stored at smaller dims, projected to the table dim."""

    scheme: Literal["md"]
    dims: tuple[PositiveInt, ...] = Field(min_length=1, description="stored dim of each row block")
    block_rows: tuple[PositiveInt, ...] | None = Field(
        None, description="rows of each block, hottest first; default one block of all rows")


class Qr(Model):
    """Quotient-remainder trick (Shi et al.; DLRM's QREmbeddingBag): two tables, pooled, then combined."""

    scheme: Literal["qr"]
    collisions: PositiveInt = Field(description="rows of the remainder table; the quotient table has rows/collisions")
    operation: Literal["mult", "add", "concat"] = "mult"


class Hash(Model):
    """Multi-hash (Bloom) embeddings: k hash functions into one table; the k rows are summed or concatenated."""

    scheme: Literal["hash"]
    hashes: PositiveInt
    hash_rows: PositiveInt = Field(description="rows of the hashed table")
    combine: Literal["sum", "concat"] = "sum"


class Tt(Model):
    """Tensor-train table (TT-Rec): cores G_k of shape (r_{k-1}, n_k, d_k, r_k), r_0 = r_K = 1."""

    scheme: Literal["tt"]
    row_factors: tuple[PositiveInt, ...] = Field(min_length=2, description="n_k; their product covers the rows")
    dim_factors: tuple[PositiveInt, ...] = Field(min_length=2, description="d_k; their product is the dim")
    ranks: tuple[PositiveInt, ...] = Field(description="r_1 .. r_{K-1}")


class LowRank(Model):
    """Low-rank factors E = U V: U (rows x rank) stored per row, V (rank x dim) dense; rows rebuilt per lookup."""

    scheme: Literal["lowrank"]
    rank: PositiveInt


Compression = Annotated[Union[Md, Qr, Hash, Tt, LowRank], Field(discriminator="scheme")]


class TableGroup(Model):
    """`count` identical embedding tables (features); `dim`, `dtype`, `pooling` default to the model's."""

    rows: PositiveInt | None = Field(None, le=2**40,  # far above any published model, far below int64 overflow
                                     description="rows of each table; taken from the table named by shared_with")
    lookups_per_sample: PositiveInt = Field(le=2**16,
                                            description="bag size (max bag size when bag_size_dist is uniform)")
    count: PositiveInt = Field(1, le=2**16)
    bag_size_dist: Literal["fixed", "uniform"] = Field(
        "fixed", description="fixed: every bag has lookups_per_sample rows; uniform: U[1, lookups_per_sample]"
    )
    name: str | None = Field(None, min_length=1, description="identifier other groups' shared_with may name")
    dim: PositiveInt | None = Field(None, le=2**16, description="elements per row (default: the model's embedding_dim)")
    dtype: RowDtype | None = None
    pooling: Pooling | None = None
    shared_with: str | None = Field(None, description="name of a one-table group whose rows these features read")
    compression: Compression | None = None


class Table(Model):
    """One embedding table (feature) as the simulator sees it; `storage` is the table whose rows it reads.

    A table is stored as `parts` (sub-tables of rows x elements: one for a plain table, the quotient and
    remainder tables of QR, the cores of a tensor train, ...); a lookup reads rows of them as its scheme says.
    Per-lookup figures assume uniformly popular rows where the scheme makes them row-dependent (md blocks).
    """

    index: int
    name: str
    rows: int
    dim: int
    dtype: str
    row_bytes: int
    pooling: str
    lookups_per_sample: int
    bag_size_dist: str
    storage: int
    compression: Compression | None = None

    @property
    def owns_storage(self) -> bool:
        """False for a feature that reads another table's rows (shared_with): it adds no bytes to memory."""
        return self.storage == self.index

    @property
    def scheme(self) -> str:
        return self.compression.scheme if self.compression is not None else "none"

    @property
    def parts(self) -> tuple[tuple[int, int], ...]:
        """(rows, elements per row) of each stored sub-table."""
        c, d = self.compression, self.dim
        if c is None:
            return ((self.rows, d),)
        if c.scheme == "md":
            return tuple(zip(c.block_rows or (self.rows,), c.dims))
        if c.scheme == "qr":
            half = (ceil(d / 2), d // 2) if c.operation == "concat" else (d, d)
            return ((ceil(self.rows / c.collisions), half[0]), (c.collisions, half[1]))
        if c.scheme == "hash":
            return ((c.hash_rows, d // c.hashes if c.combine == "concat" else d),)
        if c.scheme == "tt":
            r = (1, *c.ranks, 1)
            return tuple((n, r[k] * dk * r[k + 1]) for k, (n, dk) in enumerate(zip(c.row_factors, c.dim_factors)))
        return ((self.rows, c.rank),)

    @property
    def part_row_bytes(self) -> tuple[int, ...]:
        return tuple(row_layout_bytes(e, self.dtype) for _, e in self.parts)

    @property
    def part_read_shares(self) -> tuple[float, ...]:
        """Rows each lookup reads from each part (the expected count for md blocks, chosen by the row id)."""
        c = self.compression
        if c is not None and c.scheme == "md":
            return tuple(n / self.rows for n, _ in self.parts)
        if c is not None and c.scheme == "hash":
            return (float(c.hashes),)
        return (1.0,) * len(self.parts)

    @property
    def dense_weight_bytes(self) -> int:
        """md projections and the low-rank V factor: small fp32 matrices kept next to the compute."""
        c = self.compression
        if c is not None and c.scheme == "md":
            return sum(dk * self.dim for dk in c.dims) * PROJECTION_BYTES_PER_ELEM
        if c is not None and c.scheme == "lowrank":
            return c.rank * self.dim * PROJECTION_BYTES_PER_ELEM
        return 0

    @property
    def size_bytes(self) -> int:
        """Bytes stored: every part's rows, plus dense factors."""
        return sum(n * b for (n, _), b in zip(self.parts, self.part_row_bytes)) + self.dense_weight_bytes

    @property
    def bytes_gathered_per_lookup(self) -> float:
        """Bytes of rows one lookup reads (the useful bytes, before rounding to lines)."""
        return float(sum(s * b for s, b in zip(self.part_read_shares, self.part_row_bytes)))

    def lines_per_lookup(self, line_bytes: int) -> float:
        """Cache lines one lookup touches when no line is shared with another lookup."""
        return sum(s * lines_per_row(b, line_bytes) for s, b in zip(self.part_read_shares, self.part_row_bytes))

    @property
    def elements_read_per_lookup(self) -> float:
        return float(sum(s * e for s, (_, e) in zip(self.part_read_shares, self.parts)))

    @property
    def extra_flops_per_lookup(self) -> float:
        """FLOPs one lookup needs beyond adding a dim-wide row into its bag: dequantisation and decompression."""
        c, d = self.compression, self.dim
        flops = FLOPS_PER_DEQUANT * self.elements_read_per_lookup if self.dtype in QUANT_BITS else 0.0
        if c is None:
            return flops
        if c.scheme == "hash" and c.combine == "sum":
            flops += (c.hashes - 1) * d
        return flops + self.rebuild_flops_per_lookup

    @property
    def rebuild_flops_per_lookup(self) -> float:
        """The matrix work of rebuilding one looked-up row (tensor-train contraction, low-rank U V); 0 otherwise."""
        c = self.compression
        if c is not None and c.scheme == "tt":
            return tt_contraction_flops(c)
        if c is not None and c.scheme == "lowrank":
            return float(2 * c.rank * self.dim)
        return 0.0

    @property
    def extra_flops_per_bag(self) -> float:
        """FLOPs per pooled bag: md projects each block's pooled vector, qr combines its two pooled vectors."""
        c, d = self.compression, self.dim
        if c is not None and c.scheme == "md":
            return float(sum(2 * dk * d for dk in c.dims))
        if c is not None and c.scheme == "qr" and c.operation != "concat":
            return float(d)
        return 0.0

    @property
    def mean_bag_lookups(self) -> float:
        return float(self.lookups_per_sample if self.bag_size_dist == "fixed" else (1 + self.lookups_per_sample) / 2)

    @property
    def extra_flops_per_lookup_total(self) -> float:
        """extra_flops_per_lookup plus the per-bag work spread over a mean bag."""
        return self.extra_flops_per_lookup + self.extra_flops_per_bag / self.mean_bag_lookups


def tt_contraction_flops(c: Tt) -> float:
    """FLOPs to rebuild one row from its K core slices, contracting left to right (TT-Rec's order)."""
    r = (1, *c.ranks, 1)
    flops, width = 0.0, c.dim_factors[0]  # the running product is (d_1...d_{k-1}) x r_{k-1}
    for k in range(1, len(c.dim_factors)):
        flops += 2 * width * r[k] * c.dim_factors[k] * r[k + 1]
        width *= c.dim_factors[k]
    return flops


class DCNv2(Model):
    """DCNv2 low-rank cross network applied to the concatenated features (MLPerf DLRM-DCNv2)."""

    layers: PositiveInt = Field(le=2**8)
    rank: PositiveInt = Field(le=2**16)


class ModelSpec(Model):
    """A DLRM-family model. `bottom_mlp` lists widths from the dense input; `top_mlp` lists layer outputs."""

    name: str
    source: str = Field(description="where the numbers come from")
    embedding_dim: PositiveInt = Field(le=2**16)
    dtype: Dtype = "fp32"
    pooling: Pooling = "sum"
    tables: tuple[TableGroup, ...] = Field(min_length=1, max_length=2**16)
    bottom_mlp: tuple[Width, ...] = Field(min_length=1, max_length=64,
                                          description="dense features first, then layer outputs")
    top_mlp: tuple[Width, ...] = Field(min_length=1, max_length=64,
                                       description="layer output widths; input is derived")
    interaction: Literal["dot", "cat", "dcnv2"] = "dot"
    dcnv2: DCNv2 | None = None
    default_batch_size: PositiveInt = Field(128, le=2**20)

    @model_validator(mode="after")
    def _consistent(self) -> "ModelSpec":
        if self.num_tables > MAX_TABLES:
            raise ValueError(f"tables: {self.num_tables} tables in all (sum of count); the limit is {MAX_TABLES}")
        if len(self.bottom_mlp) >= 2 and self.bottom_mlp[-1] != self.embedding_dim:
            raise ValueError(
                f"bottom_mlp: last width {self.bottom_mlp[-1]} must equal embedding_dim {self.embedding_dim}"
            )
        if len(self.bottom_mlp) == 1 and self.interaction != "dcnv2" and self.bottom_mlp[0] != self.embedding_dim:
            raise ValueError("bottom_mlp: with no bottom layers the dense width must equal embedding_dim")
        if (self.interaction == "dcnv2") != (self.dcnv2 is not None):
            raise ValueError("dcnv2: required exactly when interaction is 'dcnv2'")
        if self.top_mlp[-1] != 1:
            raise ValueError(f"top_mlp: last width must be 1 (the click probability), got {self.top_mlp[-1]}")
        _check_groups(self)
        if self.interaction == "dot":
            for i, g in enumerate(self.tables):
                dim = self._layout(g)[0]
                if dim != self.embedding_dim:
                    raise ValueError(
                        f"tables.{i}.dim: {dim} differs from embedding_dim {self.embedding_dim}; interaction 'dot' "
                        "multiplies features pairwise, so every pooled width must equal embedding_dim (interaction "
                        "'cat' allows mixed dims: its input sums them)")
        return self

    @model_validator(mode="after")
    def _weights_fit(self) -> "ModelSpec":
        # checked after _consistent, so the layer widths below are well defined
        weights = sum(i * o for i, o in (*self.bottom_layers, *self.top_layers))
        if weights > MAX_MLP_WEIGHTS:
            raise ValueError(f"top_mlp: the MLPs hold {weights} weights (the functional model materialises them); "
                             f"the limit is {MAX_MLP_WEIGHTS}")
        return self

    def _layout(self, g: TableGroup) -> tuple[int, str, int, Compression | None]:
        """(dim, dtype, rows, compression) of the rows a group's features read: its own or its target's."""
        src = self.tables[_group_index(self.tables, g.shared_with)] if g.shared_with else g
        return src.dim or self.embedding_dim, src.dtype or self.dtype, src.rows, src.compression

    @cached_property
    def table_list(self) -> tuple[Table, ...]:
        """One Table per feature, in trace order; a shared_with feature reads its target's rows and layout."""
        starts = list(accumulate((g.count for g in self.tables), initial=0))
        out = []
        for gi, g in enumerate(self.tables):
            dim, dtype, rows, comp = self._layout(g)
            for k in range(g.count):
                i = starts[gi] + k
                name = (g.name if g.count == 1 else f"{g.name}[{k}]") if g.name else f"table{i}"
                storage = starts[_group_index(self.tables, g.shared_with)] if g.shared_with else i
                out.append(Table(index=i, name=name, rows=rows, dim=dim, dtype=dtype,
                                 row_bytes=row_layout_bytes(dim, dtype), pooling=g.pooling or self.pooling,
                                 lookups_per_sample=g.lookups_per_sample, bag_size_dist=g.bag_size_dist,
                                 storage=storage, compression=comp))
        return tuple(out)

    @property
    def num_tables(self) -> int:
        return sum(g.count for g in self.tables)

    @property
    def dense_features(self) -> int:
        return self.bottom_mlp[0]

    @property
    def elem_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def row_bytes(self) -> int:
        return self.embedding_dim * self.elem_bytes

    @property
    def bottom_out_width(self) -> int:
        return self.bottom_mlp[-1] if len(self.bottom_mlp) >= 2 else self.bottom_mlp[0]

    @property
    def num_features(self) -> int:
        """F: pooled tables plus the bottom-MLP output."""
        return self.num_tables + 1

    @property
    def top_input_width(self) -> int:
        f = self.num_features
        if self.interaction == "dot":
            return f * (f - 1) // 2 + self.bottom_out_width
        return self.bottom_out_width + sum(t.dim for t in self.table_list)

    @property
    def bottom_layers(self) -> tuple[tuple[int, int], ...]:
        """(in, out) of each bottom Linear."""
        w = self.bottom_mlp
        return tuple(zip(w[:-1], w[1:]))

    @property
    def top_layers(self) -> tuple[tuple[int, int], ...]:
        """(in, out) of each top Linear."""
        w = (self.top_input_width, *self.top_mlp)
        return tuple(zip(w[:-1], w[1:]))

    @property
    def pooled_width(self) -> int:
        """Elements of all pooled vectors of one sample (what the embedding stage hands the interaction)."""
        return sum(t.dim for t in self.table_list)

    @property
    def total_table_bytes(self) -> int:
        """Bytes of table storage: a table read by several features (shared_with) counts once."""
        return sum(t.size_bytes for t in self.table_list if t.owns_storage)

    @property
    def mean_lookups_per_sample(self) -> float:
        """Expected lookups per sample over all tables (uniform bags average (1+K)/2)."""
        return float(sum(
            g.count * (g.lookups_per_sample if g.bag_size_dist == "fixed" else (1 + g.lookups_per_sample) / 2)
            for g in self.tables
        ))

    @property
    def bytes_gathered_per_sample(self) -> float:
        return float(sum(t.bytes_gathered_per_lookup * t.mean_bag_lookups for t in self.table_list))

    @property
    def extra_flops_per_sample(self) -> float:
        """Dequantisation and decompression FLOPs of one sample over all tables."""
        return float(sum(t.extra_flops_per_lookup * t.mean_bag_lookups + t.extra_flops_per_bag
                         for t in self.table_list))


def _group_index(groups: tuple[TableGroup, ...], name: str) -> int:
    return next(i for i, g in enumerate(groups) if g.name == name)


def _check_groups(spec: ModelSpec) -> None:
    """Names are unique; shared_with names a one-table group that is not itself shared; rows given or shared."""
    groups = spec.tables
    seen: dict[str, int] = {}
    for i, g in enumerate(groups):
        if g.name is not None:
            if g.name in seen:
                raise ValueError(f"tables.{i}.name: {g.name!r} is already the name of tables.{seen[g.name]}")
            seen[g.name] = i
    for i, g in enumerate(groups):
        if g.compression is not None:
            _check_compression(g.compression, g.rows, g.dim or spec.embedding_dim, g.dtype or spec.dtype,
                               f"tables.{i}.compression")
        if g.shared_with is None:
            if g.rows is None:
                raise ValueError(f"tables.{i}.rows: missing required field (only a shared_with group may omit it)")
            continue
        at = f"tables.{i}.shared_with"
        if g.shared_with not in seen:
            raise ValueError(f"{at}: no table group is named {g.shared_with!r} (names: {sorted(seen) or 'none'})")
        j = seen[g.shared_with]
        target = groups[j]
        if j == i:
            raise ValueError(f"{at}: a group cannot share its own rows")
        if target.shared_with is not None:
            raise ValueError(f"{at}: {g.shared_with!r} itself reads {target.shared_with!r}; name the table that "
                             "holds the rows")
        if target.count != 1:
            raise ValueError(f"{at}: {g.shared_with!r} has count {target.count}; a shared table must be one table")
        for field, theirs in zip(("dim", "dtype", "rows", "compression"), spec._layout(target)):
            mine = getattr(g, field)
            if mine is not None and mine != theirs:
                raise ValueError(f"tables.{i}.{field}: {mine!r} differs from {theirs!r} of {g.shared_with!r}, "
                                 "whose rows this group reads (leave it out: it is taken from there)")


def resolve_workload_path(name_or_path: str) -> Path:
    """A shipped workload name (`rm1`) or a path to a YAML file."""
    return resolve_named(name_or_path, WORKLOADS_DIR, "workload")


def load_workload(name_or_path: str) -> ModelSpec:
    """Load a ModelSpec by shipped name or path."""
    return load_yaml(ModelSpec, resolve_workload_path(name_or_path))


def _check_compression(c: Compression, rows: int | None, dim: int, dtype: str, at: str) -> None:
    """Each scheme's shapes fit the table they replace."""
    if rows is None:
        return  # a shared_with group takes its target's compression (and may not restate another)
    if c.scheme == "md":
        blocks = c.block_rows or (rows,)
        if len(blocks) != len(c.dims):
            raise ValueError(f"{at}.block_rows: {len(blocks)} blocks for {len(c.dims)} dims")
        if sum(blocks) != rows:
            raise ValueError(f"{at}.block_rows: blocks hold {sum(blocks)} rows, the table has {rows}")
    elif c.scheme == "qr":
        if c.collisions > rows:
            raise ValueError(f"{at}.collisions: {c.collisions} exceeds the table's {rows} rows")
        if c.operation == "concat" and dim < 2:
            raise ValueError(f"{at}.operation: concat splits the dim in two, dim {dim} is too small")
    elif c.scheme == "hash":
        if c.combine == "concat" and dim % c.hashes:
            raise ValueError(f"{at}.hashes: concat of {c.hashes} rows needs a dim divisible by it, got {dim}")
    elif c.scheme == "tt":
        k = len(c.row_factors)
        if len(c.dim_factors) != k or len(c.ranks) != k - 1:
            raise ValueError(f"{at}: {k} row_factors need {k} dim_factors and {k - 1} ranks, got "
                             f"{len(c.dim_factors)} and {len(c.ranks)}")
        if prod(c.dim_factors) != dim:
            raise ValueError(f"{at}.dim_factors: product {prod(c.dim_factors)} must equal the dim {dim}")
        if prod(c.row_factors) < rows:
            raise ValueError(f"{at}.row_factors: product {prod(c.row_factors)} covers fewer than the {rows} rows")
        if dtype in QUANT_BITS:
            raise ValueError(f"{at}: tensor-train cores are float; dtype {dtype} is row-wise quantisation")
