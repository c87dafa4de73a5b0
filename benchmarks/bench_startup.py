"""Start-up time of the `accelsim` command: --help, --version and one light command, each in a fresh interpreter.

Issue 13 asks < 0.5 s for --help and --version. Timed side by side with a bare interpreter (`python -c pass`)
in one run, several rounds, median reported; the load average is printed with the result.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 9
CASES = {
    "python -c pass": ["-c", "pass"],
    "accelsim --help": ["-m", "accelsim", "--help"],
    "accelsim --version": ["-m", "accelsim", "--version"],
    "accelsim gemm (one GEMM)": ["-m", "accelsim", "gemm", "--rows", "32", "--cols", "32", "--dataflow", "ws",
                                 "--m", "64", "--k", "512", "--n", "512"],
}


def main() -> None:
    """Print the median wall time of each case over ROUNDS interleaved rounds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(ROUNDS):
        for name, args in CASES.items():  # interleaved, so load changes hit every case alike
            t0 = time.perf_counter()
            subprocess.run([sys.executable, *args], env=env, check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, "
          f"{ROUNDS} rounds, median (min) wall time")
    for name, ts in times.items():
        print(f"  {name:<28} {statistics.median(ts) * 1e3:7.0f} ms  ({min(ts) * 1e3:.0f} ms)")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__).parse_args()  # --help, and no stray arguments
    main()
