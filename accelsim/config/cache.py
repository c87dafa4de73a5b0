"""CacheConfig: geometry, hit latency and replacement policy of one cache level."""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, PositiveInt, field_validator, model_validator

from accelsim.config.base import Sourced
from accelsim.kernels.cache_sim import POLICY_CODES


class CacheConfig(Sourced):
    """One set-associative, write-back, write-allocate cache level; ways=1 is direct-mapped.

    The set count (size / ways / line) need not be a power of two (a 35 MiB, 20-way LLC has 28,672 sets):
    the set index is the line number modulo the set count. The line size must be a power of two.
    """

    name: str
    size_bytes: PositiveInt
    ways: PositiveInt
    line_bytes: PositiveInt = 64
    hit_latency_ns: NonNegativeFloat = Field(description="time to look up this level (added per level probed)")
    policy: str = Field("lru", description=f"replacement policy: one of {', '.join(POLICY_CODES)}")
    rrpv_bits: int = Field(2, ge=1, le=8, description="SRRIP re-reference prediction value width")

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, v: str) -> str:
        if v not in POLICY_CODES:
            raise ValueError(f"unknown policy {v!r}; expected one of {', '.join(POLICY_CODES)}")
        return v

    @field_validator("line_bytes")
    @classmethod
    def _line_power_of_two(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError(f"must be a power of two, got {v}")
        return v

    @model_validator(mode="after")
    def _geometry(self) -> "CacheConfig":
        way_bytes = self.ways * self.line_bytes
        if self.size_bytes % way_bytes:
            raise ValueError(
                f"size_bytes: {self.size_bytes} is not a whole number of sets of ways x line_bytes = {way_bytes}"
            )
        return self

    @property
    def sets(self) -> int:
        return self.size_bytes // (self.ways * self.line_bytes)

    @property
    def lines(self) -> int:
        return self.size_bytes // self.line_bytes
