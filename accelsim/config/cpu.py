"""CPU configuration: cores, clock, SIMD/FMA, memory-level parallelism, and its cache levels."""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from accelsim.config.base import Sourced
from accelsim.config.cache import MAX_MACHINE_CACHE_LINES, CacheConfig


class CpuConfig(Sourced):
    """A multi-core CPU; `caches` lists private levels first and the shared LLC last."""

    name: str
    cores: PositiveInt = Field(le=2**12)
    freq_ghz: PositiveFloat
    simd_fp32_lanes: PositiveInt = Field(le=2**10, description="FP32 lanes per vector register (AVX2: 8)")
    fma_units_per_core: PositiveInt = Field(le=64)
    gemm_efficiency: float = Field(gt=0, le=1, description="achieved / peak FLOP rate of an MKL-class GEMM")
    line_fill_buffers_per_core: PositiveInt = Field(le=2**12, description="outstanding L1 misses per core (MLP limit)")
    gather_cycles_per_lookup: PositiveFloat = Field(
        description="core cycles of index load, address arithmetic and loop control per looked-up row")
    op_overhead_ns: float = Field(ge=0, description="per-operator dispatch cost of the framework (per layer)")
    memory_fabric_latency_ns: NonNegativeFloat = Field(
        description="round trip through the on-die fabric, home agent and memory controller on top of the DRAM "
                    "device's own timing, for every DRAM access (cores' LLC misses and accelerator reads alike)")
    private_cache_levels: PositiveInt = Field(le=8, description="how many of `caches` are private to each core")
    caches: tuple[CacheConfig, ...] = Field(min_length=1, max_length=8)

    @model_validator(mode="after")
    def _cache_state_fits(self) -> "CpuConfig":
        p = self.private_cache_levels
        lines = self.cores * sum(c.lines for c in self.caches[:p]) + sum(c.lines for c in self.caches[p:])
        if lines > MAX_MACHINE_CACHE_LINES:
            raise ValueError(f"caches: {self.cores} cores' private levels and the shared ones hold {lines} lines, "
                             f"more than the simulator keeps state for ({MAX_MACHINE_CACHE_LINES})")
        return self
