"""Sweep machinery overhead: expansion, running + storing points, resuming, merging the store.

Default: the trivial test runner (tests/sweep_fixtures.py), so the figures are the machinery's own cost.
`--real` runs the analytic simulator instead (accelsim.sim.api). Usage:
    .venv/bin/python benchmarks/bench_sweep.py [--points 1000] [--workers 2] [--dask] [--real] [--dir /dev/shm]
The store's cost is mostly file creation (7 files per point): compare a disk with tmpfs via --dir.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"


def make_spec(points: int, real: bool, fidelity: str = "analytic") -> dict:
    """A one-axis sweep of `points` batch sizes."""
    axes = [{"grid": {"batch_size": list(range(1, points + 1))}}]
    if real:
        # A design sweep on RM1 with the Centaur mapping: link bandwidth (10) x gather units x batch size.
        units = max(1, min(10, points // 10))
        sizes = max(1, points // (10 * units))
        grid = {"hw.links.channels.0.bandwidth_gbps": [3.2 * k for k in range(1, 11)],
                "hw.accelerator.sparse_engine.gather_units": list(range(2, 2 + 2 * units, 2)),
                "batch_size": [2 ** (k % 8) * (1 + k // 8) for k in range(sizes)]}
        return {"name": "bench_real", "axes": [{"grid": grid}],
                "base": {"hw": "harpv2_centaur", "workload": "rm1", "mapping": "centaur", "batch_size": 1,
                         "fidelity": fidelity, "functional": False}}
    import sweep_fixtures as fx
    return fx.spec(name="bench_toy", axes=axes)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dask", action="store_true", help="also time a Dask LocalCluster of --workers processes")
    ap.add_argument("--real", action="store_true", help="the analytic simulator instead of the test runner")
    ap.add_argument("--fidelity", choices=["analytic", "detailed"], default="analytic", help="with --real")
    ap.add_argument("--dir", default=None, help="where the temporary stores go (default: the system temp dir)")
    args = ap.parse_args()
    sys.path.insert(0, str(TESTS_DIR))  # sweep_fixtures, here and (via PYTHONPATH below) in workers
    import os
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))

    from accelsim.sweep import (DaskExecutor, InProcessExecutor, ProcessExecutor, expand, load_results, load_spec,
                                run_sweep)
    from accelsim.sweep.spec import load_callable

    spec, _ = load_spec(make_spec(args.points, args.real, args.fidelity))
    rows = []
    pts, t = timed(lambda: expand(spec))
    n = len(pts)  # distinct points: the real grid's batch sizes repeat (1,000 asked for are 800 points)
    rows.append(("expand (resolve + hash)", n, t))
    runner = load_callable(spec.runner, field="runner")
    _, t = timed(lambda: [runner(p.config) for p in pts])
    rows.append(("runner alone, no machinery", n, t))
    executors = [("in-process", InProcessExecutor), (f"process pool x{args.workers}",
                                                     lambda: ProcessExecutor(args.workers))]
    if args.dask:
        executors.append((f"dask LocalCluster x{args.workers}", lambda: DaskExecutor(n_workers=args.workers)))
    with tempfile.TemporaryDirectory(prefix="bench-sweep-", dir=args.dir) as tmp:
        for name, make in executors:
            out = Path(tmp) / name.replace(" ", "_")
            report, t = timed(lambda: run_sweep(spec, out, make()))
            assert report.done == n, report.line()
            rows.append((f"sweep {name} (expand+run+store)", n, t))
        report, t = timed(lambda: run_sweep(spec, out, InProcessExecutor()))
        assert report.skipped == n
        rows.append(("resume, all points stored", n, t))
        _, t = timed(lambda: load_results(out))
        rows.append(("load_results (merge store)", n, t))

    print(f"runner: {spec.runner}   points: {n}   store under: {args.dir or tempfile.gettempdir()}")
    print(f"{'step':<44}{'points':>8}{'seconds':>10}{'points/s':>12}")
    for name, count, secs in rows:
        print(f"{name:<44}{count:>8}{secs:>10.2f}{count / secs:>12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
