"""`accelsim main`: the Centaur question — RM1-RM3, CPU-only vs CPU+FPGA, batch 1-128, speed-up and energy.

The points are a sweep (sweeps/centaur_main.yaml) run by the sweep engine into a results store, so a second
run only reads the store and an interrupted one computes just what is missing; this module adds the report.
`accelsim figures` runs the same study (`run_study`) and so reuses the same stored points.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from accelsim.atomic import atomic_path, claim_output, overwrite_allowed
from accelsim.cli import add_force_flag
from accelsim.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from accelsim.config.software import SoftwareConfig
    from accelsim.results import Result
    from accelsim.sweep import SweepReport

FIDELITY = "detailed"  # `accelsim figures` draws at this fidelity too, so its figures agree with this table

TABLE_KIND = "centaur-table"  # output kind of the CSV (accelsim.atomic)
STUDY_SPEC = Path("sweeps") / "centaur_main.yaml"  # in the repository, like hwconfigs/ and workloads/
DEFAULT_STORE = "results/main/store"  # shared by `accelsim main` and `accelsim figures`


def add_study_flags(p: argparse.ArgumentParser) -> None:
    """The flags of a command that runs the main study: its store, its process pool, its progress bar."""
    p.add_argument("--store", default=DEFAULT_STORE, metavar="DIR",
                   help="results store of the study's points, reused by later runs and by `accelsim figures` "
                        "(default: %(default)s; a store of other code is rebuilt, another sweep's is refused)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="processes computing the missing points (default: the usable CPUs; 1: in this process)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or notes on stderr (errors still)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `main` subcommand."""
    p = sub.add_parser("main", help="speed-up and energy efficiency of Centaur over CPU-only on RM1-RM3",
                       description="Run the study sweeps/centaur_main.yaml (missing points only) and print the "
                                   "Centaur table.")
    p.add_argument("--batch-sizes", help="comma-separated (default: the study's, 1-128)")
    p.add_argument("--models", help="comma-separated, among the study's (default: all of them, rm1-rm3)")
    p.add_argument("--fidelity", choices=["analytic", "detailed"], default=FIDELITY)
    p.add_argument("-o", "--out", default="results/main/centaur_table.csv")
    add_study_flags(p)
    add_force_flag(p)
    p.set_defaults(func=_main)


def int_list(text: str, what: str) -> list[int]:
    """Comma-separated positive integers of a flag; InputError naming the flag otherwise."""
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        raise InputError(f"{what}: expected comma-separated integers, got {text!r}") from None
    if min(values) < 1:
        raise InputError(f"{what}: every value must be >= 1, got {text!r}")
    return values


