"""CacheConfig: geometry, hit latency and replacement policy of one cache level."""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, PositiveInt, field_validator, model_validator

from accelsim.config.base import Sourced

# The simulator keeps a tag, replacement state and a dirty bit per line (17 B). 2^24 lines (1 GiB at 64 B) per
# level is ten times the largest cache one core shares (96 MiB L3 per CCD, AMD 3D V-Cache; docs/input_safety.md);
# a whole machine (every core's private levels and the shared ones) holds at most 2^26 lines of state (~1.1 GB).
MAX_CACHE_LINES = 2**24
MAX_MACHINE_CACHE_LINES = 2**26
from accelsim.kernels.cache_sim import POLICY_CODES


class CacheConfig(Sourced):
    """One set-associative, write-back, write-allocate cache level; ways=1 is direct-mapped.

    The set count (size / ways / line) need not be a power of two (a 35 MiB, 20-way LLC has 28,672 sets):
    the set index is the line number modulo the set count. The line size must be a power of two.
    """

    name: str
    size_bytes: PositiveInt
    ways: PositiveInt = Field(le=2**16)
    line_bytes: PositiveInt = Field(64, le=2**30)  # the TLB model is a cache whose lines are pages (up to 1 GiB)
    hit_latency_ns: NonNegativeFloat = Field(description="time to look up this level (added per level probed)")
    policy: str = Field("lru", description=f"replacement policy: one of {', '.join(POLICY_CODES)}")
    rrpv_bits: int = Field(2, ge=1, le=8, description="SRRIP re-reference prediction value width")
    core_read_gbps: float | None = Field(
        None, gt=0, le=1e6,
        description="GB/s one core can read lines this level serves (the interface above it); None: no limit "
                    "beyond latency and fill buffers")

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
        if self.lines > MAX_CACHE_LINES:
            raise ValueError(f"size_bytes: {self.size_bytes} is {self.lines} lines of {self.line_bytes} B; the "
                             f"limit is {MAX_CACHE_LINES} lines per level")
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
