"""The last validation run's measurements (benchmarks/validate/rows.csv, unseen/rows.csv) predicted by several
models: run 4's probed config (benchmarks/validate/run4_probed_hw.yaml, the model before the clock, bandwidth,
streamer and walk-table mechanisms), run 5's as probed, and run 5's with the streamer / interface limits off.
Predictions only (no timing), so it runs on a loaded machine; the inputs are regenerated from the same seed.
Run from the repository root: PYTHONPATH=. python benchmarks/validate_models.py
"""
import sys, json, numpy as np, pandas as pd, yaml
from accelsim.config.base import parse_model
from accelsim.config.system import SystemConfig, load_system
from accelsim.validate.grid import default_grid, load_grid, EmbeddingBagCase, DlrmCase, MlpCase
from accelsim.validate.measure import eb_spec, dlrm_spec, Measured
from accelsim.validate.predict import predict
from accelsim.workload.synth import synth_batches
from accelsim.workload.torch_model import generate_inputs
from accelsim.probe.repeat import Timing
def cfg(d): return parse_model(SystemConfig, d, source="x")
new = yaml.safe_load(open('benchmarks/validate/probed_hw.yaml'))
old = yaml.safe_load(open('benchmarks/validate/run4_probed_hw.yaml'))
nostream = yaml.safe_load(open('benchmarks/validate/probed_hw.yaml')); nostream['cpu']['stream_prefetch'] = False
nomech = yaml.safe_load(open('benchmarks/validate/probed_hw.yaml')); nomech['cpu']['stream_prefetch'] = False; nomech['cpu']['memory_core_read_gbps']=None
for c in nomech['cpu']['caches']: c.pop('core_read_gbps', None)
configs = {"run4_model": cfg(old), "new": cfg(new), "new_no_streamer": cfg(nostream), "new_no_bw_no_streamer": cfg(nomech)}
def meas(case):
    if isinstance(case, EmbeddingBagCase):
        spec = eb_spec(case); b = next(synth_batches(spec, dist=case.dist, batches=1, batch_size=case.batch, seed=0, alpha=case.alpha))
        return Measured(Timing(1,0,1,True), 1.0, False, b, spec)
    if isinstance(case, DlrmCase):
        spec = dlrm_spec(case); _, b = generate_inputs(spec, case.batch, 0, 0); return Measured(Timing(1,0,1,True), 1.0, False, b, spec)
    return Measured(Timing(1,0,1,True), 1.0, False)
out = {}
for gname, grid, rows in (("default", default_grid(), 'benchmarks/validate/rows.csv'), ("unseen", load_grid('benchmarks/validate/unseen_grid.yaml'), 'benchmarks/validate/unseen/rows.csv')):
    r = pd.read_csv(rows); 
    if 'model' in r: r = r[r.model == 'after']
    measured = dict(zip(r.case, r.measured_ms))
    for name, hw in configs.items():
        errs = []
        for case in grid.cases:
            p = predict(hw, case, meas(case), "detailed") / 1e6
            errs.append(abs(p / measured[case.name] - 1))
        e = np.array(errs); out[(gname, name)] = (np.median(e), np.percentile(e, 90))
        print(gname, name, f"median {np.median(e):.1%} p90 {np.percentile(e,90):.1%}", flush=True)
