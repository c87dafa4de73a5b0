"""Cycle count of a GEMM on a rows x cols systolic array, in SCALE-Sim v2's closed forms.

out[M, N] = A[M, K] @ B[K, N]. Each dataflow maps two GEMM dimensions onto the array (Sr over rows, Sc over
cols), streams the third (T), and runs ceil(Sr/R) * ceil(Sc/C) folds one after another:

| dataflow | Sr | Sc | T | cycles per fold |
|---|---|---|---|---|
| os (output stationary) | M | N | K | R + C + T - 2 |
| ws (weight stationary) | K | N | M | 2R + C + T - 2 |
| is (input stationary)  | K | M | N | 2R + C + T - 2 |

Source: scalesim-project/scale-sim-v2, scalesim/compute/systolic_compute_{os,ws,is}.py. The cycles of a fold
are the rows of its operand demand matrix: OS streams T operand rows, adds C-1 rows so outputs drain before
the next fold, and skews over R rows (+R-1); WS/IS first load the stationary tile (R rows), stream T rows, add
C-1 drain rows and skew over R (+R-1). Unmapped PEs of a partial fold still cost the full fold (SCALE-Sim pads
them with null requests). SCALE-Sim's `overall_util` is MACs / (cycles x R x C), as here.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from accelsim.errors import InputError

DATAFLOWS = ("os", "ws", "is")


@dataclass(frozen=True)
class GemmCycles:
    """Compute-only timing of one GEMM on the array (no memory stalls)."""

    compute_cycles: int
    folds: int
    row_folds: int
    col_folds: int
    cycles_per_fold: int
    fill_drain_cycles: int  # compute_cycles minus the T streaming cycles of every fold
    utilisation: float  # macs / (rows * cols * compute_cycles), a fraction in (0, 1]
    macs: int
    pe_active_cycles: int  # PE-cycles of PEs that hold part of a fold's mapping (idle padding excluded)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise InputError(f"{name}: expected a positive integer, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise InputError(f"{name}: expected a positive integer, got {value!r}") from None
    if v < 1:
        raise InputError(f"{name}: expected a positive integer, got {v}")
    return v


def mapped_dims(dataflow: str, m: int, k: int, n: int) -> tuple[int, int, int]:
    """(Sr, Sc, T): the GEMM dimensions placed on array rows, on array cols, and streamed."""
    if dataflow == "os":
        return m, n, k
    if dataflow == "ws":
        return k, n, m
    if dataflow == "is":
        return k, m, n
    raise InputError(f"dataflow: expected one of {', '.join(DATAFLOWS)}, got {dataflow!r}")


def gemm_cycles(rows: int, cols: int, dataflow: str, m: int, k: int, n: int) -> GemmCycles:
    """Cycles, folds and utilisation of out[m,n] = A[m,k] @ B[k,n] on a rows x cols array."""
    rows, cols, m, k, n = (_positive_int(name, v) for name, v in
                           (("rows", rows), ("cols", cols), ("m", m), ("k", k), ("n", n)))
    sr, sc, t = mapped_dims(dataflow, m, k, n)
    row_folds, col_folds = math.ceil(sr / rows), math.ceil(sc / cols)
    folds = row_folds * col_folds
    overhead = (rows if dataflow == "os" else 2 * rows) + cols - 2
    per_fold = overhead + t
    compute = folds * per_fold
    macs = m * k * n
    return GemmCycles(
        compute_cycles=compute,
        folds=folds,
        row_folds=row_folds,
        col_folds=col_folds,
        cycles_per_fold=per_fold,
        fill_drain_cycles=folds * overhead,
        utilisation=macs / (rows * cols * compute),
        macs=macs,
        # Summed over folds, the mapped PE count is sum(rows used) * sum(cols used) = Sr * Sc.
        pe_active_cycles=sr * sc * per_fold,
    )
