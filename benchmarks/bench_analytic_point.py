"""Cost of one analytic point (`accelsim.sim.api.run_point`), on the points of bench_sweep.py's real sweep.

Runs the first `--points` points of the 1,000-point design sweep (RM1, Centaur mapping: link bandwidth x
gather units x batch size) `--repeats` times in this process, after one warm-up pass (numba caches, config
reads), and prints the median ms per point. Compare code versions side by side by running it with PYTHONPATH
at each checkout in turn (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench_sweep import make_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from accelsim.sim.api import run_point
    from accelsim.sweep import expand, load_spec

    spec, _ = load_spec(make_spec(1000, True))
    pts = [p.config for p in expand(spec)][:: max(1, 1000 // a.points)][: a.points]
    for p in pts:
        run_point(p)
    times, cpu = [], []
    for _ in range(a.repeats):
        t, c = time.perf_counter(), time.process_time()
        for p in pts:
            run_point(p)
        times.append((time.perf_counter() - t) / len(pts) * 1e3)
        cpu.append((time.process_time() - c) / len(pts) * 1e3)
    print(f"{len(pts)} points x {a.repeats}: median {statistics.median(times):.2f} ms/point wall "
          f"(runs {', '.join(f'{x:.2f}' for x in times)}), {statistics.median(cpu):.2f} ms/point CPU")


if __name__ == "__main__":
    main()
