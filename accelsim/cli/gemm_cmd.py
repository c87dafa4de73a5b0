"""`accelsim gemm`: cycles of one GEMM, or of every layer of a SCALE-Sim topology, on a systolic array.

One GEMM: --rows --cols --dataflow --m --k --n. A topology: --topology FILE.csv with the array from
--scalesim-config FILE.cfg (or --rows --cols --dataflow, which override the .cfg); prints SCALE-Sim's
COMPUTE_REPORT / BANDWIDTH_REPORT / DETAILED_ACCESS_REPORT items per layer, and -o DIR writes those files.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from accelsim.cli import positive_int
from accelsim.errors import InputError
from accelsim.hw.systolic import DATAFLOWS, gemm_cycles


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `gemm` subcommand."""
    p = sub.add_parser("gemm", help="cycles of out[M,N] = A[M,K] @ B[K,N], or of a SCALE-Sim topology, on a "
                                    "rows x cols systolic array", description=__doc__)
    p.add_argument("--rows", type=positive_int, help="PE array rows (a .cfg's ArrayHeight)")
    p.add_argument("--cols", type=positive_int, help="PE array columns (a .cfg's ArrayWidth)")
    p.add_argument("--dataflow", choices=DATAFLOWS, help="os: output, ws: weight, is: input stationary")
    p.add_argument("--m", type=positive_int, help="rows of A and out")
    p.add_argument("--k", type=positive_int, help="columns of A, rows of B")
    p.add_argument("--n", type=positive_int, help="columns of B and out")
    p.add_argument("--topology", metavar="FILE.csv", help="SCALE-Sim topology: run every layer (instead of --m/k/n)")
    p.add_argument("--scalesim-config", metavar="FILE.cfg",
                   help="SCALE-Sim config: array, SRAM sizes, interface bandwidth (default SRAMs: SCALE-Sim's "
                        "256/256/128 kB, InterfaceBandwidth CALC)")
    p.add_argument("-o", "--out", metavar="DIR", help="with --topology: write SCALE-Sim's three report CSVs here")
    p.add_argument("--json", action="store_true", help="print JSON (one object; a list of layers with --topology)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one GEMM's cycles, or every topology layer's SCALE-Sim report items."""
    if args.topology or args.scalesim_config:
        return _topology(args)
    missing = [f"--{a}" for a in ("rows", "cols", "dataflow", "m", "k", "n") if getattr(args, a) is None]
    if missing:
        raise InputError(f"gemm needs {', '.join(missing)} (or --topology FILE.csv)")
    if args.out:
        raise InputError("-o/--out applies to --topology runs")
    c = gemm_cycles(args.rows, args.cols, args.dataflow, args.m, args.k, args.n)
    if args.json:
        print(json.dumps({
            "rows": args.rows, "cols": args.cols, "dataflow": args.dataflow, "m": args.m, "k": args.k, "n": args.n,
            "compute_cycles": c.compute_cycles, "folds": c.folds, "row_folds": c.row_folds,
            "col_folds": c.col_folds, "cycles_per_fold": c.cycles_per_fold,
            "fill_drain_cycles": c.fill_drain_cycles, "utilisation_fraction": c.utilisation, "macs": c.macs,
        }))
        return 0
    print(f"GEMM M={args.m} K={args.k} N={args.n} on a {args.rows}x{args.cols} {args.dataflow.upper()} array")
    print(f"  compute_cycles     {c.compute_cycles:,}")
    print(f"  folds              {c.folds:,} ({c.row_folds} row x {c.col_folds} col, "
          f"{c.cycles_per_fold:,} cycles each)")
    print(f"  fill_drain_cycles  {c.fill_drain_cycles:,}")
    print(f"  utilisation        {100 * c.utilisation:.1f}%")
    print(f"  macs               {c.macs:,}")
    return 0


def _topology(args: argparse.Namespace) -> int:
    from accelsim.atomic import write_text_atomic
    from accelsim.hw.scalesim_topology import REPORTS, report_csv, run_topology
    from accelsim.workload.scalesim import DEFAULT_SRAM_KB, ScaleSimConfig, read_scalesim_config, read_topology

    if not args.topology:
        raise InputError("--scalesim-config needs --topology FILE.csv")
    if any(getattr(args, a) is not None for a in ("m", "k", "n")):
        raise InputError("--topology gives the layers: drop --m/--k/--n")
    out = Path(args.out) if args.out else None
    if out is not None:
        if "\x00" in str(out):
            raise InputError("-o: the path holds a NUL byte", source=repr(str(out)))
        if out.exists() and not out.is_dir():
            raise InputError("-o: exists and is not a directory (the three report CSVs go in a directory)",
                             source=str(out))
        clash = [name for name in REPORTS if (out / name).exists()]
        if clash:
            raise InputError(f"{', '.join(clash)} already exist(s); choose another -o DIR", source=str(out))
    if args.scalesim_config:
        cfg = read_scalesim_config(args.scalesim_config)
    else:
        missing = [f"--{a}" for a in ("rows", "cols", "dataflow") if getattr(args, a) is None]
        if missing:
            raise InputError(f"--topology needs --scalesim-config FILE.cfg or {', '.join(missing)}")
        cfg = ScaleSimConfig(args.rows, args.cols, args.dataflow,
                             DEFAULT_SRAM_KB["ifmap"], DEFAULT_SRAM_KB["filter"], DEFAULT_SRAM_KB["ofmap"], None)
    cfg = replace(cfg, **{a: getattr(args, a) for a in ("rows", "cols", "dataflow") if getattr(args, a) is not None})
    reports = run_topology(read_topology(args.topology), cfg)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name in REPORTS:
            write_text_atomic(out / name, report_csv(reports, name))
    if args.json:
        print(json.dumps([r.as_dict() for r in reports]))
        return 0
    bw = "CALC (no stalls)" if cfg.user_bandwidth_words_per_cycle is None else \
        f"USER, {cfg.user_bandwidth_words_per_cycle} words/cycle"
    print(f"{args.topology}: {len(reports)} layers on a {cfg.rows}x{cfg.cols} {cfg.dataflow.upper()} array, SRAM "
          f"ifmap/filter/ofmap {cfg.ifmap_sram_kb}/{cfg.filter_sram_kb}/{cfg.ofmap_sram_kb} kB, interface "
          f"bandwidth {bw}; words are 1 byte, bandwidths in words/cycle")
    head = (f"{'LayerID':>7} {'name':<20} {'Total Cycles':>13} {'Stall Cycles':>12} {'Overall Util %':>14} "
            f"{'Mapping Eff %':>13} {'SRAM IFMAP Rd':>13} {'SRAM Filt Rd':>12} {'SRAM OFMAP Wr':>13} "
            f"{'DRAM IFMAP Rd':>13} {'DRAM Filt Rd':>12} {'DRAM OFMAP Wr':>13} {'Avg DRAM BW':>11}")
    print(head)
    for r in reports:
        dram_bw = r.ifmap_dram_bw + r.filter_dram_bw + r.ofmap_dram_bw
        print(f"{r.layer_id:>7} {r.name[:20]:<20} {r.total_cycles:>13,} {r.stall_cycles:>12,} "
              f"{r.overall_util_pct:>14.2f} {r.mapping_efficiency_pct:>13.2f} {r.ifmap_sram_reads:>13,} "
              f"{r.filter_sram_reads:>12,} {r.ofmap_sram_writes:>13,} {r.ifmap_dram_reads:>13,} "
              f"{r.filter_dram_reads:>12,} {r.ofmap_dram_writes:>13,} {dram_bw:>11.3f}")
    total = sum(r.total_cycles for r in reports)
    print(f"total {total:,} cycles" + (f"; reports written to {out}" if out is not None else ""))
    return 0
