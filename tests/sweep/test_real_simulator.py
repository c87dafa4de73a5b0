"""The shipped simulator through the sweep machinery: identical tables in-process and on a process pool."""

import pandas as pd

from accelsim.sweep import InProcessExecutor, ProcessExecutor, load_results, run_sweep

SPEC = {
    "name": "real_determinism",
    "base": {"hw": "harpv2_centaur", "workload": "rm1", "mapping": "centaur", "batch_size": 4,
             "fidelity": "detailed", "functional": True},
    "axes": [{"grid": {"hw.accelerator.sparse_engine.gather_units": [4, 16],
                       "mapping": ["centaur", "sparse_offload"]}}],
}


def test_detailed_points_are_bit_identical_across_executors(tmp_path):
    a = run_sweep(SPEC, tmp_path / "inproc", InProcessExecutor())
    b = run_sweep(SPEC, tmp_path / "pool", ProcessExecutor(2, chunk_size=1))
    assert a.done == b.done == 4
    ta, tb = (load_results(tmp_path / d).drop(columns="wall_time_s") for d in ("inproc", "pool"))
    pd.testing.assert_frame_equal(ta, tb, check_exact=True)
    assert ta["ctr_mean"].notna().all() and (ta["latency_ns"] > 0).all()
