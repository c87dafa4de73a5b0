"""The CPU model's time for a validation case, on a given hardware config with the case's thread count.

The thread count becomes the model's core count and the software profile's threads (a one-thread torch call is
one core of the machine). Embedding and DLRM cases replay their batch twice and report the second replay: the
measured runs are warm too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


from accelsim.config.base import parse_model
from accelsim.config.system import SystemConfig
from accelsim.validate.grid import DlrmCase, EmbeddingBagCase, MlpCase
from accelsim.validate.measure import Measured


def with_threads(hw: SystemConfig, threads: int) -> SystemConfig:
    """The machine restricted to `threads` cores (a torch call with that many threads)."""
    d = hw.model_dump(mode="json")
    d["cpu"]["cores"] = min(threads, hw.cpu.cores)
    return parse_model(SystemConfig, d, source=f"{hw.name} with {threads} threads")


def predict(hw: SystemConfig, case, measured: Measured, fidelity: str = "detailed") -> float:
    """Predicted ns of one case."""
    hw = with_threads(hw, case.threads)
    if isinstance(case, EmbeddingBagCase):
        return _embedding_bag(hw, case, measured, fidelity)
    if isinstance(case, MlpCase):
        from accelsim.hw.cpu import Cpu
        cpu = Cpu(hw.cpu)
        return float(sum(cpu.gemm(case.batch, a, b).time_ns for a, b in zip(case.widths[:-1], case.widths[1:])))
    return _dlrm(hw, case, measured, fidelity)


def _embedding_bag(hw: SystemConfig, case: EmbeddingBagCase, measured: Measured, fidelity: str) -> float:
    from accelsim.sim.machine import Machine
    from accelsim.hw.lookups import plain_tables
    m = Machine(hw, fidelity)
    spec, layout = plain_tables(case.rows, case.dim)
    for _ in range(2):
        g = m.cpu.gather(measured.batch, spec, layout, m.dram, analytic=fidelity == "analytic")
    return float(g.time_ns)


def _dlrm(hw: SystemConfig, case: DlrmCase, measured: Measured, fidelity: str) -> float:
    from accelsim.sim.api import resolve_point, run_point
    from accelsim.workload.trace import TraceWriter
    spec = measured.spec
    with tempfile.TemporaryDirectory(prefix="accelsim-validate-") as tmp:
        path = Path(tmp) / "twice.trace"
        with TraceWriter(path, source="accelsim validate", table_rows=[t.rows for t in spec.table_list],
                         spec=spec) as w:
            w.write(measured.batch)
            w.write(measured.batch)
        r = run_point(resolve_point({
            "hw": hw.model_dump(mode="json"), "workload": spec.model_dump(mode="json"), "mapping": "cpu_only",
            "batch_size": case.batch, "batches": 2, "fidelity": fidelity, "trace": {"path": str(path)},
            "functional": False}))
    st = r.stages[r.stages["batch"] == 1]
    return float(st["end_ns"].max() - st["start_ns"].min())
