"""Predict a validation run's measured rows again on another hardware config (no timing: runs on a loaded machine).

    python benchmarks/repredict.py benchmarks/validate/run14_rows.csv HW.yaml [--grid GRID.yaml] [-v]

The measurements stay as they were taken; each case's inputs are regenerated from the same seed (0) that
`accelsim validate` used, and the case is predicted on HW at detailed fidelity. This separates a model change
from the host's move between runs: the same measurements, two models (docs/calibrate.md, runs 14-16).
"""

from __future__ import annotations

import argparse

import pandas as pd

from accelsim.config.system import load_system
from accelsim.probe.repeat import Timing
from accelsim.validate.grid import default_grid, load_grid
from accelsim.validate.measure import Measured, case_inputs
from accelsim.validate.predict import predict
from accelsim.validate.report import Row, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", help="a validation run's rows.csv (its 'after' rows when it has both)")
    ap.add_argument("hw", help="the hardware config to predict on")
    ap.add_argument("--grid", help="the grid the rows came from (default: the built-in grid)")
    ap.add_argument("-v", action="store_true", help="one line per case")
    args = ap.parse_args()
    grid = load_grid(args.grid) if args.grid else default_grid()
    d = pd.read_csv(args.rows)
    if "model" in d:
        d = d[d.model == "after"]
    measured = {r.case: r for r in d.itertuples()}
    hw = load_system(args.hw)
    rows = []
    for case in grid.cases:
        m = measured[case.name]
        batch, spec = case_inputs(case)
        ns = m.measured_ms * 1e6
        p = predict(hw, case, Measured(Timing(ns, m.measured_spread, 1, True, ns), ns, bool(m.noisy), batch, spec),
                    "detailed") / 1e6
        rows.append(Row(case.name, case.kind, m.regime, case.threads, m.measured_ms, m.measured_spread, p, p,
                        bool(m.noisy)))
        if args.v:
            print(f"{case.name:48}{m.regime:>9}{m.measured_ms:>10.4f}{p:>10.4f}{p / m.measured_ms:>7.2f}", flush=True)
    for name, st in summary(rows).items():
        if name != "analytic_vs_detailed":
            print(f"{name:<10}{st['n']:>4}  median {st['median_abs_error']:6.1%}  p90 {st['p90_abs_error']:6.1%}"
                  f"  max {st['max_abs_error']:6.1%}")


if __name__ == "__main__":
    main()
