"""Serving figures draw what their tables hold, and name fidelity and SLA."""

import pandas as pd

from accelsim.figures.serving import qps_at_sla_figure, serving_latency_figure, serving_table
from accelsim.figures.style import save_figure


def test_serving_figures_from_measured_tables(tmp_path):
    t = serving_table(["rm1"], "analytic", qps_grid=(1000.0, 100_000.0))
    assert set(t["system"]) == {"CPU-only", "Centaur"}
    assert (t.groupby("system")["p99_ms"].apply(lambda s: s.is_monotonic_increasing)).all()
    fig = serving_latency_figure(t)
    assert "analytic" in fig._suptitle.get_text()
    sla = pd.DataFrame({"model": ["rm1", "rm1"], "system": ["CPU-only", "Centaur"], "fidelity": "analytic",
                        "sla_p99_ms": 5.0, "max_qps": [100.0, 200.0]})
    bars = qps_at_sla_figure(sla)
    assert [round(p.get_height()) for p in bars.axes[0].patches] == [100, 200]
    assert save_figure(bars, tmp_path, "h")[1].exists()
