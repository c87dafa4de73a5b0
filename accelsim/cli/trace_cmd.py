"""`accelsim trace ...`: make (synth, capture, import), export, inspect (stats) and profile embedding traces."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from accelsim.atomic import claim_output
from accelsim.cli import add_force_flag
from accelsim.errors import InputError

FORMATS = ("dlrm-datasets", "dlrm-text")
# Output kinds (accelsim.atomic); "trace" is accelsim.workload.trace.TRACE_KIND, named here to keep startup light.
TRACE, EXPORT_KINDS, PROFILE = "trace", {"dlrm-datasets": "dlrm-datasets-export", "dlrm-text": "dlrm-text-export"}, \
    "stackdist-profile"


def _synth(args: argparse.Namespace) -> int:
    from accelsim.config.workload import load_workload
    from accelsim.workload.synth import synthesize

    claim_output(args.output, TRACE)
    out = synthesize(load_workload(args.workload), dist=args.dist, batches=args.batches,
                     batch_size=args.batch_size, seed=args.seed, out=args.output, alpha=args.alpha,
                     reuse=args.reuse, stackdist_file=args.stackdist_file)
    print(f"wrote {out}")
    return 0


def _widths(text: str) -> list[int]:
    """argparse type: comma-separated positive widths (13,64,16)."""
    try:
        out = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"expected positive widths, got {text!r}")
    return out


def load_factory(target: str):
    """The callable named by `PKG.MOD:FACTORY`, imported with the current directory on the path (as python -m)."""
    import importlib
    import sys

    mod_name, sep, attr = target.partition(":")
    if not sep or not mod_name or not attr.isidentifier():
        raise InputError(f"--module {target!r}: expected PKG.MOD:FACTORY (a module and a callable in it)")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(mod_name)
    except ImportError as err:
        raise InputError(f"--module {target!r}: cannot import {mod_name} ({err})") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise InputError(f"--module {target!r}: {mod_name} has no callable {attr}")
    return factory


def _capture_module(args: argparse.Namespace) -> int:
    from torch import nn

    from accelsim.workload.capture import capture_model  # imports torch: only when capturing

    made = load_factory(args.module)()
    if not (isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], nn.Module)):
        raise InputError(f"--module {args.module}: the factory must return (model, inputs): an nn.Module and an "
                         f"iterable of per-batch forward arguments; got {type(made).__name__}")
    model, inputs = made
    dense = {"bottom_mlp": args.bottom_mlp, "top_mlp": args.top_mlp, "interaction": args.interaction}
    out = capture_model(model, inputs, args.output, name=args.name or args.module.partition(":")[2],
                        batches=args.batches, dense=dense, with_weights=args.with_weights, seed=args.seed)
    from accelsim.workload.trace import open_trace

    meta = open_trace(out).meta
    print(f"wrote {out}: {meta.num_batches} batches, {meta.num_samples} samples, {meta.num_tables} tables, "
          f"workload spec {meta.workload}{', weights' if args.with_weights else ''}")
    return 0


def _capture(args: argparse.Namespace) -> int:
    from accelsim.config.workload import load_workload

    claim_output(args.output, TRACE)  # before any work: a refused path costs nothing
    if args.module is not None:
        if args.batch_size is not None or args.memory_budget_gib is not None:
            raise InputError("--batch-size and --memory-budget-gib apply to --workload (the inputs of --module "
                             "set the batch size)")
        return _capture_module(args)
    if args.with_weights or args.name or args.bottom_mlp or args.top_mlp or args.interaction:
        raise InputError("--with-weights, --name, --bottom-mlp, --top-mlp and --interaction apply to --module")
    if args.batches is None or args.batch_size is None or args.seed is None:
        raise InputError("--workload needs --batches, --batch-size and --seed")
    if args.batches < 1 or args.batch_size < 1:
        raise InputError(f"batches and batch size must be >= 1, got {args.batches} and {args.batch_size}")
    if args.memory_budget_gib is None:
        args.memory_budget_gib = 2.0
    spec = load_workload(args.workload)
    if args.memory_budget_gib <= 0:
        raise InputError(f"--memory-budget-gib must be positive, got {args.memory_budget_gib}")
    from accelsim.workload.capture import capture_dlrm  # imports torch: only when capturing

    out = capture_dlrm(spec, batches=args.batches, batch_size=args.batch_size, seed=args.seed, out=args.output,
                       memory_budget_bytes=int(args.memory_budget_gib * 2**30))
    print(f"wrote {out}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from accelsim.config.workload import load_workload
    from accelsim.workload.importers import import_dlrm_datasets, import_dlrm_text

    claim_output(args.output, TRACE)
    spec = load_workload(args.workload) if args.workload else None
    if args.format == "dlrm-datasets":
        if args.batch_size is not None or args.bag_size is not None:
            raise InputError("--batch-size and --bag-size apply to dlrm-text only (dlrm-datasets files carry them)")
        out = import_dlrm_datasets(args.files, args.output, spec=spec, rows=args.rows)
    else:
        if len(args.files) != 1:
            raise InputError(f"dlrm-text imports one file, got {len(args.files)}")
        out = import_dlrm_text(args.files[0], args.output, spec=spec, rows=args.rows, batch_size=args.batch_size,
                               bag_size=args.bag_size)
    print(f"wrote {out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from accelsim.workload.importers import export_dlrm_datasets, export_dlrm_text

    claim_output(args.output, EXPORT_KINDS[args.format], is_dir=args.format == "dlrm-datasets")
    if args.format == "dlrm-datasets":
        if args.table is not None:
            raise InputError("--table applies to dlrm-text only (dlrm-datasets keeps every table)")
        out = export_dlrm_datasets(args.trace, args.output, drop_weights=args.drop_weights)
    else:
        out = export_dlrm_text(args.trace, args.output, table=args.table)
    print(f"wrote {out}")
    return 0


def _fmt_table(stats: dict) -> str:
    cols = ("table", "rows", "lookups", "unique", "uniq%", "mean bag", "max bag", "empty", "top0.1%", "top1%",
            "top10%", "gathered MB")

    def row(name: str, s: dict, rows: str) -> list[str]:
        hot = list(s["hot_set_access_share"].values())
        gb = s["gathered_bytes"]
        return [name, rows, str(s["lookups"]), str(s["unique_rows"]), f"{100 * s['unique_fraction']:.1f}",
                f"{s['mean_bag_lookups']:.2f}", str(s["max_bag_lookups"]), str(s["empty_bags"]),
                *(f"{100 * h:.1f}%" for h in hot), "-" if gb is None else f"{gb / 1e6:.2f}"]

    body = [row(str(t["table"]), t, str(t["rows"])) for t in stats["tables"]]
    body.append(row("all", stats["overall"], str(sum(t["rows"] for t in stats["tables"]))))
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(cols)]
    lines = [f"trace {stats['trace']}: {stats['num_batches']} batches, batch size {stats['batch_size']}, "
             f"{stats['num_tables']} tables, source {stats['source']}"]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in [list(cols), *body]]
    for t in stats["tables"]:
        if "scheme" in t:  # the spec's closed forms (docs/compression.md)
            lines.append(f"table {t['table']} ({t['name']}): {t['scheme']}, {t['dtype']}, dim {t['dim']}, "
                         f"stored {t['bytes_stored'] / 1e6:.2f} MB, {t['row_bytes']:.1f} B and "
                         f"{t['lines_per_lookup_64b']:.3f} lines per lookup, extra FLOPs "
                         f"{t['extra_flops_per_lookup']:.0f} per lookup + {t['extra_flops_per_bag']:.0f} per bag")
    reuse = stats["overall"]["reuse_distance"]
    lines.append(f"reuse distance (LRU stack, all tables): first touch {reuse['first_touch']}; " + ", ".join(
        f"[{b['min_distance']},{b['max_distance']}]: {b['count']}" for b in reuse["log2_buckets"]))
    if "note" in stats:
        lines.append(f"note: {stats['note']}")
    return "\n".join(lines)


def _stats(args: argparse.Namespace) -> int:
    from accelsim.workload.stats import trace_stats
    from accelsim.workload.trace import open_trace

    stats = trace_stats(open_trace(args.trace))
    print(json.dumps(stats, indent=1) if args.json else _fmt_table(stats))
    return 0


def _profile(args: argparse.Namespace) -> int:
    from accelsim.workload.stackdist import profile_trace, write_distribution
    from accelsim.workload.trace import open_trace

    reader = open_trace(args.trace)
    T = reader.meta.num_tables
    pattern = str(args.output)
    if "{table}" in pattern:
        if args.table is not None:
            raise InputError("give either --table or a {table} pattern in the output name, not both")
        tables = list(range(T))
    else:
        if args.table is None and T != 1:
            raise InputError(f"{args.trace}: has {T} tables; choose one with --table or put {{table}} in -o to "
                             f"write one file per table")
        tables = [args.table or 0]
    # profile everything first so that a failure leaves no file behind
    paths = [claim_output(pattern.replace("{table}", str(t)), PROFILE, is_dir=False) for t in tables]
    dists = [(path, profile_trace(reader, table=t)) for path, t in zip(paths, tables)]
    for path, dist in dists:
        write_distribution(path, *dist, kind=PROFILE)
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `accelsim trace` and its subcommands."""
    p = sub.add_parser("trace", help="make, import, export, inspect and profile embedding traces",
                       description=__doc__)
    tsub = p.add_subparsers(dest="trace_command", required=True, parser_class=type(p))

    s = tsub.add_parser("synth", help="generate a synthetic trace for a workload")
    s.add_argument("--workload", required=True, help="shipped workload name (rm1) or YAML path")
    s.add_argument("--dist", required=True, choices=("uniform", "zipf", "stackdist"))
    s.add_argument("--alpha", type=float, default=1.09,
                   help="Zipf exponent; <= 1 means uniform (FBGEMM); 1.09 inference, 1.15 training")
    s.add_argument("--reuse", type=float, default=0.0, help="share of lookups taken from the previous batch")
    s.add_argument("--stackdist-file", help="dlrm distribution file; '{table}' in the name: one per table")
    s.add_argument("--batches", type=int, required=True)
    s.add_argument("--batch-size", type=int, required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("-o", "--output", required=True, type=Path, help="trace directory to write (X.trace)")
    add_force_flag(s)
    s.set_defaults(func=_synth)

    c = tsub.add_parser("capture", help="capture lookups from your PyTorch model, or from accelsim's DLRM of a "
                        "workload")
    what = c.add_mutually_exclusive_group(required=True)
    what.add_argument("--module", help="PKG.MOD:FACTORY; FACTORY() returns (model, inputs), inputs an iterable of "
                      "per-batch forward arguments (tuple: positional, dict: keywords, else one argument)")
    what.add_argument("--workload", help="capture accelsim's PyTorch DLRM of this workload on random inputs")
    c.add_argument("--batches", type=int, help="batches to capture (--module: default all the inputs give)")
    c.add_argument("--batch-size", type=int, help="--workload: samples per batch")
    c.add_argument("--seed", type=int, help="--workload: inputs and weights seed; --module: recorded only")
    c.add_argument("-o", "--output", required=True, type=Path)
    c.add_argument("--with-weights", action="store_true",
                   help="--module: store the model's embedding and MLP weights with the trace, for replay")
    c.add_argument("--name", help="--module: name of the workload spec (default: the factory's name)")
    c.add_argument("--bottom-mlp", type=_widths, help="--module: dense features then layer widths, e.g. 13,64,16 "
                   "(found in a DLRM-like model)")
    c.add_argument("--top-mlp", type=_widths, help="--module: top layer widths ending in 1, e.g. 64,1")
    c.add_argument("--interaction", choices=("dot", "cat"), help="--module: feature interaction")
    c.add_argument("--memory-budget-gib", type=float,
                   help="--workload: refuse models whose tables and weights exceed this (default 2; the PyTorch "
                   "model holds them all)")
    add_force_flag(c)
    c.set_defaults(func=_capture)

    i = tsub.add_parser("import", help="import a public trace file")
    i.add_argument("--format", required=True, choices=FORMATS)
    i.add_argument("files", nargs="+", metavar="FILE", help="dlrm-datasets: one file per batch, in order")
    g = i.add_mutually_exclusive_group(required=True)
    g.add_argument("--workload", help="table count and rows from this workload")
    g.add_argument("--rows", type=int, help="rows of every table")
    i.add_argument("--batch-size", type=int, help="dlrm-text: bags per batch (default: workload's)")
    i.add_argument("--bag-size", type=int, help="dlrm-text: lookups per bag (default: workload's, or 1)")
    i.add_argument("-o", "--output", required=True, type=Path)
    add_force_flag(i)
    i.set_defaults(func=_import)

    e = tsub.add_parser("export", help="export a trace to a public format")
    e.add_argument("--format", required=True, choices=FORMATS)
    e.add_argument("trace", type=Path)
    e.add_argument("--table", type=int, help="dlrm-text: the table to write (required with several tables)")
    e.add_argument("--drop-weights", action="store_true", help="dlrm-datasets: drop per-sample weights")
    e.add_argument("-o", "--output", required=True, type=Path,
                   help="dlrm-datasets: a directory of batch_NNNNN.pt.gz; dlrm-text: a file")
    add_force_flag(e)
    e.set_defaults(func=_export)

    st = tsub.add_parser("stats", help="lookups, uniqueness, reuse distances, hot sets, bytes gathered")
    st.add_argument("trace", type=Path)
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")
    st.set_defaults(func=_stats)

    pr = tsub.add_parser("profile", help="write a dlrm stack-distance distribution file (for --dist stackdist)")
    pr.add_argument("trace", type=Path)
    pr.add_argument("--table", type=int, help="table to profile (required with several tables)")
    pr.add_argument("-o", "--output", required=True, help="distribution file; '{table}' writes one per table")
    add_force_flag(pr)
    pr.set_defaults(func=_profile)
