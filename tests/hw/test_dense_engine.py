import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.config.accel import DenseEngineConfig
from accelsim.config.base import parse_model
from accelsim.errors import InputError
from accelsim.hw.dense_engine import DenseEngine
from accelsim.hw.systolic import gemm_cycles
from accelsim.kernels.reference import DenseLayer

BIG = 1 << 30


def make_cfg(**over) -> DenseEngineConfig:
    base = dict(
        rows=8, cols=8, dataflow="os", precision="fp32",
        dsp_per_pe=1.0,
        ifmap_buffer_bytes=BIG, filter_buffer_bytes=BIG, ofmap_buffer_bytes=BIG,
        offchip_port_bytes_per_cycle=BIG, alms_per_pe=100,
        sources={"rows": "test", "offchip_port_bytes_per_cycle": "test: effectively unlimited"},
    )
    return parse_model(DenseEngineConfig, base | over, source="test")


def engine(clock_ghz: float = 0.4, **over) -> DenseEngine:
    return DenseEngine(make_cfg(**over), clock_ghz)


shapes = dict(m=st.integers(1, 200), k=st.integers(1, 200), n=st.integers(1, 200))
flows = st.sampled_from(["os", "ws", "is"])


@given(dataflow=flows, **shapes)
def test_ideal_memory_adds_only_the_exposed_first_fill_and_last_drain(dataflow, m, k, n):
    t = engine(dataflow=dataflow).gemm(m, k, n)
    assert t.compute_cycles == gemm_cycles(8, 8, dataflow, m, k, n).compute_cycles
    assert (t.exposed_fill_cycles, t.exposed_drain_cycles) == (1, 1)  # one beat of an unlimited port each
    assert t.total_cycles == t.compute_cycles + 2
    # everything fits: each operand fetched once, outputs written once
    assert t.offchip_bytes_read == 4 * (m * k + k * n)
    assert t.offchip_bytes_written == 4 * m * n
    assert t.macs == m * k * n and 0 < t.utilisation <= 1


def test_hand_computed_os_traffic_and_timing():
    # 8x8 OS, M=16 K=32 N=16, fp32: 2x2 folds of 32+8+8-2 = 46 cycles -> 184 compute cycles.
    # A = 2 KiB, B = 2 KiB, out = 1 KiB. ifmap buffer 1 KiB < A: A re-read per column fold (2x).
    # B tile K x C = 1 KiB fits the 1 KiB filter buffer: B read once.
    t = engine(ifmap_buffer_bytes=1024, filter_buffer_bytes=1024, offchip_port_bytes_per_cycle=64).gemm(16, 32, 16)
    assert t.compute_cycles == 184 and t.folds == 4
    assert t.offchip_bytes_read == 2 * 2048 + 2048
    assert t.offchip_bytes_written == 1024
    # first fold: A tile 8x32 (1 KiB) + B tile 32x8 (1 KiB) = 32 beats; last output tile 8x8 = 256 B = 4 beats
    assert (t.exposed_fill_cycles, t.exposed_drain_cycles) == (32, 4)
    # steady: max(184 compute, (6144 - 2048)/64 = 64 read beats, (1024 - 256)/64 = 12 write beats)
    assert t.total_cycles == 32 + 184 + 4
    assert t.time_ns == pytest.approx(220 / 0.4)
    assert t.ifmap_sram_read_bytes == 2048 * 2 and t.filter_sram_read_bytes == 2048 * 2
    assert t.ifmap_sram_write_bytes == 4096 and t.filter_sram_write_bytes == 2048


def test_hand_computed_ws_partial_sum_spill():
    # 8x8 WS, M=4 K=24 N=8: 3 K folds. Partial-sum tile M x C = 128 B > 64 B ofmap buffer: spills.
    t = engine(dataflow="ws", ofmap_buffer_bytes=64).gemm(4, 24, 8)
    out = 4 * 8 * 4
    assert t.offchip_bytes_written == 3 * out
    assert t.offchip_bytes_read == 4 * (4 * 24 + 24 * 8) + 2 * out
    assert t.ofmap_sram_write_bytes == 3 * out + 2 * out  # array writes + spilled partials coming back
    assert t.ofmap_sram_read_bytes == 2 * out + 3 * out  # accumulation reads + drains


