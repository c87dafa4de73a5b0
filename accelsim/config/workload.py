"""ModelSpec: a recommendation model's tables, MLPs and interaction, and what follows from them."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PositiveInt, model_validator

from accelsim.config.base import Model, load_yaml, resolve_named

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
REPO_ROOT = Path(__file__).resolve().parents[2]
WORKLOADS_DIR = REPO_ROOT / "workloads"
Width = Annotated[int, Field(gt=0, le=2**20)]  # one MLP layer's width
MAX_TABLES = 2**16  # the largest published models have ~10^3 tables
MAX_MLP_WEIGHTS = 2**28  # 1 GiB of fp32 weights; MLPerf DLRM-DCNv2 has ~2^22


class TableGroup(Model):
    """`count` identical embedding tables."""

    rows: PositiveInt = Field(le=2**40)  # bounds: far above any published model, far below int64 overflow
    lookups_per_sample: PositiveInt = Field(le=2**16,
                                            description="bag size (max bag size when bag_size_dist is uniform)")
    count: PositiveInt = Field(1, le=2**16)
    bag_size_dist: Literal["fixed", "uniform"] = Field(
        "fixed", description="fixed: every bag has lookups_per_sample rows; uniform: U[1, lookups_per_sample]"
    )


class Table(Model):
    """One embedding table as the simulator sees it."""

    index: int
    rows: int
    dim: int
    row_bytes: int
    lookups_per_sample: int
    bag_size_dist: str

    @property
    def size_bytes(self) -> int:
        return self.rows * self.row_bytes


class DCNv2(Model):
    """DCNv2 low-rank cross network applied to the concatenated features (MLPerf DLRM-DCNv2)."""

    layers: PositiveInt = Field(le=2**8)
    rank: PositiveInt = Field(le=2**16)


class ModelSpec(Model):
    """A DLRM-family model. `bottom_mlp` lists widths from the dense input; `top_mlp` lists layer outputs."""

    name: str
    source: str = Field(description="where the numbers come from")
    embedding_dim: PositiveInt = Field(le=2**16)
    dtype: Literal["fp32", "fp16", "bf16", "int8"] = "fp32"
    pooling: Literal["sum", "mean", "max"] = "sum"
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
        return self

    @model_validator(mode="after")
    def _weights_fit(self) -> "ModelSpec":
        # checked after _consistent, so the layer widths below are well defined
        weights = sum(i * o for i, o in (*self.bottom_layers, *self.top_layers))
        if weights > MAX_MLP_WEIGHTS:
            raise ValueError(f"top_mlp: the MLPs hold {weights} weights (the functional model materialises them); "
                             f"the limit is {MAX_MLP_WEIGHTS}")
        return self

    @cached_property
    def table_list(self) -> tuple[Table, ...]:
        out, i = [], 0
        for g in self.tables:
            for _ in range(g.count):
                out.append(Table(index=i, rows=g.rows, dim=self.embedding_dim, row_bytes=self.row_bytes,
                                 lookups_per_sample=g.lookups_per_sample, bag_size_dist=g.bag_size_dist))
                i += 1
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
        f, d = self.num_features, self.embedding_dim
        if self.interaction == "dot":
            return f * (f - 1) // 2 + self.bottom_out_width
        return self.bottom_out_width + self.num_tables * d

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
        return sum(t.size_bytes for t in self.table_list)

    @property
    def mean_lookups_per_sample(self) -> float:
        """Expected lookups per sample over all tables (uniform bags average (1+K)/2)."""
        return float(sum(
            g.count * (g.lookups_per_sample if g.bag_size_dist == "fixed" else (1 + g.lookups_per_sample) / 2)
            for g in self.tables
        ))

    @property
    def bytes_gathered_per_sample(self) -> float:
        return self.mean_lookups_per_sample * self.row_bytes


def resolve_workload_path(name_or_path: str) -> Path:
    """A shipped workload name (`rm1`) or a path to a YAML file."""
    return resolve_named(name_or_path, WORKLOADS_DIR, "workload")


def load_workload(name_or_path: str) -> ModelSpec:
    """Load a ModelSpec by shipped name or path."""
    return load_yaml(ModelSpec, resolve_workload_path(name_or_path))
