"""SoftwareConfig: how a framework runs a DLRM on the CPU (threads per operator, table order, dispatch cost).

Profiles ship in hwconfigs/software/; a CPU config names one (`software: pytorch_2019`) or writes it inline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveInt

from accelsim.config.base import Sourced, read_yaml, resolve_named

SOFTWARE_DIR = Path(__file__).resolve().parents[2] / "hwconfigs" / "software"


class SoftwareConfig(Sourced):
    """The framework's execution of the model's operators on the CPU."""

    name: str
    description: str = ""
    embedding_threads: PositiveInt | None = Field(
        None, description="threads one EmbeddingBag call splits its bags over (None: every core)")
    gemm_threads: PositiveInt | None = Field(
        None, description="threads one Linear (BLAS GEMM) uses (None: every core)")
    embedding_tables: Literal["sequential", "concurrent"] = Field(
        "sequential", description="sequential: one EmbeddingBag call per table, one after another (DLRM's "
                                  "apply_emb); concurrent: tables run at the same time, dealt out to the cores")
    op_dispatch_ns: NonNegativeFloat = Field(
        description="framework cost of one dense operator call (Linear, interaction), before its kernel runs")
    embedding_dispatch_ns: NonNegativeFloat = Field(
        description="framework cost of one EmbeddingBag call, before its kernel runs")
    gemm_parallel_min_flops: NonNegativeInt = Field(
        0, le=2**62, description="a Linear of fewer FLOPs (2 m k n) runs on one thread, as BLAS libraries run small "
                                 "GEMMs (0: every GEMM of more than one tile is threaded)")
    interaction_ops: PositiveInt = Field(
        4, le=64, description="framework operators a dot interaction runs, each paying op_dispatch_ns (DLRM's "
                              "interact_features: cat, bmm, the lower triangle's index, cat)")
    index_ns_per_element: NonNegativeFloat = Field(
        0.0, le=1e6, description="cost of one output element of the framework's advanced-indexing gather "
                                 "(z[:, li, lj], how DLRM takes the strict lower triangle of T T^T)")
    parallel_region_ns: NonNegativeFloat = Field(
        0.0, le=1e9, description="extra cost of an operator call that runs on more than one thread: waking the "
                                 "thread pool and joining it (OpenMP fork/join), paid once per such call")


def resolve_software(name_or_path: str) -> dict:
    """The mapping of a shipped profile (`pytorch_2019`) or a YAML file."""
    return read_yaml(resolve_named(name_or_path, SOFTWARE_DIR, "software profile"))
