"""Dense engine: a systolic array plus its ifmap / filter / ofmap SRAMs and their off-chip traffic.

The array's compute cycles come from `systolic.gemm_cycles`. Around it, the three buffers are double-buffered
(as SCALE-Sim's `double_buffered_scratchpad`): the next fold's operands are fetched while the current one
computes, so only the first fold's fill and the last fold's drain are exposed, and the steady state runs at
the slower of compute and the off-chip port.

Off-chip traffic follows SCALE-Sim's fold order (column folds outer, row folds inner):
- an operand indexed by the inner loop is revisited on every outer iteration; it is fetched once only if the
  whole operand fits its buffer, otherwise once per outer fold;
- an operand indexed by the outer loop is reused across the inner loop if one tile fits its buffer;
- a stationary operand is loaded exactly once, tile by tile;
- WS and IS accumulate partial sums over the row (K) folds in the ofmap buffer; when one output tile of
  partial sums does not fit, every K fold spills it off-chip and reads it back.
Every element, off-chip and on-chip, is `precision` wide (accumulation happens at that width).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from accelsim.config.accel import DenseEngineConfig
from accelsim.errors import InputError
from accelsim.hw.systolic import GemmCycles, gemm_cycles
from accelsim.kernels import reference
from accelsim.kernels.reference import DenseLayer


@dataclass(frozen=True)
class GemmTiming:
    """Timing and action counts of `repeats` back-to-back GEMMs out[m,n] = A[m,k] @ B[k,n] on the engine."""

    m: int
    k: int
    n: int
    repeats: int
    dataflow: str
    compute_cycles: int  # the array alone, all repeats
    folds: int
    fill_drain_cycles: int  # array pipeline fill/drain inside compute_cycles
    exposed_fill_cycles: int  # first fold's operands loaded before compute starts
    exposed_drain_cycles: int  # last fold's outputs written after compute ends
    memory_stall_cycles: int  # total_cycles - compute_cycles
    total_cycles: int
    time_ns: float
    utilisation: float  # macs / (rows * cols * total_cycles)
    macs: int
    pe_active_cycles: int
    weights_resident: bool  # B stayed in the filter buffer from an earlier call (only when it fits)
    offchip_bytes_read: int
    offchip_bytes_written: int
    ifmap_sram_read_bytes: int
    ifmap_sram_write_bytes: int
    filter_sram_read_bytes: int
    filter_sram_write_bytes: int
    ofmap_sram_read_bytes: int
    ofmap_sram_write_bytes: int


@dataclass(frozen=True)
class _Traffic:
    """Bytes of one GEMM: off-chip reads per operand, partial-sum spills, array-side buffer reads."""

    a_offchip: int
    b_offchip: int
    out_written: int
    out_read_back: int
    a_array_reads: int
    b_array_reads: int
    out_array_writes: int
    first_fold_bytes: int
    last_fold_bytes: int


class DenseEngine:
    """Times GEMMs, MLPs and the dot interaction on one configured systolic engine."""

    def __init__(self, cfg: DenseEngineConfig, clock_ghz: float):
        if not clock_ghz > 0:
            raise InputError(f"clock_ghz: expected a positive number, got {clock_ghz!r}")
        self.cfg = cfg
        self.clock_ghz = float(clock_ghz)

    def gemm(self, m: int, k: int, n: int, weights_resident: bool = False) -> GemmTiming:
        """One GEMM; `weights_resident` means B is already in the filter buffer (honoured only if it fits)."""
        return self._timed(m, k, n, weights_resident, repeats=1)

    def mlp(self, layers: Sequence[tuple[int, int]], batch: int,
            weights_resident: bool = False) -> list[GemmTiming]:
        """One GEMM per Linear (in, out): M = batch, K = in, N = out."""
        return [self.gemm(batch, fan_in, fan_out, weights_resident) for fan_in, fan_out in layers]

    def interaction(self, batch: int, num_features: int, dim: int) -> GemmTiming:
        """Dot interaction: per sample (F x d) @ (d x F), all F x F products computed and written."""
        return self._timed(num_features, dim, num_features, weights_resident=False, repeats=batch)

    def forward_mlp(self, x: np.ndarray, layers: Sequence[DenseLayer],
                    sigmoid_last: bool) -> tuple[np.ndarray, list[GemmTiming]]:
        """Outputs (numba/numpy reference kernels) and timing of an MLP on a batch `x` (batch, in)."""
        self._require_fp32()
        shapes = [(int(w.shape[1]), int(w.shape[0])) for w, _ in layers]
        out = reference.mlp(x, layers, sigmoid_last)
        return out, self.mlp(shapes, int(np.shape(x)[0]))

    def forward_interaction(self, bottom_out: np.ndarray, pooled: np.ndarray) -> tuple[np.ndarray, GemmTiming]:
        """Dot-interaction outputs (reference kernel) and timing for bottom_out (B, d), pooled (T, B, d)."""
        self._require_fp32()
        out = reference.interact_dot(bottom_out, pooled)
        tables, batch, dim = np.shape(pooled)
        return out, self.interaction(batch, tables + 1, dim)

    def _require_fp32(self) -> None:
        if self.cfg.precision != "fp32":
            raise InputError(f"dense_engine.precision: the functional model computes fp32 only, "
                             f"got {self.cfg.precision!r}")

    def _timed(self, m: int, k: int, n: int, weights_resident: bool, repeats: int) -> GemmTiming:
        cfg = self.cfg
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise InputError(f"batch: expected a positive integer, got {repeats!r}")
        cyc = gemm_cycles(cfg.rows, cfg.cols, cfg.dataflow, m, k, n)
        resident = bool(weights_resident) and k * n * cfg.elem_bytes <= cfg.filter_buffer_bytes
        tr = _traffic(cfg, cyc, m, k, n, resident)
        read = repeats * (tr.a_offchip + tr.b_offchip + tr.out_read_back)
        written = repeats * tr.out_written
        port = cfg.offchip_port_bytes_per_cycle
        fill, drain = math.ceil(tr.first_fold_bytes / port), math.ceil(tr.last_fold_bytes / port)
        compute = repeats * cyc.compute_cycles
        steady = max(compute,
                     math.ceil(max(read - tr.first_fold_bytes, 0) / port),
                     math.ceil(max(written - tr.last_fold_bytes, 0) / port))
        total = fill + steady + drain
        macs = repeats * cyc.macs
        return GemmTiming(
            m=m, k=k, n=n, repeats=repeats, dataflow=cfg.dataflow,
            compute_cycles=compute,
            folds=repeats * cyc.folds,
            fill_drain_cycles=repeats * cyc.fill_drain_cycles,
            exposed_fill_cycles=fill,
            exposed_drain_cycles=drain,
            memory_stall_cycles=total - compute,
            total_cycles=total,
            time_ns=total / self.clock_ghz,
            utilisation=macs / (cfg.pes * total),
            macs=macs,
            pe_active_cycles=repeats * cyc.pe_active_cycles,
            weights_resident=resident,
            offchip_bytes_read=read,
            offchip_bytes_written=written,
            ifmap_sram_read_bytes=repeats * tr.a_array_reads,
            ifmap_sram_write_bytes=repeats * tr.a_offchip,
            filter_sram_read_bytes=repeats * tr.b_array_reads,
            filter_sram_write_bytes=repeats * tr.b_offchip,
            # partial sums read back to accumulate (on chip, or returning from a spill) plus the final drain
            ofmap_sram_read_bytes=repeats * (tr.out_array_writes - m * n * cfg.elem_bytes + tr.out_written),
            ofmap_sram_write_bytes=repeats * (tr.out_array_writes + tr.out_read_back),
        )


def _traffic(cfg: DenseEngineConfig, cyc: GemmCycles, m: int, k: int, n: int, resident: bool) -> _Traffic:
    """Bytes moved by one GEMM under the fold order and buffer sizes of `cfg` (see module docstring)."""
    e, r, c = cfg.elem_bytes, cfg.rows, cfg.cols
    a_bytes, b_bytes, out_bytes = m * k * e, k * n * e, m * n * e
    fr, fc = cyc.row_folds, cyc.col_folds
    ifmap_buf, filter_buf, ofmap_buf = cfg.ifmap_buffer_bytes, cfg.filter_buffer_bytes, cfg.ofmap_buffer_bytes
    a_fits, b_fits = a_bytes <= ifmap_buf, b_bytes <= filter_buf

    if cfg.dataflow == "os":  # rows over M (inner), cols over N (outer); outputs finish inside the PEs
        b_tile = k * min(c, n) * e
        a_off = a_bytes * (1 if a_fits else fc)
        b_off = b_bytes * (1 if b_tile <= filter_buf else fr)
        a_tile = min(r, m) * k * e
        out_tile = min(r, m) * min(c, n) * e
        a_reads, b_reads = a_bytes * fc, b_bytes * fr
        k_folds = 1
    elif cfg.dataflow == "ws":  # B tiles stationary; rows over K (inner), cols over N (outer); stream A
        a_off = a_bytes * (1 if a_fits else fc)
        b_off = b_bytes
        a_tile = m * min(r, k) * e
        b_tile = min(r, k) * min(c, n) * e
        out_tile = m * min(c, n) * e
        a_reads, b_reads = a_bytes * fc, b_bytes
        k_folds = fr
    else:  # is: A tiles stationary; rows over K (inner), cols over M (outer); stream B
        a_off = a_bytes
        b_off = b_bytes * (1 if b_fits else fc)
        a_tile = min(r, k) * min(c, m) * e
        b_tile = min(r, k) * n * e
        out_tile = min(c, m) * n * e
        a_reads, b_reads = a_bytes, b_bytes * fc
        k_folds = fr

    if resident:
        b_off, b_tile = 0, 0
    spills = k_folds > 1 and out_tile > ofmap_buf
    return _Traffic(
        a_offchip=a_off,
        b_offchip=b_off,
        out_written=out_bytes * (k_folds if spills else 1),
        out_read_back=out_bytes * (k_folds - 1) if spills else 0,
        a_array_reads=a_reads,
        b_array_reads=b_reads,
        out_array_writes=out_bytes * k_folds,
        first_fold_bytes=min(a_tile, ifmap_buf) + min(b_tile, filter_buf),
        last_fold_bytes=min(out_tile, ofmap_buf),
    )
