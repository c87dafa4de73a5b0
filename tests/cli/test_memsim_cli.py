import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.cli import main
from accelsim.cli.memsim_cmd import BINARY_MAGIC

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


def test_ramulator_lines_are_offered_one_per_cycle(tmp_path, capsys):
    p = tmp_path / "ram.trace"
    p.write_text("0x0 R\n0x40 R\n0x1000000 W\n")
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(p), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["reads"], r["writes"]) == (2, 1)
    q = tmp_path / "d3.trace"
    q.write_text("0x0 READ 0\n0x40 READ 1\n0x1000000 WRITE 2\n")  # the same requests, DRAMsim3-style
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(q), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in r.items() if k != "wall_time_s"} == {k: v for k, v in s.items() if k != "wall_time_s"}


@pytest.mark.parametrize("text,problem", [("0x0 READ 10\n0x40 READ 9\n", "line 2: time stamp goes backwards"),
                                          ("0x0 READ 10\n0x40 R\n", "line 2: a file holds DRAMsim3 lines"),
                                          ("0x0 R\n0x40 FETCH\n", "line 2: operation must be READ or WRITE")])
def test_backwards_and_mixed_traces_exit_2(tmp_path, capsys, text, problem):
    p = tmp_path / "bad.trace"
    p.write_text(text)
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}: {problem}" in err and len(err.strip().splitlines()) == 1


def test_binary_trace_round_trips_and_never_overwrites(trace, tmp_path, capsys):
    out = tmp_path / "t.bin"
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(trace), "--json", "--save-binary", str(out)]) == 0
    text = json.loads(capsys.readouterr().out)
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(out), "--json"]) == 0
    binary = json.loads(capsys.readouterr().out)
    text.pop("wall_time_s"), binary.pop("wall_time_s")
    assert text == binary
    before = out.read_bytes()
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(trace), "--save-binary", str(out)]) == 2
    assert "exists; not overwritten" in capsys.readouterr().err and out.read_bytes() == before
    out.write_bytes(before[:-3])
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(out)]) == 2
    assert "not a whole number of 17-byte records" in capsys.readouterr().err


def test_json_has_dramsim3_named_stats_histogram_and_epochs(trace, tmp_path, capsys):
    assert main(["memsim", "--dram", "DDR4-2400", "--channels", "2", "--trace", str(trace), "--json",
                 "--epoch-ns", "10"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert len(r["per_channel"]) == 2 and len(r["per_channel"][0]["banks"]) == 32
    assert sum(c["num_reads_done"] for c in r["per_channel"]) == 3
    assert sum(r["read_latency_histogram"]["counts"]) == r["reads"]
    assert sum(e["num_reads_done"] + e["num_writes_done"] for e in r["epochs"]) == 4
    assert r["epoch_ns"] == pytest.approx(10.0, abs=0.833)  # whole cycles
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(trace), "--epoch-ns", "-1"]) == 2
    assert "--epoch-ns" in capsys.readouterr().err
    # 1e300 ns overflowed the epoch's cycle count (OverflowError, fuzz run 2026-12-02)
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(trace), "--epoch-ns", "1e300"]) == 2
    assert "--epoch-ns: 1e+300 ns is longer than any run (limit 2^48 ns)" in capsys.readouterr().err
    far = tmp_path / "far.trace"
    far.write_text("0x0 READ 0\n0x40 READ 999999999999999999\n")
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(far), "--epoch-ns", "1000"]) == 2
    assert "choose a longer epoch" in capsys.readouterr().err


