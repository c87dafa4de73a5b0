import json

import pytest

from accelsim.cli import main

TRACE = """# a DRAMsim3-format trace
0x0 READ 0
0x40 READ 0

0x1000000 WRITE 10   # a write
0x2000 read 20
"""


@pytest.fixture
def trace(tmp_path):
    p = tmp_path / "t.trace"
    p.write_text(TRACE)
    return p


def test_text_report(trace, capsys):
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "requests        4 (3 reads, 1 writes)" in out
    for word in ("simulated time", "bandwidth", "read latency", "row-hit rate", "wall time"):
        assert word in out


@pytest.mark.parametrize("fidelity", ["detailed", "analytic"])
def test_json_report(trace, capsys, fidelity):
    assert main(["memsim", "--dram", "ddr4_2400", "--channels", "2", "--page-policy", "closed", "--queue-depth",
                 "4", "--fidelity", fidelity, "--trace", str(trace), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["requests"] == 4 and r["reads"] == 3 and r["channels"] == 2 and r["fidelity"] == fidelity
    for key in ("sim_time_ns", "bandwidth_gbps", "read_latency_avg_ns", "read_latency_p50_ns",
                "read_latency_p99_ns", "row_hit_rate", "wall_time_s"):
        assert isinstance(r[key], float)
    assert r["read_latency_p50_ns"] <= r["read_latency_p99_ns"]
    assert r["row_hit_rate"] == 0.0


def test_cycles_are_dram_clock_cycles(tmp_path, capsys):
    p = tmp_path / "one.trace"
    p.write_text("0x0 READ 1000\n")
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(p), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["sim_time_ns"] == pytest.approx((1000 + 17 + 17 + 4) * 0.833)


@pytest.mark.parametrize("line,problem", [("0x40 READ 1 2", "expected"), ("0xZZ READ 1", "address"),
                                          ("0x40 FETCH 1", "READ or WRITE"), ("0x40 READ -1", "cycle"),
                                          ("40 READ 1", "address")])
def test_bad_line_exits_2_naming_the_line(tmp_path, capsys, line, problem):
    p = tmp_path / "bad.trace"
    p.write_text("0x0 READ 0\n# fine\n\n" + line + "\n0x80 READ 5\n")
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}: line 4: " in err and problem in err and len(err.strip().splitlines()) == 1


def test_missing_trace_and_bad_override_exit_2(tmp_path, capsys):
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(tmp_path / "nope")]) == 2
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "t").write_text("0x0 READ 0\n")
    assert main(["memsim", "--dram", "DDR4-2400", "--mapping", "ro-ba", "--trace", str(tmp_path / "t")]) == 2
    assert "address_mapping" in capsys.readouterr().err


def test_large_trace_parses_across_chunks(tmp_path, monkeypatch):
    import numpy as np

    from accelsim.cli import memsim_cmd

    monkeypatch.setattr(memsim_cmd, "CHUNK_BYTES", 64)
    n = 500
    lines = [f"0x{i * 64:x} {'WRITE' if i % 3 == 0 else 'READ'} {i * 2}" for i in range(n)]
    p = tmp_path / "big.trace"
    p.write_text("\n".join(lines))  # no trailing newline
    addr, w, cyc = memsim_cmd.read_trace(p)
    np.testing.assert_array_equal(addr, np.arange(n) * 64)
    np.testing.assert_array_equal(w, np.arange(n) % 3 == 0)
    np.testing.assert_array_equal(cyc, np.arange(n) * 2)
    p.write_text("\n".join(lines[:300] + ["0x1 READ x"] + lines[300:]))
    with pytest.raises(Exception, match="line 301: cycle"):
        memsim_cmd.read_trace(p)
