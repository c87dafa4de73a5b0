"""The ahead-of-time kernels give numba's JIT kernels' results bit for bit, and refuse arguments of other types."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.config.dram import load_dram
from accelsim.hw.dram import Dram
from accelsim.kernels import aot
from accelsim.kernels.dram_timing import run_channel
from accelsim.kernels.memtrace import parse_lines


@pytest.fixture(scope="module")
def built():
    kernels = aot.ensure()
    assert kernels is not None, "the ahead-of-time build failed (see the warning)"
    return kernels


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["DDR4-2400", "ddr5_4800", "hbm2"]), st.sampled_from(["frfcfs", "fcfs"]),
       st.sampled_from(["open", "closed"]), st.sampled_from(["shared", "per_rank", "per_bank"]),
       st.integers(1, 32), st.integers(1, 600), st.integers(0, 2**31), st.floats(0.0, 1.0))
def test_channel_kernel_built_and_jit_agree(built, preset, scheduler, policy, structure, depth, n, seed, write_frac):
    cfg = load_dram(preset, channels=2, scheduler=scheduler, page_policy=policy, queue_structure=structure,
                    queue_depth=depth, command_queue_depth=4)
    rng = np.random.default_rng(seed)
    addr = rng.integers(0, 1 << 16, n) * 64 * rng.integers(1, 64)
    arrival = np.sort(rng.random(n)) * n * rng.random() * 4
    w = rng.random(n) < write_frac
    a = Dram(cfg, kernel=run_channel).simulate(arrival, addr, w)
    b = Dram(cfg, kernel=built.run_channel).simulate(arrival, addr, w)
    assert np.array_equal(a.completion_ns, b.completion_ns)
    assert a.counters.per_bank.keys() == b.counters.per_bank.keys()
    for name, v in a.counters.per_bank.items():
        assert np.array_equal(v, b.counters.per_bank[name]), name
    assert np.array_equal(a.counters.bank_busy_ns, b.counters.bank_busy_ns)


_LINES = st.lists(st.one_of(
    st.tuples(st.integers(0, 2**40), st.sampled_from(["READ", "WRITE", "read", "R", "W"]), st.integers(0, 10**6)),
    st.sampled_from(["", "# comment", "0xZZ READ 4", "0x10 READ 3 7", "0x10 FETCH 9", "  0x1f\tWRITE  12 # c"])),
    max_size=40)


@settings(max_examples=60, deadline=None)
@given(_LINES)
def test_parser_built_and_jit_agree(built, lines):
    text = "\n".join(x if isinstance(x, str) else f"0x{x[0]:x} {x[1]} {x[2]}" for x in lines).encode()
    buf = np.frombuffer(text, np.uint8)
    outs = []
    for parse in (parse_lines, built.parse_lines):
        arrays = (np.zeros(len(lines) + 1, np.int64), np.zeros(len(lines) + 1, np.bool_),
                  np.zeros(len(lines) + 1, np.int64), np.zeros(3, np.int64))
        outs.append((parse(buf, *arrays), arrays))
    (ra, aa), (rb, ab) = outs
    assert ra == rb
    for x, y in zip(aa, ab):
        assert np.array_equal(x, y)


def test_built_kernels_refuse_other_types(built):
    buf = np.zeros(4, np.uint8)
    ok = (np.zeros(2, np.int64), np.zeros(2, np.bool_), np.zeros(2, np.int64), np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="argument 1 must be a C-contiguous 1-D int64 array"):
        built.parse_lines(buf, np.zeros(2, np.float64), *ok[1:])
    with pytest.raises(TypeError, match="argument 0 must be a C-contiguous 1-D uint8 array"):
        built.parse_lines(np.zeros(8, np.uint8)[::2], *ok)
    with pytest.raises(TypeError, match="expected 5 arguments"):
        built.parse_lines(buf, *ok[:3])


def test_build_is_keyed_by_the_kernel_source(built):
    assert aot.build_path().exists()
    assert aot.build_key() in aot.build_path().name