def test_dram_given_as_a_dramsim3_ini(trace, tmp_path, capsys):
    ini = tmp_path / "d.ini"
    ini.write_text("[dram_structure]\nprotocol = DDR4\nbankgroups = 4\nbanks_per_group = 4\n[timing]\ntCK = 0.83\n"
                   "CL = 17\nCWL = 12\ntRCD = 17\ntRP = 17\ntRAS = 39\ntRFC = 420\ntREFI = 9360\ntFAW = 26\n"
                   "[system]\nchannel_size = 16384\nbus_width = 64\n")
    assert main(["memsim", "--dram", str(ini), "--trace", str(trace), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dram"] == "DDR4"


def test_memsim_imports_only_what_it_uses(trace):
    # the replay needs numpy and the config models; not numba (its kernels are built ahead of time), nor any of
    # the other commands' libraries
    import subprocess
    import sys
    from pathlib import Path

    from accelsim.kernels import aot

    assert aot.ensure() is not None  # built here: the first build imports numba to compile
    root = Path(__file__).resolve().parents[2]
    code = ("import contextlib, io, json, sys\nfrom accelsim.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['memsim', '--dram', 'DDR4-2400', '--trace', {str(trace)!r}]) == 0\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={"PYTHONPATH": str(root), "PATH": "", "NUMBA_NUM_THREADS": "1"})
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert not loaded & {"pandas", "matplotlib", "simpy", "torch", "dask", "distributed", "pyarrow", "numba",
                         "llvmlite"}


_RECORDS = st.lists(st.tuples(st.integers(0, (1 << 34) // 64 - 1), st.booleans(), st.integers(0, 30)),
                    min_size=1, max_size=150)


@settings(max_examples=25, deadline=None)
@given(_RECORDS, st.integers(16, 2048), st.sampled_from(["DDR4-2400", "hbm2"]))
def test_text_and_binary_traces_in_chunks_give_the_in_memory_result(records, chunk, dram):
    # the streamed path (parse in chunks, replay in chunks) against the reference: Python's own parse of the
    # lines and one whole-trace simulate
    import tempfile
    from pathlib import Path

    import numpy as np

    from accelsim.cli import memsim_cmd
    from accelsim.config.dram import load_dram
    from accelsim.hw import dram_replay
    from accelsim.hw.dram import Dram

    cfg = load_dram(dram)
    addr = np.array([r[0] * 64 % cfg.capacity_bytes for r in records], np.int64)
    w = np.array([r[1] for r in records])
    cyc = np.cumsum([r[2] for r in records]).astype(np.int64)
    res = Dram(cfg).simulate(cyc * cfg.tck_ns, addr, w)
    want = dram_replay.report(cfg, dram_replay.stats_of_result(cfg, res), dram_replay.counters_of_result(res))
    old = memsim_cmd.CHUNK_BYTES
    memsim_cmd.CHUNK_BYTES = chunk
    try:
        with tempfile.TemporaryDirectory() as tmp:
            text = Path(tmp) / "t.trace"
            text.write_text("".join(f"0x{a:x} {'WRITE' if x else 'READ'} {c}\n" for a, x, c in zip(addr, w, cyc)))
            args = memsim_cmd.argparse.Namespace(dram=dram, channels=None, ranks=None, mapping=None,
                                                 page_policy=None, queue_depth=None, fidelity="detailed",
                                                 trace=str(text), epoch_ns=None, save_binary=str(Path(tmp) / "t.bin"))
            got_text = memsim_cmd.run_memsim(args)
            args.trace, args.save_binary = args.save_binary, None
            got_binary = memsim_cmd.run_memsim(args)
    finally:
        memsim_cmd.CHUNK_BYTES = old
    for got in (got_text, got_binary):
        got.pop("wall_time_s"), got.pop("fidelity")
        assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


def test_save_binary_makes_its_folders_and_a_path_under_a_file_is_one_line(trace, tmp_path, capsys):
    deep = tmp_path / "nope" / "deeper" / "x.bin"  # a FileNotFoundError traceback before (fuzz run 2026-12-02)
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(trace), "--save-binary", str(deep)]) == 0
    assert deep.read_bytes().startswith(BINARY_MAGIC)
    (tmp_path / "afile").write_text("mine")
    capsys.readouterr()
    assert main(["memsim", "--dram", "DDR4-2400", "--trace", str(trace), "--save-binary",
                 str(tmp_path / "afile" / "x.bin")]) == 2
    err = capsys.readouterr().err
    assert "afile/x.bin: cannot write" in err and err.count("\n") == 1 and (tmp_path / "afile").read_text() == "mine"
