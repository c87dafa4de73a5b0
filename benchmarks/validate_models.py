"""Run 6's measurements (benchmarks/validate/run6_rows.csv and the unseen grid's, kept as they were measured)
predicted by run 6's probed config as measured, with the page-walker limit measured at 08:35 the same morning
(walk_rate: 4.0 / 6.1 / 9.4 ns at 16 / 64 / 256 MiB), with the fork/join cost run 6's probe implies (14 us), and with the BLAS threading size measured at 09:55
(2 x 16 x 1024 x 1024 FLOPs: smaller Linears ran no faster on two threads), and with per-bag cycles measured at
10:30 (the L1 call of 512 bags x 50 took 65.6 us as in run 6's probe, 2048 bags x 1 32.2 us: 35.25 cycles a bag,
7.46 a lookup of which 2 are the model's SIMD adds).
Predictions only (no timing), so it runs on a loaded machine; the inputs are regenerated from the same seed.
Run from the repository root: PYTHONPATH=. python benchmarks/validate_models.py [-v]
"""
import argparse, sys, json, numpy as np, pandas as pd, yaml, copy
from accelsim.config.base import parse_model
from accelsim.config.system import SystemConfig
from accelsim.validate.grid import default_grid, load_grid
from accelsim.validate.measure import Measured, case_inputs
from accelsim.validate.predict import predict
from accelsim.probe.repeat import Timing
ROWS6 = 'benchmarks/validate/run6_rows.csv'; UNSEEN6 = 'benchmarks/validate/run6_unseen_rows.csv'
def cfg(d): return parse_model(SystemConfig, d, source="x")
ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("hw", nargs="?", default="benchmarks/validate/run6_probed_hw.yaml", help="run 6's probed config")
ap.add_argument("-v", action="store_true", help="every case's ratio under each config")
args = ap.parse_args()
base = yaml.safe_load(open(args.hw))
walk = copy.deepcopy(base); walk['cpu']['tlb']['page_walk_interval_table'] = [{"ws_bytes": 16<<20, "interval_ns": 4.0}, {"ws_bytes": 64<<20, "interval_ns": 6.1}, {"ws_bytes": 256<<20, "interval_ns": 9.4}]
region = copy.deepcopy(walk); region['cpu']['software']['parallel_region_ns'] = 14000.0
blas = copy.deepcopy(region); blas['cpu']['software']['gemm_parallel_min_flops'] = 33554432
bag = copy.deepcopy(blas); bag['cpu']['gather_cycles_per_bag'] = 35.25; bag['cpu']['gather_cycles_per_lookup'] = 5.464
configs = {"run6 probed": cfg(base), "+walkers": cfg(walk), "+walkers+fork/join": cfg(region),
           "+BLAS threading size": cfg(blas), "+per-bag cycles": cfg(bag)}
def meas(case):
    return Measured(Timing(1,0,1,True), 1.0, False, *case_inputs(case))
for gname, grid, rows in (("default", default_grid(), ROWS6), ("unseen", load_grid('benchmarks/validate/unseen_grid.yaml'), UNSEEN6)):
    r = pd.read_csv(rows)
    if 'model' in r: r = r[r.model == 'after']
    measured = dict(zip(r.case, r.measured_ms))
    res = {}
    for name, hw in configs.items():
        res[name] = {c.name: predict(hw, c, meas(c), "detailed") / 1e6 / measured[c.name] for c in grid.cases}
        e = np.abs(np.array(list(res[name].values())) - 1)
        print(gname, name, f"median {np.median(e):.1%} p90 {np.percentile(e,90):.1%}", flush=True)
    if args.v:
        for c in grid.cases:
            print(f"   {c.name:48} " + " ".join(f"{res[n][c.name]:5.2f}" for n in configs))
