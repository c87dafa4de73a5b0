import json
import subprocess
import sys

import pytest

from accelsim.cli import main

ARGS = ["gemm", "--rows", "4", "--cols", "4", "--dataflow", "ws", "--m", "3", "--k", "6", "--n", "5"]


def test_text_output(capsys):
    assert main(ARGS) == 0
    out = capsys.readouterr().out
    # 4x4 WS, K=6 N=5: 2 x 2 folds of 2*4 + 4 + 3 - 2 = 13 cycles
    assert "compute_cycles     52" in out
    assert "folds              4 (2 row x 2 col, 13 cycles each)" in out
    assert "macs               90" in out
    assert "utilisation        10.8%" in out  # 90 / (16 * 52)


def test_json_output(capsys):
    assert main(ARGS + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["compute_cycles"] == 52 and d["folds"] == 4 and d["macs"] == 90
    assert d["fill_drain_cycles"] == 52 - 4 * 3
    assert d["utilisation_fraction"] == pytest.approx(90 / (16 * 52))
    assert (d["dataflow"], d["m"], d["k"], d["n"]) == ("ws", 3, 6, 5)


@pytest.mark.parametrize("flag, value", [("--rows", "0"), ("--cols", "-4"), ("--m", "x"), ("--k", "0"),
                                         ("--n", "-1"), ("--dataflow", "rs")])
def test_bad_values_exit_2_with_one_line(capsys, flag, value):
    args = list(ARGS)
    args[args.index(flag) + 1] = value
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert flag in err and "\n" not in err


def test_process_exit_code():
    bad = subprocess.run([sys.executable, "-m", "accelsim", *ARGS[:2], "0", *ARGS[3:]], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# --- SCALE-Sim topologies ------------------------------------------------------------------------------------------

TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1, 30, 30, 7, 7, 3, 16, 2,
Conv2, 12, 12, 3, 3, 16, 24, 1,
FC, 1, 1, 1, 1, 256, 100, 1,
DP_dw, 8, 8, 3, 3, 3, 3, 1,
"""
CFG = """[general]
run_name = "tiny"

[architecture_presets]
ArrayHeight:    8
ArrayWidth:     4
IfmapSramSzkB:    1
FilterSramSzkB:   1
OfmapSramSzkB:    1
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Dataflow : {dataflow}
Bandwidth : 4
MemoryBanks: 1

[run_presets]
InterfaceBandwidth: {mode}
"""
# SCALE-Sim's lowering by hand: ofmap = ceil((H - R + S) / S), ceil(25/2) = 13 for Conv1; M = ofmap pixels, K = R*S*C, N = filters.
GEMMS = [("Conv1", 13 * 13, 7 * 7 * 3, 16), ("Conv2", 10 * 10, 3 * 3 * 16, 24), ("FC", 1, 256, 100),
         *[(f"DP_dwChannel_{i}", 36, 9, 1) for i in range(3)]]


def _files(tmp_path, dataflow="ws", mode="CALC", topology=TOPOLOGY):
    topo, cfg = tmp_path / "net.csv", tmp_path / "array.cfg"
    topo.write_text(topology)
    cfg.write_text(CFG.format(dataflow=dataflow, mode=mode))
    return topo, cfg


def _gemm_json(capsys, *args):
    assert main(["gemm", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_topology_layers_round_trip_through_single_gemms(tmp_path, capsys, dataflow):
    topo, cfg = _files(tmp_path, dataflow)
    layers = _gemm_json(capsys, "--topology", topo, "--scalesim-config", cfg)
    assert [(d["name"], d["m"], d["k"], d["n"]) for d in layers] == GEMMS
    for d in layers:
        one = _gemm_json(capsys, "--rows", 8, "--cols", 4, "--dataflow", dataflow, "--m", d["m"], "--k", d["k"],
                         "--n", d["n"])
        assert d["total_cycles"] == d["compute_cycles"] == one["compute_cycles"]  # CALC: no stalls
        assert d["stall_cycles"] == 0
        assert d["overall_util_pct"] == pytest.approx(100 * one["utilisation_fraction"])
        assert d["compute_util_pct"] == pytest.approx(d["overall_util_pct"])


def test_topology_sram_reads_follow_scalesim_demand_counts(tmp_path, capsys):
    # WS: filter tiles stationary (each weight read once); ifmap re-streamed per column fold;
    # ofmap written once per row (K) fold, as SCALE-Sim's compute_ws counts its demand matrices.
    topo, cfg = _files(tmp_path, "ws")
    conv2 = _gemm_json(capsys, "--topology", topo, "--scalesim-config", cfg)[1]
    m, k, n = 100, 144, 24
    row_folds, col_folds = -(-k // 8), -(-n // 4)
    assert conv2["filter_sram_reads"] == k * n
    assert conv2["ifmap_sram_reads"] == m * k * col_folds
    assert conv2["ofmap_sram_writes"] == m * n * row_folds
    assert conv2["mapping_efficiency_pct"] == pytest.approx(100 * k * n / (8 * 4 * row_folds * col_folds))
    assert conv2["ifmap_sram_bw"] == pytest.approx(conv2["ifmap_sram_reads"] / conv2["total_cycles"])


def test_bigger_srams_cut_dram_traffic_and_user_bandwidth_adds_stalls(tmp_path, capsys):
    # M=1024, K=64, N=8 on 8x4 WS: A is 64 kB, an output tile 1024 x 4 words = 4 kB, 8 K folds.
    topo, cfg = _files(tmp_path, "ws", topology="Layer, M, N, K,\nbig, 1024, 8, 64,\n")
    small = _gemm_json(capsys, "--topology", topo, "--scalesim-config", cfg)[0]
    cfg.write_text(CFG.format(dataflow="ws", mode="CALC").replace("SzkB:    1", "SzkB:    512")
                   .replace("SzkB:   1", "SzkB:   512"))
    big = _gemm_json(capsys, "--topology", topo, "--scalesim-config", cfg)[0]
    assert big["ifmap_dram_reads"] == 1024 * 64 < small["ifmap_dram_reads"] == 2 * 1024 * 64  # once when it fits
    assert big["ofmap_dram_writes"] == 1024 * 8 < small["ofmap_dram_writes"] == 8 * 1024 * 8  # K-fold spills
    assert big["total_cycles"] == small["total_cycles"]  # CALC: buffers change traffic, not cycles
    cfg.write_text(CFG.format(dataflow="ws", mode="USER"))
    user = _gemm_json(capsys, "--topology", topo, "--scalesim-config", cfg)[0]
    assert user["stall_cycles"] > 0 and user["total_cycles"] == user["compute_cycles"] + user["stall_cycles"]
    # 4 words/cycle cannot move the layer's DRAM words in fewer cycles than words / 4.
    assert user["total_cycles"] >= (user["ifmap_dram_reads"] + user["filter_dram_reads"]) / 4


def test_gemm_form_topology_and_cli_array_override(tmp_path, capsys):
    topo, cfg = _files(tmp_path, "os", topology="Layer, M, N, K,\nqkv, 64, 192, 64,\nproj, 64, 64, 64,\n")
    layers = _gemm_json(capsys, "--topology", topo, "--scalesim-config", cfg, "--rows", 16, "--dataflow", "is")
    assert [(d["m"], d["k"], d["n"]) for d in layers] == [(64, 64, 192), (64, 64, 64)]
    one = _gemm_json(capsys, "--rows", 16, "--cols", 4, "--dataflow", "is", "--m", 64, "--k", 64, "--n", 192)
    assert layers[0]["total_cycles"] == one["compute_cycles"]


def test_topology_writes_scalesim_reports(tmp_path, capsys):
    topo, cfg = _files(tmp_path, "os")
    out = tmp_path / "reports"
    assert main(["gemm", "--topology", str(topo), "--scalesim-config", str(cfg), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Total Cycles" in text and "DP_dwChannel_2" in text
    compute = (out / "COMPUTE_REPORT.csv").read_text().splitlines()
    assert compute[0] == "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,"
    assert len(compute) == 1 + len(GEMMS)
    cycles = [int(line.split(",")[1]) for line in compute[1:]]
    assert cycles == [d["total_cycles"] for d in _gemm_json(capsys, "--topology", topo, "--scalesim-config", cfg)]
    assert (out / "BANDWIDTH_REPORT.csv").read_text().startswith("LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW,")
    assert "DRAM OFMAP Writes" in (out / "DETAILED_ACCESS_REPORT.csv").read_text()
    # An existing report is never overwritten.
    before = (out / "COMPUTE_REPORT.csv").read_text()
    assert main(["gemm", "--topology", str(topo), "--scalesim-config", str(cfg), "-o", str(out)]) == 2
    assert "already exist" in capsys.readouterr().err and (out / "COMPUTE_REPORT.csv").read_text() == before


@pytest.mark.parametrize("topology, cfg_edit, message", [
    (TOPOLOGY.replace("Conv2, 12,", "Conv2, twelve,"), None, "net.csv:3: IFMAP Height: expected an integer"),
    (TOPOLOGY.replace("FC, 1, 1, 1, 1,", "FC, 1, 1, 3, 1,"), None, "net.csv:4: filter 3x1 is larger"),
    (TOPOLOGY.replace("Conv1, 30, 30, 7,", "Conv1, 30, 7,"), None, "net.csv:2: 7 fields, expected 8"),
    ("Layer, M, N\nx, 1, 2\n", None, "header has 3 columns"),
    # a depth-wise layer is one layer per channel: 10^12 of them used to run for ever
    (TOPOLOGY.splitlines()[0] + "\nDP_dw, 8, 8, 3, 3, 1000000000000, 3, 1,\n", None,
     "net.csv:2: Channels: 1000000000000 depth-wise channels are 1000000000000 single-channel layers, more than the 65536"),
    (TOPOLOGY, ("Dataflow : ws", "Dataflow : rs"), "Dataflow: expected one of os, ws, is"),
    (TOPOLOGY, ("ArrayWidth:     4", "ArrayWidth:     0"), "ArrayWidth: expected an integer >= 1"),
    (TOPOLOGY, ("MemoryBanks: 1", "MemoryBanks: 1\nSparsity: 2"), "unknown key(s) sparsity"),
    (TOPOLOGY, ("InterfaceBandwidth: CALC", "InterfaceBandwidth: FAST"), "expected CALC or USER"),
])
def test_bad_scalesim_files_exit_2_naming_file_and_field(tmp_path, capsys, topology, cfg_edit, message):
    topo, cfg = _files(tmp_path, "ws", topology=topology)
    if cfg_edit:
        cfg.write_text(cfg.read_text().replace(*cfg_edit))
    assert main(["gemm", "--topology", str(topo), "--scalesim-config", str(cfg), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_topology_without_an_array_says_what_is_missing(tmp_path, capsys):
    topo, _ = _files(tmp_path)
    assert main(["gemm", "--topology", str(topo), "--rows", "4"]) == 2
    assert "--cols, --dataflow" in capsys.readouterr().err


def test_an_output_that_is_a_file_or_a_binary_config_is_a_one_line_error(tmp_path, capsys):
    topo, cfg = _files(tmp_path)
    mine = tmp_path / "mine.txt"
    mine.write_text("mine")
    assert main(["gemm", "--topology", str(topo), "--scalesim-config", str(cfg), "-o", str(mine)]) == 2
    assert f"{mine}: -o: exists and is not a directory" in capsys.readouterr().err and mine.read_text() == "mine"
    cfg.write_bytes(b"\xf6\x00binary")
    assert main(["gemm", "--topology", str(topo), "--scalesim-config", str(cfg)]) == 2
    assert f"{cfg}: not a SCALE-Sim" in capsys.readouterr().err