@pytest.mark.parametrize("dataflow, buffer", [
    ("os", "ifmap_buffer_bytes"), ("os", "filter_buffer_bytes"),
    ("ws", "ifmap_buffer_bytes"), ("ws", "ofmap_buffer_bytes"),
    ("is", "filter_buffer_bytes"), ("is", "ofmap_buffer_bytes"),
])
def test_too_small_buffer_costs_more_offchip_bytes(dataflow, buffer):
    m, k, n = 64, 64, 64
    roomy = engine(dataflow=dataflow).gemm(m, k, n)
    tight = engine(dataflow=dataflow, **{buffer: 256}).gemm(m, k, n)
    moved = lambda t: t.offchip_bytes_read + t.offchip_bytes_written  # noqa: E731
    assert moved(tight) > moved(roomy)


@given(dataflow=flows, buf=st.sampled_from(["ifmap_buffer_bytes", "filter_buffer_bytes", "ofmap_buffer_bytes"]),
       small=st.integers(16, 4096), **shapes)
def test_shrinking_a_buffer_never_reduces_offchip_traffic(dataflow, buf, small, m, k, n):
    big = engine(dataflow=dataflow, **{buf: 2 * small}).gemm(m, k, n)
    little = engine(dataflow=dataflow, **{buf: small}).gemm(m, k, n)
    assert little.offchip_bytes_read >= big.offchip_bytes_read
    assert little.offchip_bytes_written >= big.offchip_bytes_written


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_resident_weights_are_not_fetched_but_only_when_they_fit(dataflow):
    e = engine(dataflow=dataflow, filter_buffer_bytes=64 * 32 * 4)
    cold, warm = e.gemm(16, 64, 32), e.gemm(16, 64, 32, weights_resident=True)
    assert warm.weights_resident and not cold.weights_resident
    assert cold.offchip_bytes_read - warm.offchip_bytes_read == 64 * 32 * 4
    too_big = e.gemm(16, 64, 33, weights_resident=True)
    assert not too_big.weights_resident
    assert too_big.offchip_bytes_read >= 4 * (16 * 64 + 64 * 33)


@given(dataflow=flows, port=st.integers(1, 64), **shapes)
def test_port_bandwidth_bounds_the_runtime(dataflow, port, m, k, n):
    slow = engine(dataflow=dataflow, offchip_port_bytes_per_cycle=port).gemm(m, k, n)
    fast = engine(dataflow=dataflow, offchip_port_bytes_per_cycle=2 * port).gemm(m, k, n)
    assert slow.total_cycles >= max(slow.compute_cycles, math.ceil(slow.offchip_bytes_read / port))
    assert slow.total_cycles >= fast.total_cycles
    assert slow.memory_stall_cycles == slow.total_cycles - slow.compute_cycles


def test_mlp_is_one_gemm_per_layer():
    e = engine()
    ts = e.mlp([(13, 64), (64, 16)], batch=32)
    assert [(t.m, t.k, t.n) for t in ts] == [(32, 13, 64), (32, 64, 16)]
    assert ts[1].total_cycles == e.gemm(32, 64, 16).total_cycles


def test_interaction_is_batch_times_the_per_sample_gemm():
    e = engine(offchip_port_bytes_per_cycle=16)
    one, many = e.interaction(1, 27, 16), e.interaction(128, 27, 16)
    assert (many.m, many.k, many.n, many.repeats) == (27, 16, 27, 128)
    assert many.macs == 128 * 27 * 16 * 27
    assert many.compute_cycles == 128 * one.compute_cycles
    assert many.offchip_bytes_read == 128 * one.offchip_bytes_read
    # only the first sample's fill and the last sample's drain are exposed
    assert many.exposed_fill_cycles == one.exposed_fill_cycles


