"""Accelerator configuration: the FPGA device, the sparse gather-reduce engine and the dense systolic engine."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from accelsim.config.base import Sourced

Dataflow = Literal["os", "ws", "is"]
Precision = Literal["fp32", "fp16", "int8"]
PRECISION_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "int8": 1}


class FpgaDeviceConfig(Sourced):
    """The programmable fabric the engines are built from (e.g. Arria 10 GX1150: 1,518 DSP, 2,713 M20K)."""

    name: str = Field(description="device name, shown in resource reports and overflow messages")
    dsp_blocks: PositiveInt = Field(le=2**24)
    m20k_blocks: PositiveInt = Field(le=2**24)
    m20k_bits: PositiveInt = Field(le=2**24, description="bits per block RAM (Arria 10 M20K: 20,480)")
    m20k_max_width_bits: PositiveInt = Field(le=2**16,
        description="widest port of one block RAM (Arria 10 M20K: 512 x 40); wide buffers gang blocks side by side")
    alms: PositiveInt = Field(le=2**28)

    @model_validator(mode="after")
    def _width_fits_block(self) -> "FpgaDeviceConfig":
        if self.m20k_max_width_bits > self.m20k_bits:
            raise ValueError(f"m20k_max_width_bits {self.m20k_max_width_bits} exceeds m20k_bits {self.m20k_bits}")
        return self


class DenseEngineConfig(Sourced):
    """A rows x cols systolic PE array with double-buffered ifmap (A), filter (B) and ofmap (out) SRAMs."""

    rows: PositiveInt = Field(le=2**12)
    cols: PositiveInt = Field(le=2**12)
    dataflow: Dataflow
    precision: Precision = Field(description="operand and output element type; sets bytes per element and DSP cost")
    dsp_per_pe: PositiveFloat = Field(
        description="DSP blocks per PE (one MAC per cycle) at `precision`; Arria 10: fp32 1, int8 0.5 (two 18x19)")
    ifmap_buffer_bytes: PositiveInt = Field(le=2**32)
    filter_buffer_bytes: PositiveInt = Field(le=2**32)
    ofmap_buffer_bytes: PositiveInt = Field(le=2**32)
    offchip_port_bytes_per_cycle: PositiveInt = Field(le=2**40,
        description="bytes per engine cycle the buffers can fill from (and, separately, drain to) off-chip")
    alms_per_pe: NonNegativeInt = Field(le=2**20, description="soft logic per PE: operand registers, muxes, control")

    @property
    def elem_bytes(self) -> int:
        return PRECISION_BYTES[self.precision]

    @property
    def pes(self) -> int:
        return self.rows * self.cols


class SparseEngineConfig(Sourced):
    """EB-Streamer-style gather-reduce engine: gather units with in-flight line requests and streaming adders."""

    gather_units: PositiveInt = Field(le=2**12)
    outstanding_per_unit: PositiveInt = Field(le=2**12,
                                              description="line requests in flight per unit (response buffer slots)")
    request_lines: Literal[1, 2, 4] = Field(description="cache lines per request (CCI-P: 1, 2 or 4)")
    line_bytes: PositiveInt = Field(le=2**16, description="bytes per cache line moved over the links (CCI-P: 64)")
    reduce_lanes: PositiveInt = Field(le=2**12, description="FP32 adders in each unit's streaming reducer")
    dsp_per_reduce_lane: PositiveFloat = Field(description="DSP blocks per FP32 adder (Arria 10: 1, adder mode)")
    hot_cache_bytes: NonNegativeInt = Field(le=2**30,
                                            description="on-chip hot-row store shared by the units; 0 = none")
    hot_cache_kind: Literal["cache", "scratchpad"] = Field(
        description="cache: direct-mapped with a tag per line; scratchpad: software-placed rows, no tags")
    physical_address_bits: PositiveInt = Field(le=64, description="address width the cache tags cover")
    index_fifo_bytes: PositiveInt = Field(le=2**32, description="per-unit FIFO of lookup indices")
    alms_per_gather_unit: NonNegativeInt = Field(le=2**20,
        description="soft logic per unit: address generation, request tracking, reducer control")

    @model_validator(mode="after")
    def _whole_lines(self) -> "SparseEngineConfig":
        if self.line_bytes & (self.line_bytes - 1):
            raise ValueError(f"line_bytes {self.line_bytes} is not a power of two")
        if self.hot_cache_bytes % self.line_bytes:
            raise ValueError(
                f"hot_cache_bytes {self.hot_cache_bytes} is not a multiple of line_bytes {self.line_bytes}")
        return self


class AcceleratorConfig(Sourced):
    """The accelerator chiplet: a clock, a device, and up to one sparse and one dense engine."""

    clock_ghz: PositiveFloat
    device: FpgaDeviceConfig
    sparse_engine: SparseEngineConfig | None = None
    dense_engine: DenseEngineConfig | None = None
    logic_overhead_alms: NonNegativeInt = Field(le=2**28,
        description="shell / platform interface logic (e.g. the HARP blue bitstream) outside the engines")
    logic_overhead_m20k_blocks: NonNegativeInt = Field(le=2**24,
        description="block RAM taken by the shell (e.g. the CCI-P FPGA-side cache)")
