"""CPU configuration: cores, clock, SIMD/FMA, memory-level parallelism, TLB, caches, and the software on it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from accelsim.config.base import Model, Sourced
from accelsim.config.cache import MAX_MACHINE_CACHE_LINES, CacheConfig
from accelsim.config.software import SoftwareConfig, resolve_software


class GemmEfficiencyPoint(Model):
    """Measured efficiency of one GEMM shape out[m, n] = x[m, k] @ W[k, n] over the model's tiled peak."""

    m: PositiveInt
    k: PositiveInt
    n: PositiveInt
    efficiency: float = Field(gt=0, le=1)


class WalkPoint(Model):
    """Measured page-walk cost at one working set (the page tables of a larger one fit the caches worse)."""

    ws_bytes: PositiveInt = Field(le=2**50)
    walk_ns: NonNegativeFloat = Field(le=1e6)


def _interp_log(points: list[tuple[int, float]], ws_bytes: float) -> float:
    """A measured curve (working set, value) read at `ws_bytes`: interpolated in log size, clamped at its ends."""
    pts = sorted(points)
    x = np.log([w for w, _ in pts])
    return float(np.interp(math.log(max(ws_bytes, 1.0)), x, [v for _, v in pts]))


class WalkRatePoint(Model):
    """Measured page-walk throughput of one core at one table span: at most one walk finishes per interval."""

    ws_bytes: PositiveInt = Field(le=2**50)
    interval_ns: NonNegativeFloat = Field(le=1e6)


class TlbConfig(Sourced):
    """The last-level (second-level, unified) data TLB of one core, optionally the first level above it, and the
    page size the tables live on."""

    entries: PositiveInt = Field(le=2**20, description="translations it holds (its reach is entries x page_bytes)")
    ways: PositiveInt
    page_bytes: PositiveInt = Field(le=2**30, description="page size of the embedding tables (4096, or 2 MiB huge pages)")
    page_walk_ns: NonNegativeFloat | None = Field(
        None, description="latency a TLB miss adds to the access that takes it (or page_walk_table)")
    page_walk_table: tuple[WalkPoint, ...] = Field(
        (), max_length=4096, description="walk latency by the working set of the tables read (accelsim probe); "
                                         "interpolated in log(ws), clamped; instead of page_walk_ns")
    first_level_entries: PositiveInt | None = Field(
        None, le=2**16, description="translations the first-level data TLB holds (None: one level); a line whose "
                                    "page misses it but hits this TLB waits `first_level_miss_ns`")
    first_level_ways: PositiveInt | None = Field(
        None, le=2**16, description="its associativity (None: fully associative)")
    first_level_miss_ns: NonNegativeFloat | None = Field(
        None, le=1e6, description="latency a first-level miss that hits this TLB adds to the access that takes it "
                                  "(given with first_level_entries)")
    page_walk_interval_table: tuple[WalkRatePoint, ...] = Field(
        (), max_length=4096, description="ns between the walks one core's page walkers finish, by the span of "
                                         "the tables read (accelsim probe), interpolated in log(ws), clamped; "
                                         "empty: walks limited by nothing but the fill buffers")

    def walk_ns(self, ws_bytes: float) -> float:
        """Latency of one page walk while the tables being read span `ws_bytes`."""
        if self.page_walk_ns is not None:
            return self.page_walk_ns
        return _interp_log([(p.ws_bytes, p.walk_ns) for p in self.page_walk_table], ws_bytes)

    def walk_interval_ns(self, ws_bytes: float) -> float:
        """Least time between two walks of one core while the tables being read span `ws_bytes` (0: no limit)."""
        if not self.page_walk_interval_table:
            return 0.0
        return _interp_log([(p.ws_bytes, p.interval_ns) for p in self.page_walk_interval_table], ws_bytes)

    @model_validator(mode="after")
    def _geometry(self) -> "TlbConfig":
        if self.entries % self.ways:
            raise ValueError(f"entries: {self.entries} is not a whole number of sets of {self.ways} ways")
        if self.first_level_entries is not None:
            if self.first_level_miss_ns is None:
                raise ValueError("first_level_miss_ns: a first-level TLB (first_level_entries) needs the latency "
                                 "its misses add")
            if self.first_level_entries >= self.entries:
                raise ValueError(f"first_level_entries: {self.first_level_entries} must be fewer than entries "
                                 f"({self.entries}): the first level is the smaller, nearer one")
            ways = self.first_level_ways or self.first_level_entries
            if self.first_level_entries % ways:
                raise ValueError(f"first_level_entries: {self.first_level_entries} is not a whole number of sets "
                                 f"of {ways} ways")
        elif self.first_level_ways is not None or self.first_level_miss_ns is not None:
            raise ValueError("first_level_ways / first_level_miss_ns: given without first_level_entries")
        if self.page_bytes & (self.page_bytes - 1):
            raise ValueError(f"page_bytes: must be a power of two, got {self.page_bytes}")
        if (self.page_walk_ns is None) == (not self.page_walk_table):
            raise ValueError("page_walk_ns / page_walk_table: give one walk latency (page_walk_ns) or one by "
                             "working set (page_walk_table), not both and not neither")
        return self


