import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.errors import InputError
from accelsim.hw.systolic import gemm_cycles

dims = st.integers(1, 12)
arr = st.integers(1, 6)
flows = st.sampled_from(["os", "ws", "is"])


def _skew_rows(mat: np.ndarray) -> int:
    """Rows after SCALE-Sim's skew_matrix: column c is delayed by c cycles."""
    rows, cols = mat.shape
    out = np.full((rows + cols - 1, cols), -1.0)
    for c in range(cols):
        out[c:c + rows, c] = mat[:, c]
    return out.shape[0]


def _scalesim_cycles(r: int, c: int, dataflow: str, m: int, k: int, n: int) -> int:
    """Sum over folds of the ifmap demand-matrix rows, built the way scale-sim-v2's compute classes build them."""
    nul = lambda rows, cols: np.full((rows, cols), -1.0)  # noqa: E731
    total = 0
    if dataflow == "os":  # systolic_compute_os.create_ifmap_demand_mat: T rows + (C-1) gap, skewed over R
        for _ in range(math.ceil(m / r) * math.ceil(n / c)):
            total += _skew_rows(np.vstack([nul(k, r), nul(c - 1, r)]))
    elif dataflow == "ws":  # prefix R (weight load) + T=M rows + (C-1) drain, skewed over R
        for _ in range(math.ceil(k / r) * math.ceil(n / c)):
            total += _skew_rows(np.vstack([nul(r, r), nul(m, r), nul(c - 1, r)]))
    else:  # is: ifmap tile R rows + suffix (R + C + T - 2), T = N, no skew
        for _ in range(math.ceil(k / r) * math.ceil(m / c)):
            total += np.vstack([nul(r, c), nul(r + c + n - 2, c)]).shape[0]
    return total


@given(r=arr, c=arr, dataflow=flows, m=dims, k=dims, n=dims)
def test_cycles_match_scalesim_demand_matrices(r, c, dataflow, m, k, n):
    assert gemm_cycles(r, c, dataflow, m, k, n).compute_cycles == _scalesim_cycles(r, c, dataflow, m, k, n)


@pytest.mark.parametrize("r, c, dataflow, m, k, n, cycles, folds", [
    # 2x2 OS, one fold: PE(1,1) sees its last operand pair at cycle 1+1+(K-1) = 3 -> 4 cycles
    (2, 2, "os", 2, 2, 2, 4, 1),
    # 2x2 WS: 2 weight-load cycles, 3 input rows, 1 cycle of skew across rows, 1 across cols -> 7
    (2, 2, "ws", 3, 2, 2, 7, 1),
    (2, 2, "is", 2, 2, 3, 7, 1),
    # 4x4 OS with M = 8: two folds of K + R + C - 2 = 16
    (4, 4, "os", 8, 10, 4, 32, 2),
    # 4x4 WS with K = 6, N = 5: ceil(6/4) * ceil(5/4) = 4 folds of 2*4 + 4 + 3 - 2 = 13
    (4, 4, "ws", 3, 6, 5, 52, 4),
])
def test_hand_computed_cases(r, c, dataflow, m, k, n, cycles, folds):
    g = gemm_cycles(r, c, dataflow, m, k, n)
    assert (g.compute_cycles, g.folds) == (cycles, folds)
    assert g.fill_drain_cycles == cycles - folds * {"os": k, "ws": m, "is": n}[dataflow]


@given(r=arr, c=arr, dataflow=flows, m=st.integers(1, 300), k=st.integers(1, 300), n=st.integers(1, 300))
def test_counts_and_bounds(r, c, dataflow, m, k, n):
    g = gemm_cycles(r, c, dataflow, m, k, n)
    assert g.macs == m * k * n
    assert 0 < g.utilisation <= 1
    assert g.compute_cycles >= math.ceil(g.macs / (r * c))
    assert g.macs <= g.pe_active_cycles <= r * c * g.compute_cycles
    assert g.folds == g.row_folds * g.col_folds and g.compute_cycles == g.folds * g.cycles_per_fold


