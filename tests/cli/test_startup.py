"""Start-up cost and dependencies: the parser imports no heavy library, --version has one source, Dask is an extra."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import accelsim
from accelsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numba", "torch", "matplotlib", "pandas", "dask", "distributed", "simpy", "pyarrow")


def _imported_after(code: str) -> list[str]:
    """Heavy top-level packages present in sys.modules after running `code` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    return [m for m in json.loads(out.stdout.splitlines()[-1]) if m in HEAVY]


def test_building_the_parser_and_every_help_imports_no_heavy_library():
    code = ("import argparse, io, contextlib\nfrom accelsim.cli import build_parser\np = build_parser()\n"
            "def walk(parser):\n"
            "    parser.format_help()\n"
            "    for a in parser._actions:\n"
            "        if isinstance(a, argparse._SubParsersAction):\n"
            "            for sub in a.choices.values():\n"
            "                walk(sub)\n"
            "walk(p)")
    assert _imported_after(code) == []


def test_a_command_imports_only_what_it_uses():
    # gemm is closed forms over integers: none of the simulator's heavy libraries.
    code = ("import contextlib, io\nfrom accelsim.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['gemm', '--rows', '4', '--cols', '4', '--dataflow', 'os', '--m', '8', '--k', '8', "
            "'--n', '8']) == 0")
    assert _imported_after(code) == []


def test_version_lives_in_one_place(capsys):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "accelsim.__version__"}
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert capsys.readouterr().out.strip() == f"accelsim {accelsim.__version__}"


def test_torch_is_a_range_and_dask_an_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith(("torch", "dask", "distributed")) for d in project["dependencies"])
    extras = project["optional-dependencies"]
    (torch,) = extras["torch"]
    assert torch.startswith("torch>=") and "==" not in torch
    assert any(d.startswith("dask[distributed]") for d in extras["dask"])
    # The set-up still installs the tested CPU build explicitly (a bare range would fetch a CUDA build).
    assert "torch==2.13.0" in (ROOT / "Makefile").read_text()


def test_help_shows_defaults(capsys):
    try:
        main(["run", "--help"])
    except SystemExit as stop:
        assert stop.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--fidelity {analytic,detailed} default: detailed" in text
    assert "--seed SEED default: 0" in text and "(default: 1.09)" in text


def test_dask_flags_name_the_extra_when_dask_is_missing(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("base: {hw: harpv2_centaur, workload: rm1, mapping: centaur, batch_size: 1}\n"
                    "axes: [{grid: {batch_size: [1]}}]\n")
    monkeypatch.setitem(sys.modules, "distributed", None)  # find_spec then reports it absent
    for flags in (["--dask-local", "1"], ["--scheduler", "tcp://127.0.0.1:1"]):
        assert main(["sweep", str(spec), "-o", str(tmp_path / "out"), *flags]) == 2
        err = capsys.readouterr().err
        assert f"{flags[0]} needs Dask" in err and "accelsim[dask]" in err
    assert not (tmp_path / "out").exists()