@pytest.mark.parametrize("field, value", [
    ("rows", 16), ("cols", 4), ("dataflow", "ws"), ("precision", "int8"),
    ("ifmap_buffer_bytes", 512), ("filter_buffer_bytes", 512), ("ofmap_buffer_bytes", 64),
    ("offchip_port_bytes_per_cycle", 2),
])
def test_every_timing_field_changes_the_result(field, value):
    # OS for the buffers that matter to it; the ofmap buffer only matters to WS/IS partial sums
    flow = {"ofmap_buffer_bytes": "ws"}.get(field, "os")
    base = dict(dataflow=flow, offchip_port_bytes_per_cycle=64)
    a = engine(**base).gemm(100, 60, 40)
    b = engine(**(base | {field: value})).gemm(100, 60, 40)
    assert (a.total_cycles, a.offchip_bytes_read, a.offchip_bytes_written) != (
        b.total_cycles, b.offchip_bytes_read, b.offchip_bytes_written)


def test_clock_sets_time():
    assert engine(0.2).gemm(8, 8, 8).time_ns == pytest.approx(2 * engine(0.4).gemm(8, 8, 8).time_ns)


def test_forward_mlp_matches_numpy_and_times_each_layer():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 13)).astype(np.float32)
    layers = [DenseLayer(rng.standard_normal((o, i)).astype(np.float32), rng.standard_normal(o).astype(np.float32))
              for i, o in [(13, 32), (32, 8), (8, 1)]]
    out, ts = engine().forward_mlp(x, layers, sigmoid_last=True)
    y = x
    for j, (w, b) in enumerate(layers):
        y = y @ w.T + b
        y = 1 / (1 + np.exp(-y)) if j == 2 else np.maximum(y, 0)
    np.testing.assert_allclose(out, y, rtol=1e-5, atol=1e-6)
    assert [(t.m, t.k, t.n) for t in ts] == [(5, 13, 32), (5, 32, 8), (5, 8, 1)]


def test_forward_interaction_matches_numpy():
    rng = np.random.default_rng(3)
    bottom, pooled = rng.standard_normal((4, 8)).astype(np.float32), rng.standard_normal((3, 4, 8)).astype(np.float32)
    out, t = engine().forward_interaction(bottom, pooled)
    feats = np.concatenate([bottom[:, None, :], pooled.transpose(1, 0, 2)], axis=1)  # (B, F, d)
    z = feats @ feats.transpose(0, 2, 1)
    li, lj = np.tril_indices(4, -1)
    np.testing.assert_allclose(out, np.concatenate([bottom, z[:, li, lj]], axis=1), rtol=1e-5, atol=1e-5)
    assert (t.m, t.k, t.n, t.repeats) == (4, 8, 4, 4)


def test_functional_model_refuses_non_fp32():
    with pytest.raises(InputError, match="precision"):
        engine(precision="fp16").forward_mlp(np.zeros((1, 2), np.float32),
                                             [DenseLayer(np.zeros((1, 2), np.float32), np.zeros(1, np.float32))],
                                             sigmoid_last=False)


@pytest.mark.parametrize("over, needle", [
    (dict(dsp_per_pe=0), "dsp_per_pe"),
    (dict(rows=0), "rows"),
    (dict(dataflow="rs"), "dataflow"),
    (dict(ifmap_bytes=4), "unknown key"),
])
def test_bad_config_is_one_line_input_error(over, needle):
    with pytest.raises(InputError, match=needle):
        make_cfg(**over)


def test_bad_clock_and_batch():
    with pytest.raises(InputError, match="clock_ghz"):
        engine(0.0)
    with pytest.raises(InputError, match="batch"):
        engine().interaction(0, 4, 4)
    with pytest.raises(InputError, match="m:"):
        engine().mlp([(4, 4)], batch=0)