def name_list(text: str, what: str) -> list[str]:
    """Comma-separated names of a flag, at least one."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise InputError(f"{what}: give at least one name")
    return names


def study_spec(models: Sequence[str] | None = None, batch_sizes: Sequence[int] | None = None,
               fidelity: str = FIDELITY) -> dict:
    """The shipped study with its workload list, batch sizes and fidelity replaced, trace paths made absolute.

    Trace paths in the file are relative to the repository, so the study runs from any directory; batch sizes
    run largest first (see the file). InputError for a model the study has no trace for.
    """
    from accelsim.config.base import read_yaml
    from accelsim.config.workload import REPO_ROOT

    path = REPO_ROOT / STUDY_SPEC
    spec = read_yaml(path)
    try:
        base, axes = spec["base"], spec["axes"]
        sizes_axis = next(a["grid"] for a in axes if "batch_size" in a.get("grid", {}))
        models_axis = next(a["zip"] for a in axes if {"workload", "trace.path"} <= set(a.get("zip", {})))
        traces = dict(zip(models_axis["workload"], models_axis["trace.path"], strict=True))
    except (KeyError, TypeError, StopIteration, ValueError):
        raise InputError("the main study needs a base trace, a grid axis over batch_size and a zip axis over "
                         "workload and trace.path", source=str(path)) from None
    unknown = [m for m in models or () if m not in traces]
    if unknown:
        raise InputError(f"--models: {', '.join(unknown)} not in the study (it has {', '.join(traces)})",
                         source=str(path))
    models = list(dict.fromkeys(models or traces))
    models_axis.clear()
    models_axis.update({"workload": models, "trace.path": [str(REPO_ROOT / traces[m]) for m in models]})
    base["trace"] = {**base["trace"], "path": str(REPO_ROOT / base["trace"]["path"])}
    if batch_sizes is not None:
        sizes_axis["batch_size"] = sorted(set(batch_sizes), reverse=True)
    base["fidelity"] = fidelity
    return spec


def run_study(models: Sequence[str] | None, batch_sizes: Sequence[int] | None, fidelity: str, *,
              store: str | Path, workers: int | None, quiet: bool) -> tuple[list[Result], SweepReport]:
    """Compute the study's points missing from `store` (`workers` processes), then load every point's Result.

    Returns the Results in the study's order and what the sweep did. Raises SweepAborted if a worker process
    dies (the points finished so far are stored).
    """
    from accelsim.sweep import InProcessExecutor, ProcessExecutor, run_sweep
    from accelsim.sweep.store import Store

    spec = study_spec(models, batch_sizes, fidelity)
    previous = Store(store).spec_name()
    if previous not in (None, spec["name"]):
        raise InputError(f"holds the sweep {previous!r}, not the main study {spec['name']!r}; choose another --store",
                         source=str(store))
    # One worker: in this process (no pool start-up). Chunks of one point: the bar moves with every point.
    executor = InProcessExecutor() if workers == 1 else ProcessExecutor(workers, chunk_size=1)
    with overwrite_allowed(False):  # --force is for the command's output; a user's folder never becomes a store
        report = run_sweep(spec, store, executor, retry_failed=True, progress=False if quiet else None,
                           rebuild=True)
    if report.discarded and not quiet:
        print(f"accelsim: {store}: deleted {report.discarded} points that other code computed", file=sys.stderr)
    if report.failed:
        raise InputError(report.failure_summary(), source=str(store))
    stored = Store(store)
    return [stored.result(h) for h in report.hashes], report


def centaur_table(results: Sequence[Result]) -> pd.DataFrame:
    """One row per (model, batch size): latency, energy and embedding bandwidth on both systems, the ratios."""
    from accelsim.figures.runs import speedup_table, summary_table

    s = summary_table(results).assign(latency_us=lambda d: d["latency_ns"] / 1e3)
    wide = s.pivot(index=["model", "batch_size"], columns="mapping",
                   values=["latency_us", "energy_per_inference_uj", "embedding_bandwidth_gbps"])
    names = {"latency_us": "latency_us", "energy_per_inference_uj": "energy_uj", "embedding_bandwidth_gbps": "emb_gbps"}
    wide.columns = [f"{mapping}_{names[metric]}" for metric, mapping in wide.columns]
    return speedup_table(results).merge(wide.reset_index(), on=["model", "batch_size"])


def baseline_software(results: Sequence[Result]) -> SoftwareConfig:
    """The CPU software profile of the CPU-only runs, read from their stored configs."""
    from accelsim.config.system import SystemConfig
    from accelsim.figures.runs import CPU_ONLY

    hw = next(r.config["hw"] for r in results if r.summary["mapping"] == CPU_ONLY[1])
    return SystemConfig.model_validate(hw).cpu.software


def _main(args: argparse.Namespace) -> int:
    from accelsim.sweep import SweepAborted

    sizes = int_list(args.batch_sizes, "--batch-sizes") if args.batch_sizes is not None else None
    models = name_list(args.models, "--models") if args.models is not None else None
    claim_output(args.out, TABLE_KIND, is_dir=False)
    t0 = time.perf_counter()
    try:
        results, report = run_study(models, sizes, args.fidelity, store=args.store, workers=args.workers,
                                    quiet=args.quiet)
    except SweepAborted as err:
        print(f"accelsim: main aborted: {err}; finished points are stored, run again to resume", file=sys.stderr)
        return 1
    df = centaur_table(results)
    with atomic_path(args.out, kind=TABLE_KIND) as tmp:
        df.to_csv(tmp, index=False)
    sw = baseline_software(results)
    print(f"Centaur (HARPv2 CPU+FPGA) vs CPU-only (Broadwell), {args.fidelity} fidelity, shipped traces; "
          f"CPU software profile {sw.name} ({sw.description}; docs/centaur_results.md shows both profiles)")
    print(f"{'model':<6}{'batch':>6}{'CPU us':>11}{'FPGA us':>11}{'speed-up':>10}{'CPU uJ/inf':>12}"
          f"{'FPGA uJ/inf':>13}{'energy eff.':>12}{'CPU GB/s':>10}{'FPGA GB/s':>10}")
    for _, r in df.iterrows():
        print(f"{r['model']:<6}{r['batch_size']:>6}{r['cpu_only_latency_us']:>11.1f}{r['centaur_latency_us']:>11.1f}"
              f"{r['speedup']:>9.2f}x{r['cpu_only_energy_uj']:>12.1f}{r['centaur_energy_uj']:>13.1f}"
              f"{r['energy_efficiency']:>11.2f}x{r['cpu_only_emb_gbps']:>10.1f}{r['centaur_emb_gbps']:>10.1f}")
    print(f"({report.total} points: {report.done} computed, {report.skipped} read from the store {args.store}; "
          f"table written to {Path(args.out)}; {time.perf_counter() - t0:.1f} s)")
    return 0
