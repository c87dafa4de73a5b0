"""FPGA resources (DSP blocks, M20K block RAMs, ALMs) an accelerator configuration needs, and whether it fits.

Block RAM is counted per buffer from its capacity and its port width: a buffer that must deliver p bits per
cycle is built from ceil(p / W) banks side by side (W = the block's widest port, 40 on an M20K), each bank
then as deep as it needs. A block is W bits x (block_bits / W) words at its widest, and each halving of the
width doubles the depth, so a w-bit bank gets (block_bits / W) * 2^floor(log2(W / w)) words per block. This
is exactly the M20K's mode table (512x40/x32, 1Kx20/x16, 2Kx10/x8, 4Kx5/x4, 8Kx2, 16Kx1; Intel 683461):
a 32-bit word costs a 40-bit slot. A small buffer feeding a wide array still costs a whole row of banks.

Port widths: the dense buffers serve one element per array row or column per cycle, as in SCALE-Sim's demand
matrices (OS and WS: ifmap R, filter C; IS: ifmap C, filter R; ofmap C). The sparse engine's line stores (hot
rows, response slots, index FIFOs filled from 64 B lines) move one line per cycle. Cache tags are one tag per
line of a direct-mapped cache, like the CCI-P FPGA-side cache: address bits - index bits - offset bits + valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.config.accel import AcceleratorConfig, DenseEngineConfig, FpgaDeviceConfig, SparseEngineConfig
from accelsim.errors import InputError

RESOURCE_NAMES = {"dsp": "DSP", "m20k": "M20K", "alm": "ALM"}
# What compressed tables add to each gather unit (docs/compression.md). Arria 10 DSP blocks in FP32 mode do a
# multiply-add, so a reduce lane's block accumulates code * scale directly; the row's bias, the same for all
# its elements, is summed once per row by one scalar DSP per unit; each lane adds soft logic that widens its
# code to fp32. An index unit (hash function, QR or TT division by a constant as a reciprocal multiply)
# needs 64-bit multiplies: four 27x27 multipliers, two per DSP block. ASSUMPTION: the ALM counts.
DSP_PER_DEQUANT_UNIT = 1
DSP_PER_INDEX_UNIT = 2
ALMS_PER_DEQUANT_LANE = 60
ALMS_PER_INDEX_UNIT = 400


class ResourceOverflow(InputError):
    """The configured engines need more of some FPGA resource than the device has."""


@dataclass(frozen=True)
class ResourceUse:
    """DSP blocks, M20K blocks and ALMs of one part of the design."""

    dsp_blocks: int = 0
    m20k_blocks: int = 0
    alms: int = 0

    def __add__(self, other: "ResourceUse") -> "ResourceUse":
        return ResourceUse(self.dsp_blocks + other.dsp_blocks, self.m20k_blocks + other.m20k_blocks,
                           self.alms + other.alms)

    def as_dict(self) -> dict[str, int]:
        """{'dsp': .., 'm20k': .., 'alm': ..}, the keys of `ResourceReport.utilisation`."""
        return {"dsp": self.dsp_blocks, "m20k": self.m20k_blocks, "alm": self.alms}


@dataclass(frozen=True)
class ResourceReport:
    """Per-part and total resource use of a design on a device, with utilisation fractions of the device."""

    device_name: str
    parts: dict[str, ResourceUse]  # "shell", and "sparse" / "dense" when configured
    total: ResourceUse
    utilisation: dict[str, float]  # "dsp", "m20k", "alm": used / available (may exceed 1)


def m20k_blocks(capacity_bits: int, port_bits: int, device: FpgaDeviceConfig) -> int:
    """Block RAMs for a buffer of `capacity_bits` read `port_bits` per cycle (see module docstring)."""
    if capacity_bits <= 0:
        return 0
    banks = math.ceil(port_bits / device.m20k_max_width_bits)
    bank_width_bits = math.ceil(port_bits / banks)
    halvings = (device.m20k_max_width_bits // bank_width_bits).bit_length() - 1
    words_per_block = (device.m20k_bits // device.m20k_max_width_bits) << halvings
    words = math.ceil(capacity_bits / port_bits)
    return banks * math.ceil(words / words_per_block)


def dense_engine_usage(cfg: DenseEngineConfig, device: FpgaDeviceConfig) -> ResourceUse:
    """A rows x cols array of MAC PEs and its three buffers."""
    elem_bits = 8 * cfg.elem_bytes
    ifmap_words, filter_words = (cfg.cols, cfg.rows) if cfg.dataflow == "is" else (cfg.rows, cfg.cols)
    blocks = (m20k_blocks(8 * cfg.ifmap_buffer_bytes, ifmap_words * elem_bits, device)
              + m20k_blocks(8 * cfg.filter_buffer_bytes, filter_words * elem_bits, device)
              + m20k_blocks(8 * cfg.ofmap_buffer_bytes, cfg.cols * elem_bits, device))
    return ResourceUse(
        dsp_blocks=math.ceil(cfg.pes * cfg.dsp_per_pe),
        m20k_blocks=blocks,
        alms=cfg.pes * cfg.alms_per_pe,
    )


def sparse_engine_usage(cfg: SparseEngineConfig, device: FpgaDeviceConfig) -> ResourceUse:
    """Gather units (index FIFO, response slots, reducer adders) and the shared hot-row store."""
    line_bits = 8 * cfg.line_bytes
    response_bits = cfg.outstanding_per_unit * cfg.request_lines * line_bits
    per_unit = m20k_blocks(8 * cfg.index_fifo_bytes, line_bits, device) + m20k_blocks(response_bits, line_bits,
                                                                                      device)
    blocks = cfg.gather_units * per_unit + m20k_blocks(8 * cfg.hot_cache_bytes, line_bits, device)
    lines = cfg.hot_cache_bytes // cfg.line_bytes
    if cfg.hot_cache_kind == "cache" and lines:
        index_bits, offset_bits = lines.bit_length() - 1, cfg.line_bytes.bit_length() - 1
        tag_bits = max(cfg.physical_address_bits - index_bits - offset_bits, 0) + 1  # + valid bit
        blocks += m20k_blocks(lines * tag_bits, tag_bits, device)
    return ResourceUse(
        dsp_blocks=math.ceil(cfg.gather_units * cfg.reduce_lanes * cfg.dsp_per_reduce_lane),
        m20k_blocks=blocks,
        alms=cfg.gather_units * cfg.alms_per_gather_unit,
    )


def index_units_per_gather_unit(spec) -> int:
    """Index arithmetic units a gather unit needs: k for k hashes, 1 for QR, K - 1 digit splits for TT."""
    need = 0
    for t in spec.table_list:
        c = t.compression
        if c is not None and c.scheme == "hash":
            need = max(need, c.hashes)
        elif c is not None and c.scheme == "qr":
            need = max(need, 1)
        elif c is not None and c.scheme == "tt":
            need = max(need, len(c.row_factors) - 1)
    return need


def compression_usage(cfg: SparseEngineConfig, spec) -> ResourceUse:
    """Dequantisers on every reduce lane (if any table is row-wise quantised) and index units."""
    from accelsim.config.workload import QUANT_BITS
    quantized = any(t.dtype in QUANT_BITS for t in spec.table_list)
    lanes = cfg.gather_units * cfg.reduce_lanes if quantized else 0
    units = cfg.gather_units * index_units_per_gather_unit(spec)
    return ResourceUse(dsp_blocks=(cfg.gather_units * DSP_PER_DEQUANT_UNIT if quantized else 0)
                       + units * DSP_PER_INDEX_UNIT,
                       alms=lanes * ALMS_PER_DEQUANT_LANE + units * ALMS_PER_INDEX_UNIT)


def resource_usage(accel: AcceleratorConfig, spec=None) -> ResourceReport:
    """DSP, M20K and ALM use of the shell and each configured engine, and their total.

    With a workload `spec`, the sparse engine also holds what its compressed tables need (compression_usage).
    """
    dev = accel.device
    parts = {"shell": ResourceUse(m20k_blocks=accel.logic_overhead_m20k_blocks, alms=accel.logic_overhead_alms)}
    if accel.sparse_engine is not None:
        parts["sparse"] = sparse_engine_usage(accel.sparse_engine, dev)
        if spec is not None:
            parts["sparse"] = parts["sparse"] + compression_usage(accel.sparse_engine, spec)
    if accel.dense_engine is not None:
        parts["dense"] = dense_engine_usage(accel.dense_engine, dev)
    total = sum(parts.values(), ResourceUse())
    return ResourceReport(device_name=dev.name, parts=parts, total=total,
                          utilisation=_fractions(total, dev))


def _available(device: FpgaDeviceConfig) -> dict[str, int]:
    return {"dsp": device.dsp_blocks, "m20k": device.m20k_blocks, "alm": device.alms}


def _fractions(use: ResourceUse, device: FpgaDeviceConfig) -> dict[str, float]:
    avail = _available(device)
    return {key: used / avail[key] for key, used in use.as_dict().items()}


def check_fits(report: ResourceReport, device: FpgaDeviceConfig) -> None:
    """Raise ResourceOverflow naming every resource the design needs more of than `device` has."""
    avail = _available(device)
    over = [f"{RESOURCE_NAMES[key]}: needs {used:,} of {avail[key]:,} "
            f"(+{used - avail[key]:,}, {100 * used / avail[key]:.1f}%)"
            for key, used in report.total.as_dict().items() if used > avail[key]]
    if over:
        raise ResourceOverflow(f"design does not fit {device.name}: " + "; ".join(over))
