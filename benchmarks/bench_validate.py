"""`accelsim validate` on the default grid, before and after the probed CPU model, in one measurement pass.

before = the CPU model as it was (calibrate --save-hw of this machine: sysfs caches, Broadwell latencies, fill
buffers, per-lookup cycles and 5 us dispatch, no TLB, one GEMM efficiency), written in today's schema with the
new mechanisms neutral (page walk 0, every core per EmbeddingBag call, no efficiency table).
after = `accelsim probe` of this machine. The grid is timed in PASSES passes (each case's best kept) and each
case predicted on both configs.
Writes benchmarks/validate/{rows.csv, summary.json, validate.png, validate.pdf, probed_hw.yaml, probe_report.json}.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from accelsim.atomic import write_text_atomic
from accelsim.config.base import to_yaml
from accelsim.config.system import load_system
from accelsim.probe.repeat import load_average
from accelsim.probe.run import report_dict, run_probes
from accelsim.cli.validate_cmd import machine_line
from accelsim.validate.drift import compare, read_machine
from accelsim.validate.grid import default_grid
from accelsim.validate.measure import PASSES, measure_grid, warm_up
from accelsim.validate.predict import predict
from accelsim.validate.report import Row, plot, regime, summary

OUT = Path(__file__).resolve().parent / "validate"
BEFORE = OUT / "before_hw.yaml"


def main() -> None:
    t0 = time.perf_counter()
    report = run_probes(progress=lambda m: print("  probe:", m, file=sys.stderr, flush=True))
    after = report.system
    before = load_system(str(BEFORE))
    write_text_atomic(OUT / "probed_hw.yaml", to_yaml(after))
    write_text_atomic(OUT / "probe_report.json", json.dumps(report_dict(report), indent=1))
    load0 = load_average()
    machine0 = read_machine(after)
    rows = {"before": [], "after": []}
    cases = default_grid().cases
    warm_up(cases[0])
    measured = measure_grid(cases, progress=lambda msg: print("  ", msg, file=sys.stderr, flush=True))
    for case, m in zip(cases, measured):
        for name, hw in (("before", before), ("after", after)):
            rows[name].append(Row(case.name, case.kind, regime(case, after), case.threads,
                                  m.time_ns / 1e6, m.timing.spread,
                                  predict(hw, case, m, "detailed") / 1e6, predict(hw, case, m, "analytic") / 1e6,
                                  m.noisy, m.timing.quiet_runs, m.calls_per_run))
    out = {name: summary(r) for name, r in rows.items()}
    out["load_before"], out["load_after"] = load0, load_average()
    out["probe_when"], out["seconds"], out["passes"] = report.when, time.perf_counter() - t0, PASSES
    out["machine"] = compare(after, machine0, read_machine(after))
    frame = pd.concat([pd.DataFrame([r.to_dict() for r in rs]).assign(model=name) for name, rs in rows.items()])
    write_text_atomic(OUT / "rows.csv", frame.to_csv(index=False))
    write_text_atomic(OUT / "summary.json", json.dumps(out, indent=1))
    host = f"{report.host.model_name}, {report.host.cores} vCPUs, probed {report.when}"
    plot(rows["after"], OUT, "validate", f"CPU model (probed config) vs PyTorch, default grid, "
                                         f"{len(rows['after'])} cases\n{host}")
    plot(rows["before"], OUT, "validate_before", f"CPU model before (calibrate --save-hw) vs PyTorch, default "
                                                 f"grid\n{host}")
    print(machine_line(out["machine"]))
    for name in ("before", "after"):
        for k, v in out[name].items():
            print(f"{name:7}{k:<22}{v['n']:>4}{v['median_abs_error']:>9.1%}{v['p90_abs_error']:>9.1%}"
                  f"{v['max_abs_error']:>9.1%}")
    print(out["load_before"], "->", out["load_after"], f"{out['seconds']:.0f} s")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__).parse_args()  # --help, and no stray arguments
    main()
