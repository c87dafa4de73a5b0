"""Which device runs each DLRM stage, and how many batches may be in flight. A mapping is data."""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveInt

from accelsim.config.base import Model
from accelsim.errors import InputError

Dense = Literal["cpu", "dense_engine"]  # where a dense stage (MLP, interaction) can run
STAGES: tuple[str, ...] = ("bottom_mlp", "embedding", "interaction", "top_mlp")
# The DLRM stage graph: bottom MLP and the embedding lookups are independent; interaction needs both.
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "bottom_mlp": (), "embedding": (), "interaction": ("bottom_mlp", "embedding"), "top_mlp": ("interaction",),
}


class Mapping(Model):
    """Stage placement and pipelining. `pipeline_depth` = batches in flight (1: no overlap)."""

    name: str
    bottom_mlp: Dense
    embedding: Literal["cpu", "sparse_engine"]
    interaction: Dense
    top_mlp: Dense
    pipeline_depth: PositiveInt = 2

    def device_of(self, stage: str) -> str:
        """The device a stage is placed on."""
        return getattr(self, stage)



BUILTIN: dict[str, Mapping] = {m.name: m for m in (
    Mapping(name="cpu_only", bottom_mlp="cpu", embedding="cpu", interaction="cpu", top_mlp="cpu"),
    # Centaur (ISCA 2020): EB-Streamer gathers on the FPGA, the dense engine runs MLPs and the interaction.
    Mapping(name="centaur", bottom_mlp="dense_engine", embedding="sparse_engine", interaction="dense_engine",
            top_mlp="dense_engine"),
    Mapping(name="sparse_offload", bottom_mlp="cpu", embedding="sparse_engine", interaction="cpu", top_mlp="cpu"),
    Mapping(name="dense_offload", bottom_mlp="dense_engine", embedding="cpu", interaction="dense_engine",
            top_mlp="dense_engine"),
)}


def resolve_mapping(spec: str | dict | Mapping) -> Mapping:
    """A built-in mapping by name, or a custom one given as a dict."""
    if isinstance(spec, Mapping):
        return spec
    if isinstance(spec, str):
        if spec not in BUILTIN:
            raise InputError(f"unknown mapping {spec!r}; built-in: {', '.join(BUILTIN)}")
        return BUILTIN[spec]
    from accelsim.config.base import parse_model
    return parse_model(Mapping, spec, source="mapping")
