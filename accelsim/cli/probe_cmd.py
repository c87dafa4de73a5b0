"""`accelsim probe`: measure this machine and write a cpu-only hardware config citing every measurement."""

from __future__ import annotations

import argparse
import json
import sys

from accelsim.cli import add_force_flag, positive_int
from accelsim.probe.host import DEFAULT_FMA_UNITS  # light: the probes themselves import numba and torch

PROBE_KIND = "probed hardware config"  # output kind of -o (accelsim.atomic)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `probe` subcommand."""
    p = sub.add_parser("probe", help="measure this machine (latency, TLB, MLP, bandwidth, GEMM, dispatch) and "
                                     "write a cpu-only hardware config")
    p.add_argument("-o", "--out", metavar="FILE.yaml", help="write the hardware config here (atomically)")
    p.add_argument("--json", action="store_true", help="print every measurement as one JSON object")
    p.add_argument("--fma-units", type=positive_int, default=DEFAULT_FMA_UNITS,
                   help=f"FMA pipes per core (not detectable; default {DEFAULT_FMA_UNITS})")
    add_force_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Probe, build, write, print."""
    from accelsim.atomic import claim_output, write_text_atomic
    from accelsim.config.base import to_yaml
    from accelsim.probe.run import report_dict, run_probes

    if args.out:
        claim_output(args.out, PROBE_KIND, is_dir=False)  # before minutes of probing: a refused path costs nothing
    note = (lambda msg: print(f"  ... {msg}", file=sys.stderr, flush=True))
    r = run_probes(fma_units=args.fma_units, progress=note)
    text = to_yaml(r.system)
    if args.out:
        write_text_atomic(args.out, text, kind=PROBE_KIND)
    if args.json:
        print(json.dumps({**report_dict(r), "saved_hw": args.out}))
        return 0
    c = r.system.cpu
    print(f"machine   {r.host.model_name}: {c.cores} cores @ {c.freq_ghz:.2f} GHz; {r.when}; {r.load_before} "
          f"(after: {r.load_after})")
    for lv, cc in zip(r.levels, c.caches):
        print(f"cache     {lv.name}: {lv.latency_ns:6.1f} ns, effective {lv.effective_bytes / 2**20:7.2f} MiB "
              f"(sysfs {lv.sysfs_bytes / 2**20:.2f} MiB) -> model {cc.size_bytes / 2**20:.2f} MiB")
    print(f"memory    idle {r.memory_ns:.1f} ns (2 MiB pages); fabric {c.memory_fabric_latency_ns:.1f} ns over "
          f"{r.system.dram.standard} x {r.system.dram.channels}")
    print(f"tlb       reach {r.translation.reach_bytes / 2**20:.2f} MiB of 4 KiB pages ({c.tlb.entries} entries), "
          f"page walk {r.translation.page_walk_ns:.1f} ns; THP '{r.thp_mode}' -> tables on "
          f"{c.tlb.page_bytes // 1024} KiB pages")
    print(f"mlp       {r.misses_in_flight:.1f} misses in flight per core; random reads {r.random_read_gbps:.1f} "
          f"GB/s, STREAM {r.stream.bandwidth_gbps:.1f} GB/s (spread {r.stream.spread:.0%})")
    eff = [p.efficiency for p in c.gemm_efficiency_table]
    print(f"gemm      efficiency {min(eff):.3f} .. {max(eff):.3f} over {len(eff)} shapes")
    sw = c.software
    print(f"software  torch {r.sw.torch_version}: Linear {sw.op_dispatch_ns / 1e3:.1f} us, EmbeddingBag "
          f"{sw.embedding_dispatch_ns / 1e3:.1f} us per call; {c.gather_cycles_per_lookup:.1f} cycles/lookup; "
          f"EmbeddingBag on {'every core' if sw.embedding_threads is None else '1 thread'}")
    worst = [p for p in r.small + r.huge if p.spread > 0.1]
    if worst:
        print(f"spread    {len(worst)} latency points spread > 10% (machine load); see --json")
    if args.out:
        print(f"saved     {args.out}  (accelsim run --hw {args.out} ...)")
    return 0
