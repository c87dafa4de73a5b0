"""Analytic vs detailed on the shipped Centaur grid (`accelsim main`), every point, both systems, stage by stage.

Writes benchmarks/validate/fidelity_compare.csv: one row per (model, batch, system) with each fidelity's
latency, its embedding / MLP / other parts, the CPU gather's mean miss latency, and the ratio analytic /
detailed; then prints the points outside 15% and the stage that moved most. `--extra` adds cases off the main
grid (the SPR + HBM + UCIe what-if, synthetic uniform traces) to validate the twin where it was not looked at.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from accelsim.atomic import write_text_atomic
from accelsim.figures.runs import BATCH_SIZES, CENTAUR, CPU_ONLY, MODELS, grid_point
from accelsim.sim.api import resolve_point, run_point

OUT = Path(__file__).resolve().parent / "validate" / "fidelity_compare.csv"
TOLERANCE = 0.15
EXTRA_SYSTEMS = (("spr_hbm_ucie_chiplet", "cpu_only"), ("spr_hbm_ucie_chiplet", "centaur"))


def _parts(summary: dict) -> dict:
    emb = summary.get("embedding_time_ns", 0.0)
    mlp = summary.get("bottom_mlp_time_ns", 0.0) + summary.get("top_mlp_time_ns", 0.0)
    return {"latency_us": summary["latency_ns"] / 1e3, "embedding_us": emb / 1e3, "mlp_us": mlp / 1e3,
            "other_us": (summary["latency_ns"] - emb - mlp) / 1e3}


def _miss_ns(result) -> float:
    c = result.counters
    sel = c["counter"] == "miss_latency_avg_ns"
    return float(c.loc[sel, "value"].sum()) if sel.any() else float("nan")


def compare(points: list[tuple[str, int, tuple[str, str], dict]]) -> pd.DataFrame:
    """One row per point: both fidelities' latency parts and their ratios."""
    rows = []
    for model, batch, system, trace in points:
        row = {"model": model, "batch": batch, "hw": system[0], "mapping": system[1],
               "trace": trace.get("dist", "shipped")}
        for fid in ("analytic", "detailed"):
            p = grid_point(model, batch, system, fid)
            if trace:
                p["trace"] = trace
            r = run_point(resolve_point(p))
            row.update({f"{fid}_{k}": v for k, v in _parts(r.summary).items()})
            row[f"{fid}_miss_ns"] = _miss_ns(r)
        for k in ("latency_us", "embedding_us", "mlp_us"):
            d = row[f"detailed_{k}"]
            row[f"ratio_{k.removesuffix('_us')}"] = row[f"analytic_{k}"] / d if d else float("nan")
        print(f"{model} b{batch} {system[0]}/{system[1]} {row['trace']}: analytic {row['analytic_latency_us']:.1f}"
              f" detailed {row['detailed_latency_us']:.1f} us ({row['ratio_latency']:.3f})", file=sys.stderr, flush=True)
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    ap.add_argument("--extra", action="store_true", help="also the cases off the main grid")
    ap.add_argument("-o", "--out", default=str(OUT))
    a = ap.parse_args()
    sizes = [int(b) for b in a.batch_sizes.split(",")]
    points = [(m, b, s, {}) for m in MODELS for b in sizes for s in (CPU_ONLY, CENTAUR)]
    if a.extra:
        points += [(m, b, s, {}) for m in MODELS for b in (1, 16, 128) for s in EXTRA_SYSTEMS]
        points += [(m, b, s, {"dist": "uniform"}) for m in ("rm1", "rm2") for b in (1, 16, 128)
                   for s in (CPU_ONLY, CENTAUR)]
    df = compare(points)
    write_text_atomic(Path(a.out), df.to_csv(index=False, float_format="%.6g"))
    off = df[(df["ratio_latency"] - 1).abs() > TOLERANCE]
    print(f"{len(df)} points, {len(off)} outside {TOLERANCE:.0%}; worst analytic/detailed "
          f"{df['ratio_latency'].min():.3f} .. {df['ratio_latency'].max():.3f}")
    cols = ["model", "batch", "hw", "mapping", "trace", "analytic_latency_us", "detailed_latency_us", "ratio_latency",
            "ratio_embedding", "ratio_mlp", "analytic_miss_ns", "detailed_miss_ns"]
    print(df[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
