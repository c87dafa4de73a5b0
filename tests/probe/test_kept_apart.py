"""The probes and the config they write never read validation results (issue 9, point 5)."""

import ast
import subprocess
import sys
from pathlib import Path

import accelsim.probe

PROBE_DIR = Path(accelsim.probe.__file__).parent


def test_no_probe_module_imports_validation():
    for path in PROBE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if "validate" in n], path
        assert "rows.csv" not in path.read_text() and "summary.json" not in path.read_text(), path


def test_running_the_probe_entry_point_loads_no_validation_module():
    code = ("import sys, accelsim.probe.run, accelsim.cli.probe_cmd; "
            "print([m for m in sys.modules if m.startswith('accelsim.validate')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
