"""`accelsim sweep` (run a design-space sweep into a results store) and `accelsim results` (merge, Pareto)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import TYPE_CHECKING

from accelsim.cli import add_force_flag
from accelsim.errors import InputError

if TYPE_CHECKING:
    from accelsim.sweep.executors import Executor

# accelsim.sweep (pandas, pyarrow, tqdm) is imported inside the commands: every `accelsim` call imports this module.


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()] if text else []


def _require_dask(flag: str) -> None:
    """Dask is an optional extra: name it when a Dask flag is used without it."""
    if importlib.util.find_spec("distributed") is None:
        raise InputError(f"{flag} needs Dask, an optional extra: pip install 'accelsim[dask]' "
                         "(or pip install 'dask[distributed]')")


def _executor(args: argparse.Namespace) -> "Executor":
    from accelsim.sweep import DaskExecutor, InProcessExecutor, ProcessExecutor

    if args.in_process:
        return InProcessExecutor()
    if args.dask_local is not None:
        _require_dask("--dask-local")
        return DaskExecutor(n_workers=args.dask_local, chunk_size=args.chunk_size)
    if args.scheduler is not None:
        _require_dask("--scheduler")
        return DaskExecutor(address=args.scheduler, chunk_size=args.chunk_size)
    return ProcessExecutor(args.workers, chunk_size=args.chunk_size)


def _sweep(args: argparse.Namespace) -> int:
    from accelsim.sweep import SweepAborted, run_sweep

    if args.limit is not None and args.limit < 0:
        raise InputError(f"--limit: need a count >= 0, got {args.limit}")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise InputError(f"--chunk-size: need at least 1, got {args.chunk_size}")
    try:
        report = run_sweep(args.spec, args.out, _executor(args), limit=args.limit,
                           retry_failed=args.retry_failed, progress=True, allow_code=args.allow_code,
                           rebuild=args.rebuild)
    except SweepAborted as err:
        print(f"accelsim: sweep aborted: {err}; finished points are stored, run again to resume", file=sys.stderr)
        return 1
    if report.discarded:
        print(f"accelsim: deleted {report.discarded} points computed by other code (--rebuild)", file=sys.stderr)
    print(report.line())
    if report.failed:
        print(f"accelsim: {report.failure_summary()}\n(details: accelsim results {args.out})", file=sys.stderr)
        return 1
    return 0


def _results(args: argparse.Namespace) -> int:
    from accelsim.sweep import load_results, pareto_front, write_table
    from accelsim.sweep.pareto import parse_objectives

    if args.out:
        from accelsim.atomic import claim_output
        from accelsim.sweep.store import TABLE_KIND

        claim_output(args.out, TABLE_KIND, is_dir=False)
    df = load_results(args.dir)
    if args.out:
        write_table(df, args.out)
        print(f"wrote {len(df)} rows to {args.out}")
    maximize = _names(args.maximize)
    objectives = _names(args.pareto) or [*_names(args.minimize), *maximize]
    both = set(_names(args.minimize)) & set(maximize)
    if both:
        raise InputError(f"--minimize and --maximize both name {', '.join(sorted(both))}")
    if objectives:
        front = pareto_front(df, objectives, maximize)
        objective_cols = [c for c, _ in parse_objectives(objectives, maximize)]
        shown = front[list(dict.fromkeys(["hash", *df.attrs["param_columns"], *objective_cols]))]
        ok = int((df["status"] == "ok").sum())
        print(f"Pareto front over {', '.join(objectives)}: {len(front)} of {ok} ok points")
        print(shown.to_string(index=False))
    elif not args.out:
        print(df.to_string(index=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sweep` and `results` subcommands."""
    p = sub.add_parser("sweep", help="run a design-space sweep (resumable)",
                       description="Expand SPEC, run the points not yet in DIR, store each under its hash.")
    p.add_argument("spec", help="sweep YAML (see docs/sweeps.md)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="results store (created or resumed)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="local process pool size (default: usable CPUs)")
    where.add_argument("--dask-local", type=int, metavar="N", help="start a Dask LocalCluster of N worker processes")
    where.add_argument("--scheduler", metavar="ADDR", help="use a running Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--in-process", action="store_true", help="run points one by one in this process")
    p.add_argument("--limit", type=int, metavar="K", help="run at most K of the unfinished points")
    p.add_argument("--retry-failed", action="store_true", help="run again the points stored with an error")
    p.add_argument("--rebuild", action="store_true",
                   help="delete the store's points if other code computed them (otherwise such a store is refused)")
    p.add_argument("--chunk-size", type=int, metavar="K", help="points per worker task (default: automatic)")
    p.add_argument("--allow-code", action="store_true",
                   help="let the spec's runner/resolver name any module:function (it will be imported and run)")
    add_force_flag(p)
    p.set_defaults(func=_sweep)

    r = sub.add_parser("results", help="merge a sweep store into one table; Pareto front",
                       description="One row per point: swept paths, summary metrics, status.")
    r.add_argument("dir", help="results store written by `accelsim sweep`")
    r.add_argument("-o", "--out", metavar="FILE.parquet", help="write the merged table as Parquet")
    r.add_argument("--pareto", metavar="X,Y",
                   help="objectives of the Pareto front (minimised; prefix max: to maximise)")
    r.add_argument("--minimize", metavar="X,Y", help="objectives to minimise")
    r.add_argument("--maximize", metavar="X,Y", help="objectives to maximise")
    add_force_flag(r)
    r.set_defaults(func=_results)
