"""`accelsim main` wall time: cold (empty store) and warm (every point stored), with 1 and 2 workers.

Each call is a fresh `python -m accelsim main` process; numba's on-disk cache is warm (one untimed warm-up run
first), so "cold" is the 48 simulations plus the machinery, not JIT compilation. `--base DIR` also times the
`accelsim main` of another checkout (e.g. `git worktree add /tmp/base <commit>`) side by side, and every
table is compared byte for byte with the first one. Usage:
    .venv/bin/python benchmarks/bench_main.py [--fidelity detailed] [--repeats 3] [--base /tmp/base]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    """The 1-minute load average (other work on the machine moves every timing)."""
    return f"{os.getloadavg()[0]:.2f}"


def run(tree: Path, args: list[str]) -> float:
    """Wall seconds of one `accelsim main` of the checkout `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "accelsim", "main", *args], env=env, check=True, cwd=tree,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fidelity", choices=["analytic", "detailed"], default="detailed")
    ap.add_argument("--repeats", type=int, default=3, help="warm runs per worker count")
    ap.add_argument("--base", type=Path, help="another checkout whose `accelsim main` (no store) to time too")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_main."))
    tables: dict[str, Path] = {}

    def study(name: str, workers: int, store: str) -> float:
        tables[name] = tmp / f"{name}.csv"
        return run(ROOT, ["--fidelity", args.fidelity, "--workers", str(workers), "--store", str(tmp / store),
                          "-o", str(tables[name]), "--quiet"])

    study("warm-up", 1, "warm-up")  # numba's cache for this tree, and the page cache
    print(f"accelsim main --fidelity {args.fidelity}, {os.cpu_count()} CPUs")
    print("| run | workers | wall s | load before -> after |\n|---|---|---|---|")
    if args.base is not None:
        run(args.base, ["--fidelity", args.fidelity, "-o", str(tmp / "base-warm-up.csv")])
        before = load()
        tables["base"] = tmp / "base.csv"
        wall = run(args.base, ["--fidelity", args.fidelity, "-o", str(tables["base"])])
        print(f"| base {args.base} (one process, no store) | 1 | {wall:.1f} | {before} -> {load()} |", flush=True)
    for workers in (1, 2):
        before = load()
        wall = study(f"cold{workers}", workers, f"store{workers}")
        print(f"| cold (empty store) | {workers} | {wall:.1f} | {before} -> {load()} |", flush=True)
        before = load()
        warm = [study(f"warm{workers}-{i}", workers, f"store{workers}") for i in range(args.repeats)]
        print(f"| warm (all stored), median (min) of {args.repeats} | {workers} | {statistics.median(warm):.1f} "
              f"({min(warm):.1f}) | {before} -> {load()} |", flush=True)
    first = tables["warm-up"].read_bytes()
    same = [name for name, path in tables.items() if path.read_bytes() == first]
    print(f"tables byte-identical to the first: {len(same)} of {len(tables)}"
          + ("" if len(same) == len(tables) else f" (differ: {sorted(set(tables) - set(same))})"))
    return 0 if len(same) == len(tables) else 1


if __name__ == "__main__":
    sys.exit(main())
