"""`accelsim figures`: regenerate every paper figure (PDF + PNG) from the raw configs."""

from __future__ import annotations

import argparse
import sys
import time

from accelsim.atomic import claim_output, mark_output
from accelsim.cli import add_force_flag
from accelsim.cli.main_cmd import FIDELITY, add_study_flags, int_list, name_list, run_study
from accelsim.errors import InputError

FIGURES_KIND = "figures"  # output kind of the figures directory (accelsim.atomic)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `figures` subcommand."""
    p = sub.add_parser("figures", help="regenerate every figure (PDF + PNG) from the raw configs",
                       description=__doc__)
    p.add_argument("--sweep", metavar="DIR", help="results store of a 2-axis sweep for the heatmap "
                   "(default: run a small built-in link bandwidth x gather units sweep)")
    p.add_argument("--fidelity", choices=["analytic", "detailed"], default=FIDELITY,
                   help="of every simulation behind the figures (default: %(default)s, as `accelsim main`)")
    p.add_argument("--models", default="rm1,rm2,rm3", help="comma-separated, among `accelsim main`'s study")
    p.add_argument("--batch-sizes", default="1,2,4,8,16,32,64,128")
    p.add_argument("--label", action="append", default=[], metavar="PATH=WORDS",
                   help="axis words for a swept config path, e.g. 'hw.dram.channels=DRAM channels' (repeatable; "
                        "overrides accelsim.figures.style.AXIS_LABELS)")
    p.add_argument("--serving", action="store_true", help="also the serving figures: p99 vs offered QPS, CPU-only "
                   "vs Centaur, and QPS at a p99 SLA (about a minute per model)")
    p.add_argument("-o", "--out", default="results/figures", help="directory for the figures")
    p.add_argument("--compression", metavar="DIR", help="results store of sweeps/compression.yaml: also draw "
                   "i_compression_pareto (table memory vs latency and energy)")
    add_study_flags(p)  # figures (a)-(c) and (e) draw the main study's points, read from (or added to) its store
    add_force_flag(p)
    p.set_defaults(func=_figures)


def _figures(args: argparse.Namespace) -> int:
    from accelsim.figures.make import make_figures  # imports matplotlib: only when drawing
    from accelsim.sweep import SweepAborted

    models = name_list(args.models, "--models")
    sizes = int_list(args.batch_sizes, "--batch-sizes")
    labels = {}
    for item in args.label:
        path, sep, words = item.partition("=")
        if not sep or not path.strip() or not words.strip():
            raise InputError(f"--label: expected PATH=WORDS, got {item!r}")
        labels[path.strip()] = words.strip()
    claim_output(args.out, FIGURES_KIND)  # figures go in one by one: the directory must be ours (or empty)
    t0 = time.perf_counter()
    say = (lambda _msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))

    def grid(models: list[str], sizes: list[int], fidelity: str) -> list:
        results, report = run_study(models, sizes, fidelity, store=args.store, workers=args.workers, quiet=args.quiet)
        say(f"main study: {report.done} points computed, {report.skipped} read from the store {args.store}")
        return results

    try:
        figures = make_figures(args.out, sweep_dir=args.sweep, fidelity=args.fidelity, models=models,
                               batch_sizes=sizes, labels=labels, log=say, serving=args.serving, grid=grid)
    except SweepAborted as err:
        print(f"accelsim: figures aborted: {err}; finished points are stored, run again to resume", file=sys.stderr)
        return 1
    if args.compression:
        from accelsim.figures.compression import figure_from_store
        figure_from_store(args.compression, args.out)
        figures = [*figures, "i_compression_pareto"]
    mark_output(args.out, FIGURES_KIND)
    for name in figures:
        print(f"{args.out}/{name}.pdf  {args.out}/{name}.png")
    print(f"{len(figures)} figures written to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0
