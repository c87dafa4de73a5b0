"""`accelsim memsim` whole process (start-up, trace reading, replay, report) on 1M-request traces, side by side.

Runs `python -m accelsim memsim --dram DDR4-2400 --json` on DRAMsim3-format text traces and their binary
(`--save-binary`) form, for each source tree given (this one, and e.g. the previous commit's tree from
`git archive`), interleaved round by round so that load drifts hit both alike. Each child's CPU time and peak
RSS and wall time come from /usr/bin/time. The trace: one 64 B read every 4 tCK (a saturating
stream: 19.2 GB/s offered, above the channel's random-read bandwidth), random over 16 GB, sequential, or
256 B gathers (4 consecutive lines) of uniform rows of a 1M-row table. Both trees must report the same
delivered bandwidth (the same model).

    .venv/bin/python benchmarks/bench_memsim.py --trees . /tmp/base [--sizes 1000000 16000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BINARY_RECORD = np.dtype([("cycle", "<i8"), ("addr", "<i8"), ("write", "u1")])


def write_traces(kind: str, n: int, tmp: Path, text: bool) -> list[Path]:
    """The trace as binary (and as text when asked), generated in pieces to keep memory flat."""
    rng = np.random.default_rng(0)
    paths = [tmp / f"{kind}_{n}.bin"] + ([tmp / f"{kind}_{n}.txt"] if text else [])
    with open(paths[0], "wb") as b, (open(paths[1], "w") if text else open(os.devnull, "w")) as t:
        b.write(b"ASIMTRC1")
        for s in range(0, n, 1 << 20):
            m = min(1 << 20, n - s)
            if kind == "random":
                addr = rng.integers(0, (16 << 30) // 64, m) * 64
            elif kind == "sequential":
                addr = (s + np.arange(m)) * 64
            else:
                rows = rng.integers(0, 1 << 20, (m + 3) // 4)
                addr = (rows[:, None] * 256 + np.arange(4) * 64).ravel()[:m]
            cyc = (s + np.arange(m)) * 4
            rec = np.empty(m, BINARY_RECORD)
            rec["cycle"], rec["addr"], rec["write"] = cyc, addr, 0
            rec.tofile(b)
            if text:
                t.write("".join(f"0x{a:x} READ {c}\n" for a, c in zip(addr.tolist(), cyc.tolist())))
    return paths


def run_once(tree: Path, trace: Path) -> dict:
    """One whole memsim process: wall s, CPU s (user + system), peak RSS MB and the report.

    /usr/bin/time measures it: a child forked from this (large) process would inherit its peak RSS.
    """
    env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with tempfile.NamedTemporaryFile("r") as tf:
        out = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name, sys.executable, "-m", "accelsim",
                              "memsim", "--dram", "DDR4-2400", "--trace", str(trace), "--json"],
                             capture_output=True, env=env, cwd=tree, check=True).stdout
        wall, user, system, rss_kb = (float(x) for x in tf.read().split()[-4:])
    return {"wall": wall, "cpu": user + system, "rss_mb": rss_kb / 1024, "report": json.loads(out)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", nargs="+", type=Path, default=[Path(".")], help="source trees to compare")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--kinds", nargs="+", default=["random", "sequential", "gather"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--text-up-to", type=int, default=1_000_000, help="also time text traces up to this size")
    args = ap.parse_args()
    trees = [t.resolve() for t in args.trees]
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        traces = [p for n in args.sizes for kind in args.kinds
                  for p in write_traces(kind, n, Path(tmp), n <= args.text_up_to)]
        for tree in trees:  # compile or load each tree's numba caches (or ahead-of-time build) outside the timed runs
            for warm in {p.suffix: p for p in traces}.values():
                run_once(tree, warm)
        runs: dict = {}
        for _ in range(args.rounds):
            for trace in traces:
                for tree in trees:
                    runs.setdefault((trace.name, tree), []).append(run_once(tree, trace))
        print(f"{'trace':<24}{'tree':<26}{'wall s':>8}{'cpu s':>8}{'RSS MB':>8}{'GB/s':>8}")
        for trace in traces:
            bw = {round(r[-1]["report"]["bandwidth_gbps"], 9) for t in trees for r in [runs[trace.name, t]]}
            for tree in trees:
                rs = runs[trace.name, tree]
                print(f"{trace.name:<24}{str(tree)[-25:]:<26}{statistics.median(r['wall'] for r in rs):>8.2f}"
                      f"{statistics.median(r['cpu'] for r in rs):>8.2f}{max(r['rss_mb'] for r in rs):>8.0f}"
                      f"{rs[-1]['report']['bandwidth_gbps']:>8.2f}")
            if len(bw) != 1:
                print(f"  !! the trees deliver different bandwidth on {trace.name}: {sorted(bw)}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
