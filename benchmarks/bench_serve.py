"""Serving speed: 10,000 queries on RM1 Centaur, analytic (target < 60 s on 2 cores); detailed on fewer queries."""

import os
import sys
import time

import accelsim

SERVE = dict(hw="harpv2_centaur", workload="rm1", mapping="centaur", batch_size=32, policy="dynamic",
             timeout_us=100.0, query_size={"dist": "lognormal", "median": 8, "sigma": 1.0, "max_size": 128},
             arrivals={"kind": "poisson", "qps": 10_000.0})

if __name__ == "__main__":
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    accelsim.serve(**SERVE, queries=20)  # warm the numba kernels
    runs = [("analytic", 10_000)] + ([("detailed", int(sys.argv[1]) if len(sys.argv) > 1 else 300)])
    print(f"{'case':<40}{'queries':>9}{'batches':>9}{'wall s':>9}{'queries/s':>11}{'p99 us':>9}")
    for fid, n in runs:
        t = time.perf_counter()
        s = accelsim.serve(**SERVE, fidelity=fid, queries=n).summary
        wall = time.perf_counter() - t
        print(f"{f'rm1 centaur {fid} serve':<40}{n:>9}{s['batches']:>9}{wall:>9.1f}{n / wall:>11.0f}"
              f"{s['latency_p99_ns'] / 1e3:>9.1f}")
