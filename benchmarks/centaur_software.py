"""The Centaur table (`accelsim main`'s grid) under both software profiles of the CPU-only baseline, both fidelities.

Writes benchmarks/validate/centaur_software.csv: model, batch, profile, fidelity, CPU-only and Centaur latency,
speed-up, and the CPU-only embedding / MLP times, for docs/centaur_results.md.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from accelsim.atomic import write_text_atomic
from accelsim.figures.runs import CENTAUR, CPU_ONLY, MODELS, grid_point
from accelsim.sim.api import resolve_point, run_point

OUT = Path(__file__).resolve().parent / "validate" / "centaur_software.csv"
BATCHES = (1, 16, 128)


def run(model, batch, system, fidelity, software):
    p = resolve_point(grid_point(model, batch, system, fidelity))
    p["hw"]["cpu"]["software"] = software
    return run_point(resolve_point(p)).summary


def main() -> None:
    rows = []
    for profile in ("pytorch_2019", "pytorch_2_13_host"):
        for fidelity in ("analytic", "detailed"):
            for model in MODELS:
                for b in BATCHES:
                    print(profile, fidelity, model, b, file=sys.stderr, flush=True)
                    st = run(model, b, CPU_ONLY, fidelity, profile)
                    cpu_ns, acc_ns = st["latency_ns"], run(model, b, CENTAUR, fidelity, profile)["latency_ns"]
                    rows.append(dict(model=model, batch=b, profile=profile, fidelity=fidelity,
                                     cpu_only_us=cpu_ns / 1e3, centaur_us=acc_ns / 1e3, speedup=cpu_ns / acc_ns,
                                     cpu_embedding_us=st["embedding_time_ns"] / 1e3,
                                     cpu_mlp_us=(st["bottom_mlp_time_ns"] + st["top_mlp_time_ns"]) / 1e3))
    df = pd.DataFrame(rows)
    write_text_atomic(OUT, df.to_csv(index=False))
    print(df.to_string())


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__).parse_args()  # --help, and no stray arguments
    main()
