"""The cases a validation runs: EmbeddingBag calls, MLP stacks and whole DLRM forwards, from YAML or the default grid.

A grid file is `cases: [...]`, each case a mapping with `kind` (embedding_bag, mlp, dlrm) and its fields; every
field has the unit in its name where it has one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import Field, PositiveInt, field_validator

from accelsim.config.base import Model, parse_model, read_yaml
from accelsim.errors import InputError

Dist = Literal["uniform", "zipf"]


class EmbeddingBagCase(Model):
    """One torch.nn.EmbeddingBag(mode='sum') call on one fp32 table."""

    kind: Literal["embedding_bag"] = "embedding_bag"
    rows: PositiveInt
    dim: PositiveInt
    lookups: PositiveInt = Field(description="rows per bag (repeats inside a bag are dropped, as DLRM's are)")
    batch: PositiveInt
    dist: Dist = "uniform"
    alpha: float = Field(1.09, gt=1.0, description="Zipf exponent (ranks permuted over the table)")
    threads: PositiveInt = 1

    @property
    def name(self) -> str:
        d = self.dist if self.dist == "uniform" else f"zipf{self.alpha:g}"
        return f"eb_r{self.rows}_d{self.dim}_l{self.lookups}_b{self.batch}_{d}_t{self.threads}"

    @property
    def table_bytes(self) -> int:
        return self.rows * self.dim * 4


class MlpCase(Model):
    """A DLRM MLP stack: Linear + ReLU per layer, `widths` = input width then each layer's output."""

    kind: Literal["mlp"] = "mlp"
    widths: tuple[PositiveInt, ...] = Field(min_length=2)
    batch: PositiveInt
    threads: PositiveInt = 1

    @property
    def name(self) -> str:
        return f"mlp_{'-'.join(map(str, self.widths))}_b{self.batch}_t{self.threads}"


class DlrmCase(Model):
    """A whole forward of the project's PyTorch DLRM of a shipped workload, tables cut to `max_rows` rows."""

    kind: Literal["dlrm"] = "dlrm"
    workload: str

    @field_validator("workload")
    @classmethod
    def _known_workload(cls, v: str) -> str:
        from accelsim.config.workload import load_workload
        try:
            load_workload(v)  # an unknown name or a bad file is an error at its field, naming the grid file
        except InputError as err:
            raise ValueError(str(err)) from None
        return v
    max_rows: PositiveInt = Field(description="each table keeps at most this many rows, so the model fits memory")
    batch: PositiveInt
    threads: PositiveInt = 1

    @property
    def name(self) -> str:
        return f"dlrm_{Path(self.workload).stem}_r{self.max_rows}_b{self.batch}_t{self.threads}"


Case = Annotated[Union[EmbeddingBagCase, MlpCase, DlrmCase], Field(discriminator="kind")]


class Grid(Model):
    """A list of cases."""

    cases: tuple[Case, ...] = Field(min_length=1)


def load_grid(path: str | Path) -> Grid:
    """A user's grid file."""
    return parse_model(Grid, read_yaml(path), source=str(path))


def default_grid() -> Grid:
    """Every regime the issue names: tables L1-resident to >= 4x the LLC, dim 16..256, 1..100 lookups per bag,
    batch 1..2048, uniform and Zipf 1.05..1.2, 1 and 2 threads; DLRM-shaped MLPs; three whole DLRMs."""
    cases: list = []
    # Footprint ladder at dim 64: 16 KiB (L1), 512 KiB (L2), 3 MiB (LLC), 32 MiB, 256 MiB (>> LLC).
    for rows in (64, 2_000, 12_000, 128_000, 1_000_000):
        for dist, alpha in (("uniform", 1.09), ("zipf", 1.05), ("zipf", 1.2)):
            for threads in (1, 2):
                cases.append(EmbeddingBagCase(rows=rows, dim=64, lookups=40, batch=512, dist=dist, alpha=alpha,
                                              threads=threads))
    for dim in (16, 256):  # row width: one line to four lines per row
        for rows in (2_000, 128_000):
            cases.append(EmbeddingBagCase(rows=rows, dim=dim, lookups=40, batch=512, threads=1))
    for lookups, batch in ((1, 2048), (100, 64), (20, 1), (100, 2048)):  # bag size and batch
        cases.append(EmbeddingBagCase(rows=1_000_000, dim=32, lookups=lookups, batch=batch, threads=1))
        cases.append(EmbeddingBagCase(rows=1_000_000, dim=32, lookups=lookups, batch=batch, threads=2))
    for widths in ((13, 512, 256, 64), (512, 256, 1), (1024, 1024, 1024)):
        for batch in (1, 64, 2048):
            for threads in (1, 2):
                cases.append(MlpCase(widths=widths, batch=batch, threads=threads))
    for workload, batch in (("rm1", 64), ("rm2", 64), ("dlrm_criteo_kaggle", 256)):
        cases.append(DlrmCase(workload=workload, max_rows=100_000, batch=batch, threads=1))
        cases.append(DlrmCase(workload=workload, max_rows=100_000, batch=batch, threads=2))
    return Grid(cases=tuple(cases))
