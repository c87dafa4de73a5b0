"""`accelsim serve`: a stream of queries on one machine; per-query latency percentiles, QPS and utilisation."""

from __future__ import annotations

import argparse
import json
import sys

from accelsim.cli import add_force_flag, positive_int
from accelsim.errors import InputError

SIZE_FIELDS = {"fixed": ("size",), "normal": ("mean", "std", "max_size"), "lognormal": ("median", "sigma", "max_size")}


def parse_query_size(text: str) -> dict:
    """`fixed:8`, `normal:mean=165,std=16` or `lognormal:median=8,sigma=1,max_size=1024` as a query_size dict."""
    dist, _, rest = text.partition(":")
    if dist not in SIZE_FIELDS:
        raise InputError(f"--query-size {text!r}: expected fixed:N, normal:mean=..,std=.. or "
                         f"lognormal:median=..,sigma=..[,max_size=..]")
    out: dict = {"dist": dist}
    if dist == "fixed" and rest and "=" not in rest:
        rest = f"size={rest}"
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in SIZE_FIELDS[dist]:
            raise InputError(f"--query-size {text!r}: {item!r} is not one of {', '.join(SIZE_FIELDS[dist])}=value")
        try:
            out[key] = float(value) if key in ("mean", "std", "median", "sigma") else int(value)
        except ValueError:
            raise InputError(f"--query-size {text!r}: {key} must be a number, got {value!r}") from None
    return out


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `serve` subcommand."""
    p = sub.add_parser("serve", help="serve a query stream: p50/p95/p99 latency, QPS, QPS at an SLA")
    p.add_argument("--hw", required=True, help="hardware config name (hwconfigs/) or YAML path")
    p.add_argument("--workload", required=True, help="workload name (workloads/) or YAML path")
    p.add_argument("--mapping", default="centaur", help="cpu_only | centaur | sparse_offload | dense_offload")
    p.add_argument("--fidelity", choices=["analytic", "detailed"], default="analytic")
    p.add_argument("--seed", type=int, default=0)
    arr = p.add_mutually_exclusive_group(required=True)
    arr.add_argument("--qps", type=float, help="Poisson arrivals at this rate (queries per second)")
    arr.add_argument("--arrivals-file", help="text file of arrival times in microseconds, one per line")
    arr.add_argument("--clients", type=positive_int, help="closed-loop clients, each waiting for its answer")
    p.add_argument("--think-us", type=float, default=0.0, help="closed loop: time between answer and next query")
    p.add_argument("--queries", type=positive_int, default=1000)
    p.add_argument("--query-size", default="fixed:1", help="fixed:N | normal:mean=..,std=.. | "
                   "lognormal:median=..,sigma=..[,max_size=..] (samples per query)")
    p.add_argument("--policy", choices=["fixed", "dynamic", "split"], default="dynamic")
    p.add_argument("--batch-size", type=positive_int, help="batch size of the policy (fixed: exactly, dynamic: at "
                   "most, split: sub-batch size; default the workload's default_batch_size)")
    p.add_argument("--timeout-us", type=float, default=100.0, help="dynamic: dispatch this long after the oldest")
    p.add_argument("--offload-threshold", type=positive_int, help="split: queries this large go to --offload-mapping")
    p.add_argument("--offload-mapping", help="split: mapping for large queries (e.g. centaur)")
    p.add_argument("--in-flight", type=positive_int, default=2, help="batches in flight at once")
    p.add_argument("--no-sharing", action="store_true", help="overlapping phases do not share DRAM and links")
    p.add_argument("--sla-p99-ms", type=float, help="p99 latency target for --find-max-qps")
    p.add_argument("--find-max-qps", action="store_true", help="search the highest Poisson QPS meeting the SLA")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("-o", "--out", help="directory for the results (default results/serve-<workload>-<hw>-...)")
    add_force_flag(p)
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from accelsim.sim.api import find_max_qps, resolve_point, run_point  # the simulator: only when serving

    if args.seed < 0 or args.think_us < 0 or args.timeout_us < 0:
        raise InputError("--seed, --think-us and --timeout-us must be >= 0")
    if args.out:
        from accelsim.atomic import claim_output
        from accelsim.results import RUN_KIND

        claim_output(args.out, RUN_KIND)  # before simulating: a refused path costs nothing
    if args.find_max_qps and (args.sla_p99_ms is None or args.qps is None):
        raise InputError("--find-max-qps needs --sla-p99-ms and --qps (the search's first rate)")
    if args.sla_p99_ms is not None and not args.find_max_qps:
        raise InputError("--sla-p99-ms is the target of --find-max-qps; give both")
    if args.qps is not None:
        arrivals = {"kind": "poisson", "qps": args.qps}
    elif args.arrivals_file:
        arrivals = {"kind": "file", "path": args.arrivals_file}
    else:
        arrivals = {"kind": "closed", "clients": args.clients, "think_us": args.think_us}
    serve = {"arrivals": arrivals, "queries": args.queries, "query_size": parse_query_size(args.query_size),
             "policy": args.policy, "timeout_us": args.timeout_us, "in_flight": args.in_flight}
    if args.offload_threshold is not None or args.offload_mapping is not None:
        serve.update(offload_threshold=args.offload_threshold, offload_mapping=args.offload_mapping)
    point = dict(hw=args.hw, workload=args.workload, mapping=args.mapping, batch_size=args.batch_size,
                 fidelity=args.fidelity, seed=args.seed, functional=False, sharing=not args.no_sharing, serve=serve)
    if args.find_max_qps:
        qps, result, _ = find_max_qps(point, args.sla_p99_ms, start_qps=args.qps,
                                      log=lambda m: print(m, file=sys.stderr))
        if result is None:
            raise InputError(f"no load meets p99 <= {args.sla_p99_ms} ms: a lone query takes longer")
        result.summary["sla_p99_ms"] = args.sla_p99_ms
        result.summary["max_qps_at_sla"] = qps
    else:
        result = run_point(resolve_point(point))
    s = result.summary
    out = args.out or f"results/serve-{s['workload']}-{s['hw']}-{s['mapping']}-{s['policy']}-{args.fidelity}"
    result.save(out)
    if args.json:
        print(json.dumps(s, indent=2, sort_keys=True))
        return 0
    print(f"{s['workload']} on {s['hw']} ({s['mapping']}, {s['fidelity']}): {s['queries']} queries, "
          f"{s['arrivals']} arrivals, {s['policy']} batching of {s['batch_size']}, {s['in_flight']} in flight")
    if "max_qps_at_sla" in s:
        print(f"max QPS with p99 <= {s['sla_p99_ms']} ms: {s['max_qps_at_sla']:.0f}")
    print(f"offered {s['offered_qps']:.0f} QPS, served {s['throughput_qps']:.0f} QPS, "
          f"{s['batches']} batches of {s['mean_batch_samples']:.1f} samples on average")
    pcts = [k for k in s if k.startswith("latency_p") and k.endswith("_ns")]
    print("latency " + ", ".join(f"{k[8:-3].replace('_', '.')} {s[k] / 1e3:.1f} us" for k in pcts)
          + f", mean {s['latency_mean_ns'] / 1e3:.1f} us (waiting {s['wait_mean_ns'] / 1e3:.1f} us)")
    util = {k[:-12]: v for k, v in s.items() if k.endswith("_utilisation") and not k.startswith("fpga_")}
    print("utilisation " + ", ".join(f"{k} {v:.1%}" for k, v in sorted(util.items())))
    print(f"results written to {out}", file=sys.stderr)
    return 0
