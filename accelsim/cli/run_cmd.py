"""`accelsim run`: simulate one configuration, print the breakdown, write results under results/."""

from __future__ import annotations

import argparse
import json
import sys

from accelsim.atomic import claim_output
from accelsim.cli import add_force_flag
from accelsim.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `run` subcommand."""
    p = sub.add_parser("run", help="simulate one model on one machine")
    p.add_argument("--hw", required=True, help="hardware config name (hwconfigs/) or YAML path")
    p.add_argument("--workload", help="workload name (workloads/) or YAML path (default with --trace: the "
                   "trace's own spec; a given one is checked against it)")
    p.add_argument("--mapping", default="centaur", help="cpu_only | centaur | sparse_offload | dense_offload")
    p.add_argument("--batch-size", type=int, help="samples per batch (default: the workload's default_batch_size; "
                   "with --trace the trace's own)")
    p.add_argument("--batches", type=int, help="batches to simulate (default 1; with --trace all of the trace)")
    p.add_argument("--fidelity", choices=["analytic", "detailed"], default="detailed")
    p.add_argument("--seed", type=int, default=0)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--trace", help="trace directory to replay (its own batches, or cut to --batch-size)")
    src.add_argument("--synth", choices=["uniform", "zipf", "stackdist"], help="generate the trace")
    p.add_argument("--alpha", type=float, default=1.09, help="Zipf exponent for --synth zipf")
    p.add_argument("--no-functional", action="store_true", help="skip computing the model's real outputs")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("-o", "--out", help="directory for the results (default results/run-<workload>-<hw>-...)")
    add_force_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from accelsim.sim.api import resolve_point, run_point

    if (args.batch_size is not None and args.batch_size < 1) or (args.batches is not None and args.batches < 1) \
            or args.seed < 0:
        raise InputError("--batch-size and --batches must be >= 1, --seed >= 0")
    if args.workload is None and not args.trace:
        raise InputError("give --workload, or --trace of a trace that stores its model's spec")
    if args.out:
        from accelsim.results import RUN_KIND

        claim_output(args.out, RUN_KIND)  # before simulating: a refused path costs nothing
    point = dict(hw=args.hw, workload=args.workload, mapping=args.mapping, batch_size=args.batch_size,
                 batches=args.batches, fidelity=args.fidelity, seed=args.seed, functional=not args.no_functional)
    if args.trace:
        point["trace"] = {"path": args.trace}
    elif args.synth:
        point["trace"] = {"dist": args.synth, "alpha": args.alpha}
    result = run_point(resolve_point(point))
    s = result.summary
    out = args.out or f"results/run-{s['workload']}-{s['hw']}-{s['mapping']}-b{s['batch_size']}-{args.fidelity}"
    result.save(out)
    if args.json:
        print(json.dumps(s, indent=2, sort_keys=True))
        return 0
    print(f"{s['workload']} on {s['hw']} ({s['mapping']}, {s['fidelity']}), batch {s['batch_size']} x {s['batches']}")
    print(f"{'batch':>5} {'stage':<12} {'phase':<24} {'device':<14} {'start (us)':>10} {'time (us)':>10}")
    for _, r in result.stages.iterrows():
        print(f"{r['batch']:>5} {r['stage']:<12} {r['phase']:<24} {r['device']:<14} {r['start_ns'] / 1e3:>10.2f} "
              f"{r['duration_ns'] / 1e3:>10.2f}")
    print(f"latency {s['latency_ns'] / 1e3:.1f} us, throughput {s['throughput_samples_per_s']:.0f} samples/s, "
          f"embedding bandwidth {s['embedding_bandwidth_gbps']:.1f} GB/s, "
          f"energy {s['energy_per_inference_uj']:.1f} uJ/inference")
    util = {k[5:-12]: v for k, v in s.items() if k.startswith("fpga_") and k.endswith("_utilisation")}
    if util:
        print("FPGA resources: " + ", ".join(f"{k} {v:.1%}" for k, v in util.items()))
    print(f"results written to {out}", file=sys.stderr)
    return 0
