"""System-level speed: RM2 batches in both fidelities; `--scaling` adds the cost growth from 1e5 to 1e7 lookups.

`--base DIR` instead times RM2 batch 128 detailed on both systems side by side with the tree at DIR (a `git
worktree` of the base commit): alternating fresh processes, `--repeats` each (default 3), best wall and CPU
seconds of each tree, the load before and after.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from accelsim.sim.api import resolve_point, run_point


def timed(point: dict) -> tuple[float, dict]:
    t = time.perf_counter()
    s = run_point(resolve_point(point)).summary
    return time.perf_counter() - t, s


RM2_B128 = [dict(hw=hw, workload="rm2", mapping=m, batch_size=128, fidelity="detailed", functional=False,
                 trace={"path": "workloads/traces/rm2.trace"})
            for hw, m in (("broadwell_cpu_only", "cpu_only"), ("harpv2_centaur", "centaur"))]
_CHILD = """
import json, sys, time
from accelsim.sim.api import resolve_point, run_point
point = json.loads(sys.argv[1])
run_point(resolve_point({**point, "batch_size": 2}))  # numba caches loaded, trace opened
p = resolve_point(point)
w, c = time.perf_counter(), time.process_time()
run_point(p)
print(json.dumps([time.perf_counter() - w, time.process_time() - c]))
"""


def side_by_side(base: Path, repeats: int) -> None:
    """Best wall / CPU seconds of each RM2 batch-128 case, base tree against this one, alternating processes."""
    here = Path(__file__).resolve().parents[1]
    print(f"load before: {os.getloadavg()}")
    print(f"{'case':<28}{'tree':<8}{'wall s':>9}{'CPU s':>9}{'lookups/s (CPU)':>17}")
    for point in RM2_B128:
        best = {}
        for _ in range(repeats):
            for name, tree in (("base", base), ("this", here)):
                env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
                out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(point)], cwd=here, env=env,
                                     capture_output=True, text=True, check=True).stdout
                wall, cpu = json.loads(out.strip().splitlines()[-1])
                b = best.setdefault(name, [wall, cpu])
                best[name] = [min(b[0], wall), min(b[1], cpu)]
        lookups = 128 * 32 * 120
        for name in ("base", "this"):
            wall, cpu = best[name]
            print(f"{'rm2 ' + point['mapping'] + ' b128':<28}{name:<8}{wall:>9.2f}{cpu:>9.2f}{lookups / cpu:>17.0f}")
        print(f"{'':<28}{'ratio':<8}{best['base'][0] / best['this'][0]:>9.2f}{best['base'][1] / best['this'][1]:>9.2f}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, help="a tree of the base commit: RM2 batch 128 side by side with it")
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs of each tree with --base (default 3)")
    ap.add_argument("--scaling", action="store_true", help="also the cost growth from 1e5 to 1e7 lookups")
    args = ap.parse_args()
    if args.base:
        side_by_side(args.base.resolve(), args.repeats)
        sys.exit(0)
    warm = dict(hw="harpv2_centaur", workload="rm1", mapping="centaur", batch_size=2, functional=False)
    timed(warm)
    timed({**warm, "hw": "broadwell_cpu_only", "mapping": "cpu_only"})
    print(f"{'case':<44}{'lookups':>10}{'wall s':>9}{'lookups/s':>12}")
    for hw, mapping in (("broadwell_cpu_only", "cpu_only"), ("harpv2_centaur", "centaur")):
        for fid in ("detailed", "analytic"):
            for bs in (8, 32, 128):
                wall, s = timed(dict(hw=hw, workload="rm2", mapping=mapping, batch_size=bs, fidelity=fid,
                                     functional=False, trace={"path": "workloads/traces/rm2.trace"}))
                lookups = bs * 32 * 120
                print(f"{f'rm2 {mapping} {fid} batch {bs}':<44}{lookups:>10}{wall:>9.2f}{lookups / wall:>12.0f}")
    if args.scaling:
        os.environ.setdefault("ACCELSIM_WORK_SCALE", "4")  # 1e7 lookups is past the default work budget, on purpose
        # Cost growth from 1e5 to 1e7 lookups (RM2: 3,840 lookups per sample), generated Zipf-1.09 traces.
        print(f"{'scaling: rm2 centaur detailed':<44}{'lookups':>10}{'wall s':>9}{'lookups/s':>12}")
        for bs in (26, 260, 2604):
            wall, s = timed(dict(hw="harpv2_centaur", workload="rm2", mapping="centaur", batch_size=bs,
                                 functional=False))
            print(f"{f'batch {bs}':<44}{bs * 3840:>10}{wall:>9.2f}{bs * 3840 / wall:>12.0f}", flush=True)
