"""ModelSpec: a recommendation model's tables, MLPs and interaction, and what follows from them."""

from __future__ import annotations

from functools import cached_property
from itertools import accumulate
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from accelsim.config.base import Model, load_yaml, resolve_named

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
REPO_ROOT = Path(__file__).resolve().parents[2]
WORKLOADS_DIR = REPO_ROOT / "workloads"


Dtype = Literal["fp32", "fp16", "bf16", "int8"]
Pooling = Literal["sum", "mean", "max"]


class TableGroup(Model):
    """`count` identical embedding tables (features); `dim`, `dtype`, `pooling` default to the model's."""

    rows: PositiveInt | None = Field(None, description="rows of each table; taken from the table named by shared_with")
    lookups_per_sample: PositiveInt = Field(description="bag size (max bag size when bag_size_dist is uniform)")
    count: PositiveInt = 1
    bag_size_dist: Literal["fixed", "uniform"] = Field(
        "fixed", description="fixed: every bag has lookups_per_sample rows; uniform: U[1, lookups_per_sample]"
    )
    name: str | None = Field(None, min_length=1, description="identifier other groups' shared_with may name")
    dim: PositiveInt | None = Field(None, description="elements per row (default: the model's embedding_dim)")
    dtype: Dtype | None = None
    pooling: Pooling | None = None
    shared_with: str | None = Field(None, description="name of a one-table group whose rows these features read")


class Table(Model):
    """One embedding table (feature) as the simulator sees it; `storage` is the table whose rows it reads."""

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

    @property
    def owns_storage(self) -> bool:
        """False for a feature that reads another table's rows (shared_with): it adds no bytes to memory."""
        return self.storage == self.index

    @property
    def size_bytes(self) -> int:
        return self.rows * self.row_bytes


class DCNv2(Model):
    """DCNv2 low-rank cross network applied to the concatenated features (MLPerf DLRM-DCNv2)."""

    layers: PositiveInt
    rank: PositiveInt


class ModelSpec(Model):
    """A DLRM-family model. `bottom_mlp` lists widths from the dense input; `top_mlp` lists layer outputs."""

    name: str
    source: str = Field(description="where the numbers come from")
    embedding_dim: PositiveInt
    dtype: Dtype = "fp32"
    pooling: Pooling = "sum"
    tables: tuple[TableGroup, ...] = Field(min_length=1)
    bottom_mlp: tuple[PositiveInt, ...] = Field(min_length=1, description="dense features first, then layer outputs")
    top_mlp: tuple[PositiveInt, ...] = Field(min_length=1, description="layer output widths; input is derived")
    interaction: Literal["dot", "cat", "dcnv2"] = "dot"
    dcnv2: DCNv2 | None = None
    default_batch_size: PositiveInt = 128

    @model_validator(mode="after")
    def _consistent(self) -> "ModelSpec":
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

    def _layout(self, g: TableGroup) -> tuple[int, str, int]:
        """(dim, dtype, rows) of the rows a group's features read: its own or its shared_with target's."""
        src = self.tables[_group_index(self.tables, g.shared_with)] if g.shared_with else g
        return src.dim or self.embedding_dim, src.dtype or self.dtype, src.rows

    @cached_property
    def table_list(self) -> tuple[Table, ...]:
        """One Table per feature, in trace order; a shared_with feature reads its target's rows and layout."""
        starts = list(accumulate((g.count for g in self.tables), initial=0))
        out = []
        for gi, g in enumerate(self.tables):
            dim, dtype, rows = self._layout(g)
            for k in range(g.count):
                i = starts[gi] + k
                name = (g.name if g.count == 1 else f"{g.name}[{k}]") if g.name else f"table{i}"
                storage = starts[_group_index(self.tables, g.shared_with)] if g.shared_with else i
                out.append(Table(index=i, name=name, rows=rows, dim=dim, dtype=dtype,
                                 row_bytes=dim * DTYPE_BYTES[dtype], pooling=g.pooling or self.pooling,
                                 lookups_per_sample=g.lookups_per_sample, bag_size_dist=g.bag_size_dist,
                                 storage=storage))
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
        return float(sum(
            t.row_bytes * (t.lookups_per_sample if t.bag_size_dist == "fixed" else (1 + t.lookups_per_sample) / 2)
            for t in self.table_list
        ))


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
        for field, theirs in zip(("dim", "dtype", "rows"), spec._layout(target)):
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
