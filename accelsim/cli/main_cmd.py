"""`accelsim main`: the Centaur question — RM1-RM3, CPU-only vs CPU+FPGA, batch 1-128, speed-up and energy."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from accelsim.atomic import atomic_path, claim_output
from accelsim.cli import add_force_flag
from accelsim.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

FIDELITY = "detailed"  # `accelsim figures` draws at this fidelity too, so its figures agree with this table

TABLE_KIND = "centaur-table"  # output kind of the CSV (accelsim.atomic)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `main` subcommand."""
    p = sub.add_parser("main", help="speed-up and energy efficiency of Centaur over CPU-only on RM1-RM3")
    p.add_argument("--batch-sizes", default="1,2,4,8,16,32,64,128")
    p.add_argument("--fidelity", choices=["analytic", "detailed"], default=FIDELITY)
    p.add_argument("-o", "--out", default="results/main/centaur_table.csv")
    add_force_flag(p)
    p.set_defaults(func=_main)


def centaur_table(batch_sizes: list[int], fidelity: str) -> pd.DataFrame:
    """One row per (model, batch size): latency, energy and embedding bandwidth on both systems, the ratios."""
    from accelsim.figures.runs import MODELS, run_grid, speedup_table, summary_table

    results = run_grid(MODELS, batch_sizes, fidelity)
    s = summary_table(results).assign(latency_us=lambda d: d["latency_ns"] / 1e3)
    wide = s.pivot(index=["model", "batch_size"], columns="mapping",
                   values=["latency_us", "energy_per_inference_uj", "embedding_bandwidth_gbps"])
    names = {"latency_us": "latency_us", "energy_per_inference_uj": "energy_uj", "embedding_bandwidth_gbps": "emb_gbps"}
    wide.columns = [f"{mapping}_{names[metric]}" for metric, mapping in wide.columns]
    return speedup_table(results).merge(wide.reset_index(), on=["model", "batch_size"])


def _main(args: argparse.Namespace) -> int:
    try:
        sizes = [int(x) for x in args.batch_sizes.split(",")]
    except ValueError:
        raise InputError(f"--batch-sizes: expected comma-separated integers, got {args.batch_sizes!r}") from None
    if not sizes or min(sizes) < 1:
        raise InputError("--batch-sizes: every batch size must be >= 1")
    claim_output(args.out, TABLE_KIND, is_dir=False)
    t0 = time.perf_counter()
    df = centaur_table(sizes, args.fidelity)
    with atomic_path(args.out, kind=TABLE_KIND) as tmp:
        df.to_csv(tmp, index=False)
    from accelsim.config.system import load_system
    from accelsim.figures.runs import CPU_ONLY

    sw = load_system(CPU_ONLY[0]).cpu.software
    print(f"Centaur (HARPv2 CPU+FPGA) vs CPU-only (Broadwell), {args.fidelity} fidelity, shipped traces; "
          f"CPU software profile {sw.name} ({sw.description}; docs/centaur_results.md shows both profiles)")
    print(f"{'model':<6}{'batch':>6}{'CPU us':>11}{'FPGA us':>11}{'speed-up':>10}{'CPU uJ/inf':>12}"
          f"{'FPGA uJ/inf':>13}{'energy eff.':>12}{'CPU GB/s':>10}{'FPGA GB/s':>10}")
    for _, r in df.iterrows():
        print(f"{r['model']:<6}{r['batch_size']:>6}{r['cpu_only_latency_us']:>11.1f}{r['centaur_latency_us']:>11.1f}"
              f"{r['speedup']:>9.2f}x{r['cpu_only_energy_uj']:>12.1f}{r['centaur_energy_uj']:>13.1f}"
              f"{r['energy_efficiency']:>11.2f}x{r['cpu_only_emb_gbps']:>10.1f}{r['centaur_emb_gbps']:>10.1f}")
    print(f"(table written to {Path(args.out)}; {time.perf_counter() - t0:.1f} s)")
    return 0
