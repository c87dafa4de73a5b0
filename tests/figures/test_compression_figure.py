"""The compression figure's table: schemes named from the sweep columns, Pareto fronts per machine and model."""

import json

import pandas as pd

from accelsim.figures.compression import compression_figure, compression_table


def test_table_marks_the_front_and_names_schemes():
    df = pd.DataFrame({
        "status": ["ok"] * 4, "hw": ["harpv2_centaur"] * 4, "workload": ["rm1"] * 4,
        "table_bytes": [4e9, 1e9, 1e8, 2e9], "latency_ns": [100.0, 120.0, 500.0, 150.0],
        "energy_per_inference_uj": [1.0, 1.1, 9.0, 1.2],
        "workload.tables.0.dtype": [None, "int8", None, None],
        "workload.tables.0.compression": [None, None, json.dumps({"scheme": "qr", "collisions": 4}),
                                          {"scheme": "md", "dims": [4]}]})
    t = compression_table(df)
    assert t["scheme"].tolist() == ["qr", "int8", "md", "fp32"]  # sorted by table memory
    assert t["pareto_latency"].tolist() == [True, True, False, True]
    assert compression_figure(t).axes