class CpuConfig(Sourced):
    """A multi-core CPU; `caches` lists private levels first and the shared LLC last."""

    name: str
    cores: PositiveInt = Field(le=2**12)
    freq_ghz: PositiveFloat
    simd_fp32_lanes: PositiveInt = Field(le=2**10, description="FP32 lanes per vector register (AVX2: 8)")
    fma_units_per_core: PositiveInt = Field(le=64)
    gemm_efficiency: float = Field(gt=0, le=1, description="achieved / peak FLOP rate of an MKL-class GEMM "
                                                            "(used where gemm_efficiency_table is empty)")
    gemm_efficiency_table: tuple[GemmEfficiencyPoint, ...] = Field(
        (), max_length=4096, description="measured efficiency by shape; interpolated in log(m) and log(sqrt(k n)), "
                                         "clamped; one-column layers (n = 1) read the n = 1 entries where "
                                         "there are any")
    line_fill_buffers_per_core: PositiveInt = Field(le=2**12, description="outstanding L1 misses per core (MLP limit)")
    stream_prefetch: bool = Field(False, description="the L2 streamer fetches the rest of a row once its first line "
                                                     "misses, outside the fill buffers (docs/configs.md)")
    memory_core_read_gbps: float | None = Field(
        None, gt=0, le=1e6,
        description="GB/s one core can read from memory as a stream (the LLC-to-memory interface); None: no limit "
                    "beyond fill buffers and the DRAM model")
    gather_cycles_per_lookup: PositiveFloat = Field(
        description="core cycles of index load, address arithmetic and loop control per looked-up row")
    gather_cycles_per_bag: NonNegativeFloat = Field(
        0.0, le=1e9, description="core cycles an EmbeddingBag kernel spends per bag beyond its lookups (offsets, "
                                 "the output row's zeroing and store); 0: none")
    memory_fabric_latency_ns: NonNegativeFloat = Field(
        description="round trip through the on-die fabric, home agent and memory controller on top of the DRAM "
                    "device's own timing, for every DRAM access (cores' LLC misses and accelerator reads alike)")
    private_cache_levels: PositiveInt = Field(le=8, description="how many of `caches` are private to each core")
    caches: tuple[CacheConfig, ...] = Field(min_length=1, max_length=8)
    tlb: TlbConfig
    software: SoftwareConfig

    @model_validator(mode="before")
    @classmethod
    def _named_software(cls, data: Any) -> Any:
        # `software: pytorch_2019` reads the shipped profile, so a saved config holds every number.
        if isinstance(data, dict) and isinstance(data.get("software"), str):
            data = {**data, "software": resolve_software(data["software"])}
        return data

    @property
    def op_overhead_ns(self) -> float:
        """Framework cost of one dense operator call (the software profile's op_dispatch_ns)."""
        return self.software.op_dispatch_ns

    @model_validator(mode="after")
    def _first_level_has_no_interface(self) -> "CpuConfig":
        if self.caches[0].core_read_gbps is not None:
            raise ValueError(f"caches[0].core_read_gbps: {self.caches[0].name} is the core's own first level; the "
                             "read bandwidth belongs to the levels below it (the interface above each)")
        return self

    @model_validator(mode="after")
    def _cache_state_fits(self) -> "CpuConfig":
        p = self.private_cache_levels
        lines = self.cores * sum(c.lines for c in self.caches[:p]) + sum(c.lines for c in self.caches[p:])
        if lines > MAX_MACHINE_CACHE_LINES:
            raise ValueError(f"caches: {self.cores} cores' private levels and the shared ones hold {lines} lines, "
                             f"more than the simulator keeps state for ({MAX_MACHINE_CACHE_LINES})")
        return self
