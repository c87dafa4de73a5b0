"""Bit-for-bit guard for speed work: dump every table of a fixed set of points, or compare two dumps.

    python benchmarks/equality_points.py dump OUT.pkl [--quick]   # with PYTHONPATH at the tree to measure
    python benchmarks/equality_points.py compare A.pkl B.pkl

Run `dump` at the base commit (a `git worktree` of it) and at the changed tree; `compare` names every point
whose summary, stages, counters or energy differ in any bit. The set covers RM1-RM3 on both systems at several
batch sizes, the RM2 benchmark batch, the HBM chiplet, compressed and quantised tables, concurrent tables,
several batches with and without sharing, and a few analytic points.
"""

from __future__ import annotations

import argparse
import copy
import pickle
import sys
import time

import numpy as np
import pandas as pd

from accelsim.config.workload import resolve_workload_path
from accelsim.config.base import read_yaml
from accelsim.sim.api import resolve_point, run_point

SYSTEMS = (("broadwell_cpu_only", "cpu_only"), ("harpv2_centaur", "centaur"))
COMPRESSED = ({"dtype": "int8"}, {"dtype": "fp16"}, {"compression": {"scheme": "qr", "collisions": 4}},
              {"compression": {"scheme": "md", "dims": [16]}}, {"compression": {"scheme": "lowrank", "rank": 8}},
              {"compression": {"scheme": "tt", "row_factors": [160, 160, 160], "dim_factors": [2, 4, 4],
                               "ranks": [4, 4]}},
              {"compression": {"scheme": "hash", "hashes": 2, "hash_rows": 62500}})


def _point(hw: str, mapping: str, workload, batch_size: int, **kw) -> dict:
    return dict(hw=hw, workload=workload, mapping=mapping, batch_size=batch_size, functional=False, **kw)


def _compressed(change: dict) -> dict:
    spec = copy.deepcopy(read_yaml(resolve_workload_path("rm1")))
    spec["tables"][0].update(change)
    return spec


def points(quick: bool = False) -> dict[str, dict]:
    """Name -> point of the guarded set (`quick`: without the two RM2 batch-128 points)."""
    out: dict[str, dict] = {}
    for hw, m in SYSTEMS:
        for wl in ("rm1", "rm2", "rm3"):
            for bs in (1, 8, 32):
                out[f"{wl} {m} b{bs}"] = _point(hw, m, wl, bs)
        if not quick:
            out[f"rm2 {m} b128 trace"] = _point(hw, m, "rm2", 128, trace={"path": "workloads/traces/rm2.trace"})
        out[f"rm2 {m} b16 trace"] = _point(hw, m, "rm2", 16, trace={"path": "workloads/traces/rm2.trace"})
        out[f"rm1 {m} b4 x3 batches"] = _point(hw, m, "rm1", 4, batches=3)
        out[f"rm1 {m} b4 x3 batches unshared"] = _point(hw, m, "rm1", 4, batches=3, sharing=False)
        out[f"rm2 {m} b8 x2 batches"] = _point(hw, m, "rm2", 8, batches=2)
        out[f"rm3 {m} b16 x2 batches uniform"] = _point(hw, m, "rm3", 16, batches=2, trace={"dist": "uniform"})
        for i, change in enumerate(COMPRESSED):
            out[f"rm1 {m} b4 compressed {i} {change}"] = _point(hw, m, _compressed(change), 4,
                                                              trace={"dist": "uniform"})
        for fid_bs in (8, 128):
            out[f"rm2 {m} b{fid_bs} analytic"] = _point(hw, m, "rm2", fid_bs, fidelity="analytic")
    out["rm1 spr b8"] = _point("spr_hbm_ucie_chiplet", "centaur", "rm1", 8)
    out["rm2 spr b16 x2 batches"] = _point("spr_hbm_ucie_chiplet", "centaur", "rm2", 16, batches=2)
    out["rm2 spr cpu_only b8"] = _point("spr_hbm_ucie_chiplet", "cpu_only", "rm2", 8)
    out["rm1 sparse_offload b8"] = _point("harpv2_centaur", "sparse_offload", "rm1", 8)
    out["rm1 dense_offload b8"] = _point("harpv2_centaur", "dense_offload", "rm1", 8)
    for tables, threads in (("concurrent", 1), ("sequential", None)):
        p = resolve_point(_point("broadwell_cpu_only", "cpu_only", "rm2", 8))
        p["hw"]["cpu"]["software"].update(embedding_tables=tables, embedding_threads=threads)
        out[f"rm2 cpu_only b8 {tables} tables threads {threads}"] = p
    return out


def dump(path: str, quick: bool) -> None:
    """Run every point and pickle its summary and tables."""
    res = {}
    for name, p in points(quick).items():
        t = time.perf_counter()
        r = run_point(resolve_point(p))
        summary = {k: v for k, v in r.summary.items() if k != "version"}
        res[name] = dict(summary=summary, stages=r.stages, counters=r.counters, energy=r.energy,
                         passes=r.stages.attrs.get("sharing_passes"))
        print(f"{time.perf_counter() - t:7.2f} s  {name}", flush=True)
    with open(path, "wb") as f:
        pickle.dump(res, f)


def _same_frame(a: pd.DataFrame, b: pd.DataFrame) -> str:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return f"shape/columns {a.shape} {list(a.columns)} vs {b.shape} {list(b.columns)}"
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype != y.dtype:
            return f"column {c} dtype {x.dtype} vs {y.dtype}"
        if x.dtype.kind == "f":
            if not np.array_equal(x.view(np.int64), y.view(np.int64)):
                i = int(np.flatnonzero(x.view(np.int64) != y.view(np.int64))[0])
                return f"column {c} row {i}: {x[i]!r} vs {y[i]!r}"
        elif not (x == y).all():
            i = int(np.flatnonzero(x != y)[0])
            return f"column {c} row {i}: {x[i]!r} vs {y[i]!r}"
    return ""


def compare(a_path: str, b_path: str) -> int:
    """Print every difference; exit status 1 if any."""
    with open(a_path, "rb") as f:
        a = pickle.load(f)
    with open(b_path, "rb") as f:
        b = pickle.load(f)
    bad = 0
    for name in a:
        if name not in b:
            print(f"MISSING {name}")
            bad += 1
            continue
        diffs = []
        sa, sb = a[name]["summary"], b[name]["summary"]
        for k in sorted(set(sa) | set(sb)):
            va, vb = sa.get(k), sb.get(k)
            if not (va == vb or (isinstance(va, float) and isinstance(vb, float) and np.isnan(va) and np.isnan(vb))):
                diffs.append(f"summary {k}: {va!r} vs {vb!r}")
        for t in ("stages", "counters", "energy"):
            if d := _same_frame(a[name][t], b[name][t]):
                diffs.append(f"{t}: {d}")
        if a[name]["passes"] != b[name]["passes"]:
            diffs.append(f"sharing passes {a[name]['passes']} vs {b[name]['passes']}")
        if diffs:
            bad += 1
            print(f"DIFF {name}\n  " + "\n  ".join(diffs[:8]))
    print(f"{len(a) - bad}/{len(a)} points bit-identical")
    return 1 if bad else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="run the points with this tree and pickle every table")
    d.add_argument("out", help="the pickle to write")
    d.add_argument("--quick", action="store_true", help="a smaller set of points")
    c = sub.add_parser("compare", help="name every point whose tables differ in any bit")
    c.add_argument("a")
    c.add_argument("b")
    args = ap.parse_args()
    if args.command == "dump":
        dump(args.out, args.quick)
    else:
        sys.exit(compare(args.a, args.b))
