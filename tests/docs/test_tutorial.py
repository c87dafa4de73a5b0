"""The tutorial runs as written: its files are written and its shell commands run, in order, in a temp dir."""

import os
import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"(?:^`(?P<file>[\w./-]+)`:\n\n)?^```(?P<lang>\w+)\n(?P<body>.*?)^```", re.M | re.S)
SETUP = ("source ", "mkdir -p ~", "cd ~")  # the setup block: the test provides the environment and directory


def steps(text: str):
    for m in BLOCK.finditer(text):
        if m["file"]:
            yield "file", (m["file"], m["body"])
        elif m["lang"] == "sh":
            commands = m["body"].replace("\\\n", " ").splitlines()
            for c in commands:
                if c.strip() and not c.startswith(SETUP):
                    yield "sh", c


def test_tutorial_runs_as_written(tmp_path):
    text = (DOCS / "tutorial.md").read_text()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    ran = 0
    for kind, step in steps(text):
        if kind == "file":
            (tmp_path / step[0]).write_text(step[1])
            continue
        proc = subprocess.run(step, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{step}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        ran += 1
    assert ran >= 8
    assert (tmp_path / "results" / "figures").is_dir()
