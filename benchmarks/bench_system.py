"""System-level speed: RM2 batches in both fidelities; `--scaling` adds the cost growth from 1e5 to 1e7 lookups."""

import os
import sys
import time

from accelsim.sim.api import resolve_point, run_point


def timed(point: dict) -> tuple[float, dict]:
    t = time.perf_counter()
    s = run_point(resolve_point(point)).summary
    return time.perf_counter() - t, s


if __name__ == "__main__":
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
    if "--scaling" in sys.argv:
        os.environ.setdefault("ACCELSIM_WORK_SCALE", "4")  # 1e7 lookups is past the default work budget, on purpose
        # Cost growth from 1e5 to 1e7 lookups (RM2: 3,840 lookups per sample), generated Zipf-1.09 traces.
        print(f"{'scaling: rm2 centaur detailed':<44}{'lookups':>10}{'wall s':>9}{'lookups/s':>12}")
        for bs in (26, 260, 2604):
            wall, s = timed(dict(hw="harpv2_centaur", workload="rm2", mapping="centaur", batch_size=bs,
                                 functional=False))
            print(f"{f'batch {bs}':<44}{bs * 3840:>10}{wall:>9.2f}{bs * 3840 / wall:>12.0f}", flush=True)
