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