@given(r=arr, c=arr, a=st.integers(1, 6), b=st.integers(1, 6), k=st.integers(1, 200))
def test_os_bigger_array_never_slower_on_tiled_shapes(r, c, a, b, k):
    m, n = 2 * a * r, 2 * b * c  # multiples of both the array and its doubled sides
    base = gemm_cycles(r, c, "os", m, k, n).compute_cycles
    assert gemm_cycles(2 * r, c, "os", m, k, n).compute_cycles <= base
    assert gemm_cycles(r, 2 * c, "os", m, k, n).compute_cycles <= base


def test_full_fold_utilisation_approaches_one_for_long_streams():
    assert gemm_cycles(8, 8, "os", 8, 100_000, 8).utilisation > 0.999


def test_accepts_numpy_integers():
    assert gemm_cycles(np.int64(4), 4, "ws", np.int32(3), 6, 5).compute_cycles == 52


@pytest.mark.parametrize("kwargs, needle", [
    (dict(rows=0), "rows"),
    (dict(cols=-2), "cols"),
    (dict(m=0), "m:"),
    (dict(k=1.5), "k:"),
    (dict(n=True), "n:"),
    (dict(dataflow="rs"), "dataflow"),
])
def test_bad_input_names_the_argument(kwargs, needle):
    args = dict(rows=4, cols=4, dataflow="os", m=3, k=3, n=3) | kwargs
    with pytest.raises(InputError, match=needle):
        gemm_cycles(**args)


def _scalesim_demand_counts(r: int, c: int, dataflow: str, m: int, k: int, n: int) -> tuple[int, int, int]:
    """(ifmap reads, filter reads, ofmap writes) summed fold by fold as scale-sim-v2's compute classes count them."""
    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]
    ifmap = filt = ofmap = 0
    for fc in range(math.ceil(sc / c)):
        for fr in range(math.ceil(sr / r)):
            used_r, used_c = min(r, sr - fr * r), min(c, sc - fc * c)
            if dataflow == "os":  # operands streamed along rows (A) and cols (B); outputs stay in the PEs
                ifmap, filt, ofmap = ifmap + used_r * t, filt + used_c * t, ofmap + used_r * used_c
            elif dataflow == "ws":  # B tile loaded once; A streamed; partial sums out per row fold
                ifmap, filt, ofmap = ifmap + t * used_r, filt + used_r * used_c, ofmap + t * used_c
            else:  # is: A tile loaded once; B streamed
                ifmap, filt, ofmap = ifmap + used_r * used_c, filt + t * used_r, ofmap + t * used_c
    return ifmap, filt, ofmap


@given(r=arr, c=arr, dataflow=flows, m=dims, k=dims, n=dims, kb=st.integers(1, 4))
def test_topology_sram_counts_match_scalesim_and_dram_never_exceeds_them(r, c, dataflow, m, k, n, kb):
    from accelsim.hw.scalesim_topology import run_topology
    from accelsim.workload.scalesim import ScaleSimConfig, TopologyLayer

    cfg = ScaleSimConfig(r, c, dataflow, kb, kb, kb, None)
    (rep,) = run_topology([TopologyLayer("l", m, k, n, 2)], cfg)
    assert (rep.ifmap_sram_reads, rep.filter_sram_reads, rep.ofmap_sram_writes) == \
        _scalesim_demand_counts(r, c, dataflow, m, k, n)
    # Each operand is fetched at least once and never more often than the array reads it.
    assert m * k <= rep.ifmap_dram_reads <= rep.ifmap_sram_reads
    assert k * n <= rep.filter_dram_reads <= rep.filter_sram_reads
    assert m * n <= rep.ofmap_dram_writes <= rep.ofmap_sram_writes
    assert rep.total_cycles == gemm_cycles(r, c, dataflow, m, k, n).compute_cycles and rep.stall_cycles == 0
