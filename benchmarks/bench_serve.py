"""Serving speed: 10,000 queries on RM1 Centaur, analytic (target < 60 s on 2 cores); detailed on fewer queries.

    python benchmarks/bench_serve.py [DETAILED_QUERIES]   # the speed run
    python benchmarks/bench_serve.py --rates               # CPU s per batch and counters per batch, per mapping
                                                           # (the serving-loop rates accelsim/budget.py cites)
"""

import argparse
import os
import sys
import time

import accelsim

SERVE = dict(hw="harpv2_centaur", workload="rm1", mapping="centaur", batch_size=32, policy="dynamic",
             timeout_us=100.0, query_size={"dist": "lognormal", "median": 8, "sigma": 1.0, "max_size": 128},
             arrivals={"kind": "poisson", "qps": 10_000.0})
ONE = dict(workload="rm1", batch_size=1, policy="fixed", query_size={"dist": "fixed", "size": 1},
           arrivals={"kind": "poisson", "qps": 20_000.0})
RATES = [("rm1 cpu_only (M/D/1 test)", dict(ONE, hw="broadwell_cpu_only", mapping="cpu_only", in_flight=1), 10_000),
         ("rm1 sparse_offload", dict(ONE, hw="harpv2_centaur", mapping="sparse_offload"), 6_000),
         ("rm1 centaur", dict(ONE, hw="harpv2_centaur", mapping="centaur"), 6_000),
         ("rm1 centaur, no sharing", dict(ONE, hw="harpv2_centaur", mapping="centaur", sharing=False), 6_000)]


def rates() -> None:
    """Analytic serving of single-sample batches (one profile, reused): the loop's per-batch cost alone."""
    print(f"{'case':<30}{'batches':>9}{'counters/b':>11}{'CPU s':>8}{'us/batch':>10}")
    for name, kw, n in RATES:
        accelsim.serve(**kw, queries=3)
        t = time.process_time()
        r = accelsim.serve(**kw, queries=n)
        cpu = time.process_time() - t
        b = r.summary["batches"]
        print(f"{name:<30}{b:>9}{len(r.counters) / b:>11.0f}{cpu:>8.2f}{cpu / b * 1e6:>10.0f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("detailed_queries", nargs="?", type=int, default=300,
                    help="queries of the detailed run (default 300; the analytic run serves 10,000)")
    ap.add_argument("--rates", action="store_true", help="only the serving loop's per-batch cost")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.rates:
        rates()
        sys.exit()
    accelsim.serve(**SERVE, queries=20)  # warm the numba kernels
    runs = [("analytic", 10_000), ("detailed", args.detailed_queries)]
    print(f"{'case':<40}{'queries':>9}{'batches':>9}{'wall s':>9}{'queries/s':>11}{'p99 us':>9}")
    for fid, n in runs:
        t = time.perf_counter()
        s = accelsim.serve(**SERVE, fidelity=fid, queries=n).summary
        wall = time.perf_counter() - t
        print(f"{f'rm1 centaur {fid} serve':<40}{n:>9}{s['batches']:>9}{wall:>9.1f}{n / wall:>11.0f}"
              f"{s['latency_p99_ns'] / 1e3:>9.1f}")
