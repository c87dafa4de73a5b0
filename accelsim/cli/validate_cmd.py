"""`accelsim validate`: real PyTorch on this machine vs the CPU model on a (probed) hardware config."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from accelsim.cli import add_force_flag

VALIDATE_KIND = "validation"  # output kind of -o DIR (accelsim.atomic)



def register(sub: argparse._SubParsersAction) -> None:
    """Add the `validate` subcommand."""
    p = sub.add_parser("validate", help="time real PyTorch cases here and compare with the CPU model's predictions")
    p.add_argument("--grid", metavar="FILE.yaml", help="cases to run (default: the built-in grid, every regime)")
    p.add_argument("--hw", default=None, metavar="FILE",
                   help="hardware config to predict on (default: run `accelsim probe` first and use its config)")
    p.add_argument("--json", action="store_true", help="print one JSON object per row, then the summary")
    p.add_argument("-o", "--out", metavar="DIR", help="write rows.csv, summary.json and the figure here")
    p.add_argument("--seed", type=int, default=0, help="input and table seed")
    p.add_argument("--passes", type=int, default=None, metavar="N",
                   help="time the grid in N passes, each case's best pass kept (default 8: a noisy shared host "
                        "is uncontended only now and then)")
    add_force_flag(p)
    p.set_defaults(func=run)


def machine_line(m: dict) -> str:
    """One line: each reading before -> after as a ratio to the config, and what moved."""
    parts = [f"{k} x{m['ratio_to_config']['before'][k]:.2f} -> x{m['ratio_to_config']['after'][k]:.2f}"
             for k in m["config"]]
    tail = (f"; moved more than 15% from the config: {', '.join(m['moved'])} (the errors above then include the "
            f"machine's move, not only the model's)") if m["moved"] else "; within 15% of the config"
    return "machine now / config: " + ", ".join(parts) + tail


def run(args: argparse.Namespace) -> int:
    """Load or probe the machine, run the grid, print and write."""
    import pandas as pd

    from accelsim.atomic import claim_output, mark_output, write_text_atomic
    from accelsim.config.system import load_system
    from accelsim.errors import InputError
    from accelsim.probe.repeat import load_average
    from accelsim.validate.grid import default_grid, load_grid
    from accelsim.validate.report import summary
    from accelsim.validate.run import check_grid, validate
    from accelsim.validate.measure import PASSES
    if args.seed < 0:
        raise InputError(f"--seed: expected a non-negative integer, got {args.seed}")
    passes = PASSES if args.passes is None else args.passes
    if passes < 1:
        raise InputError(f"--passes: expected a positive integer, got {passes}")
    grid = load_grid(args.grid) if args.grid else default_grid()
    if args.out:
        claim_output(args.out, VALIDATE_KIND)  # before the measurements: a refused path costs nothing
    note = lambda msg: print(f"  ... {msg}", file=sys.stderr, flush=True)  # noqa: E731
    if args.hw:
        hw = load_system(args.hw)
    else:
        from accelsim.probe.run import run_probes
        note("no --hw: probing this machine first")
        hw = run_probes(progress=note).system
    from accelsim.validate.drift import compare, read_machine
    check_grid(hw, grid, args.grid)
    load0 = load_average()
    note("the machine against the config: LLC and memory latency, misses in flight, clock")
    before = read_machine(hw)
    rows = validate(hw, grid, seed=args.seed, passes=passes, progress=note, where=args.grid)
    machine = compare(hw, before, read_machine(hw))
    s = {**summary(rows), "hw": hw.name, "passes": passes, "load_before": load0, "load_after": load_average(),
         "machine": machine}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame([r.to_dict() for r in rows])
        write_text_atomic(out / "rows.csv", frame.to_csv(index=False))
        write_text_atomic(out / "summary.json", json.dumps(s, indent=1))
        from accelsim.probe.host import detect_host
        from accelsim.validate.report import plot
        here = detect_host()
        plot(rows, out, "validate", f"CPU model on {hw.name} (detailed) vs PyTorch on\n{here.model_name}, "
                                    f"{here.cores} cores, {len(rows)} cases")
        mark_output(out, VALIDATE_KIND)
    if args.json:
        for r in rows:
            print(json.dumps(r.to_dict()))
        print(json.dumps({"summary": s}))
        return 0
    print(f"{'case':<44}{'regime':>9}{'measured ms':>13}{'spread':>8}{'predicted ms':>14}{'ratio':>7}")
    for r in rows:
        flag = ("  noisy (no run on an uncontended core)" if r.quiet_runs == 0 else
                "  noisy (spread or median > 10% over the fastest)" if r.noisy else "")
        print(f"{r.case:<44}{r.regime:>9}{r.measured_ms:>13.4f}{r.measured_spread:>8.1%}{r.predicted_ms:>14.4f}"
              f"{r.ratio:>7.2f}{flag}")
    print(f"{'regime':<22}{'n':>4}{'median |err|':>14}{'p90':>8}{'max':>8}")
    for k, v in s.items():
        if isinstance(v, dict) and "n" in v:
            print(f"{k:<22}{v['n']:>4}{v['median_abs_error']:>14.1%}{v['p90_abs_error']:>8.1%}"
                  f"{v['max_abs_error']:>8.1%}")
    print(f"hw {hw.name}; {load0} (after: {s['load_after']})")
    print(machine_line(machine))
    return 0
