"""`accelsim replay`: a captured trace's outputs from the numba reference forward, with the model's own weights,
against the outputs the model returned when it was captured."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from accelsim.cli import add_force_flag

REPLAY_KIND = "replay outputs"  # output kind of -o (accelsim.atomic)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `replay` subcommand."""
    p = sub.add_parser("replay", help="recompute a captured model's outputs with its weights and compare them")
    p.add_argument("trace", type=Path, help="trace directory (from accelsim trace capture)")
    p.add_argument("--weights", type=Path, help="a weights folder of .npy files or a torch file of named tensors "
                   "(default: the trace's weights/, captured with --with-weights)")
    p.add_argument("--workload", help="workload name or YAML (default: the trace's own spec; a given one is checked)")
    p.add_argument("-o", "--output", type=Path, help="write every sample's ctr (and captured_ctr) as parquet")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    add_force_flag(p)
    p.set_defaults(func=_replay)


def _replay(args: argparse.Namespace) -> int:
    from accelsim.atomic import atomic_path, claim_output
    from accelsim.config.workload import load_workload
    from accelsim.sim.functional import max_output_difference, replay_trace

    if args.output is not None:
        claim_output(args.output, REPLAY_KIND, is_dir=False)  # before the replay: a refused path costs nothing
    spec = load_workload(args.workload) if args.workload else None
    outputs, spec, weights = replay_trace(args.trace, args.weights, spec)
    diff = max_output_difference(outputs)
    report = {"trace": str(args.trace), "workload": spec.name, "weights": str(weights) if weights else None,
              "batches": int(outputs["batch"].nunique()), "samples": len(outputs),
              "ctr_mean": float(outputs["ctr"].mean()), "ctr_max_abs_diff_vs_captured": diff}
    if args.output is not None:
        with atomic_path(args.output, kind=REPLAY_KIND) as tmp:
            outputs.to_parquet(tmp, index=False)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    src = f"weights {weights}" if weights else "generated weights (the trace holds none: capture --with-weights)"
    print(f"replayed {report['samples']} samples in {report['batches']} batches of {args.trace} "
          f"({spec.name}, {src}): mean ctr {report['ctr_mean']:.6f}")
    print("largest |ctr - captured ctr|: " + (f"{diff:.3g}" if diff is not None else
                                             "n/a (the model's outputs were not captured)"))
    return 0
