"""LinkConfig / LinksConfig: CPU-accelerator channels (bandwidth, latency, request sizes, credits) and steering."""

from __future__ import annotations

from typing import Annotated

from pydantic import (Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, field_validator,
                      model_validator)

from accelsim.config.base import Model, Sourced
from accelsim.kernels.link_sim import STEERING_CODES


class LinkConfig(Sourced):
    """One full-duplex channel; the accelerator issues every request (CCI-P style).

    A read of n lines sends a header towards the host and gets n x line_bytes + a header back; a write sends
    n x line_bytes + a header and gets a header back (the write acknowledgement).
    """

    name: str
    bandwidth_gbps: PositiveFloat = Field(description="per direction, in GB/s (1e9 bytes per second)")
    latency_ns: NonNegativeFloat = Field(description="one-way flight time, excluding serialisation")
    request_lines: tuple[Annotated[int, Field(gt=0, le=2**10)], ...] = Field((1, 2, 4), min_length=1, max_length=16,
                                                   description="allowed request sizes in lines; must include 1")
    line_bytes: PositiveInt = Field(64, le=2**16)
    header_bytes: NonNegativeInt = Field(le=2**16, description="wire overhead of every request and every response")
    coherent: bool = Field(False, description="coherent with the host caches (preferred by coherent_first)")
    max_outstanding: PositiveInt = Field(le=2**20, description="requests in flight per channel (credits)")

    @field_validator("request_lines")
    @classmethod
    def _sizes(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if 1 not in v:
            raise ValueError("must include 1, so that any run of lines can be split into requests")
        bad = [n for n in v if n & (n - 1)]
        if bad:
            raise ValueError(f"sizes must be powers of two (requests are naturally aligned), got {bad}")
        return tuple(sorted(set(v)))


class LinksConfig(Model):
    """The set of channels between host and accelerator and how requests are steered onto them."""

    channels: tuple[LinkConfig, ...] = Field(min_length=1, max_length=64)
    steering: str = Field("round_robin", description=f"one of {', '.join(STEERING_CODES)}")

    @field_validator("steering")
    @classmethod
    def _known_steering(cls, v: str) -> str:
        if v not in STEERING_CODES:
            raise ValueError(f"unknown steering {v!r}; expected one of {', '.join(STEERING_CODES)}")
        return v

    @property
    def shared_request_bytes(self) -> tuple[int, ...]:
        """Request sizes in bytes (request_lines x line_bytes) that every channel allows, ascending."""
        sizes = [{n * c.line_bytes for n in c.request_lines} for c in self.channels]
        return tuple(sorted(set.intersection(*sizes)))

    @model_validator(mode="after")
    def _a_shared_request_size(self) -> "LinksConfig":
        # a request may be steered to any channel, so some size must be legal on all of them
        if not self.shared_request_bytes:
            raise ValueError("channels: the channels share no request size (request_lines x line_bytes)")
        return self
