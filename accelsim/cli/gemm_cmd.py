"""`accelsim gemm`: cycles of one GEMM on a systolic array (SCALE-Sim v2 closed forms)."""

from __future__ import annotations

import argparse
import json

from accelsim.cli import positive_int
from accelsim.hw.systolic import DATAFLOWS, gemm_cycles


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `gemm` subcommand."""
    p = sub.add_parser("gemm", help="cycle count of out[M,N] = A[M,K] @ B[K,N] on a rows x cols systolic array")
    p.add_argument("--rows", type=positive_int, required=True, help="PE array rows")
    p.add_argument("--cols", type=positive_int, required=True, help="PE array columns")
    p.add_argument("--dataflow", choices=DATAFLOWS, required=True,
                   help="os: output, ws: weight, is: input stationary")
    p.add_argument("--m", type=positive_int, required=True, help="rows of A and out")
    p.add_argument("--k", type=positive_int, required=True, help="columns of A, rows of B")
    p.add_argument("--n", type=positive_int, required=True, help="columns of B and out")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the GEMM's compute cycles, folds, utilisation and MACs."""
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
