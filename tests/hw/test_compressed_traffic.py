"""Compressed tables: simulated DRAM traffic of a gather equals the closed forms (uniform rows, no caches)."""

import pytest

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.sim.api import resolve_point, run_point

SCHEMES = {
    "none_fp32": ("fp32", None),
    "int8": ("int8", None),
    "int4": ("int4", None),
    "qr": ("fp32", {"scheme": "qr", "collisions": 1000}),
    "qr_concat_fp16": ("fp16", {"scheme": "qr", "collisions": 1000, "operation": "concat"}),
    "hash": ("fp32", {"scheme": "hash", "hashes": 3, "hash_rows": 200_000}),
    "md": ("fp32", {"scheme": "md", "dims": [16, 4], "block_rows": [100_000, 900_000]}),
    "tt": ("fp32", {"scheme": "tt", "row_factors": [100, 100, 100], "dim_factors": [2, 2, 4], "ranks": [4, 4]}),
    "lowrank": ("int8", {"scheme": "lowrank", "rank": 8}),
}


def _workload(dtype, compression):
    return {"name": "c", "source": "test", "embedding_dim": 16, "interaction": "cat",
            "tables": [{"rows": 1_000_000, "lookups_per_sample": 16, "dtype": dtype, "compression": compression}],
            "bottom_mlp": [13, 16], "top_mlp": [8, 1]}


def _embedding_counters(workload, mapping):
    hw = resolve_point(dict(hw="harpv2_centaur", workload=workload, mapping=mapping, batch_size=64))["hw"]
    hw["link_cache"] = None
    hw["cpu"]["caches"] = [{**c, "size_bytes": c["line_bytes"] * c["ways"]} for c in hw["cpu"]["caches"]]
    p = resolve_point(dict(hw=hw, workload=workload, mapping=mapping, batch_size=64, batches=1,
                           functional=False, trace={"dist": "uniform"}, seed=3))
    c = run_point(p).counters
    return c[c.component == "embedding"].groupby(["device", "counter"]).value.sum()


@pytest.mark.parametrize("name", SCHEMES)
def test_engine_dram_lines_match_closed_form(name):
    w = _workload(*SCHEMES[name])
    table = parse_model(ModelSpec, w).table_list[0]
    c = _embedding_counters(w, "centaur")
    lookups = c[("workload", "lookups")]
    assert c[("workload", "bytes_gathered")] == pytest.approx(lookups * table.bytes_gathered_per_lookup)
    row_lines = c[("sparse_engine", "lines")]
    # uniform rows over a large table: the simulated lines per lookup equal the closed form up to sampling
    assert row_lines / lookups == pytest.approx(table.lines_per_lookup(64), rel=0.05)
    index_lines = c[("sparse_engine", "index_bytes")] / 64
    merged = c[("sparse_engine", "merged_lines")]
    assert c[("dram", "bytes_read")] == pytest.approx((row_lines - merged + index_lines) * 64, rel=0.01)
    expected_flops = lookups * table.rebuild_flops_per_lookup + 64 * table.extra_flops_per_bag
    assert c.get(("dense_engine", "decompress_flops"), 0.0) == pytest.approx(expected_flops)
    assert c[("sparse_engine", "dequant_elems")] == (lookups * table.elements_read_per_lookup
                                                      if table.dtype.startswith("int") else 0)


@pytest.mark.parametrize("name", ["int8", "qr", "tt"])
def test_cpu_dram_lines_match_closed_form(name):
    w = _workload(*SCHEMES[name])
    table = parse_model(ModelSpec, w).table_list[0]
    c = _embedding_counters(w, "cpu_only")
    lookups = c[("workload", "lookups")]
    # tiny caches: only lines repeated back to back hit, which uniform rows over 1M rows almost never do
    assert c[("cpu", "lines")] / lookups == pytest.approx(table.lines_per_lookup(64), rel=0.05)
    assert c[("dram", "bytes_read")] / 64 / lookups == pytest.approx(table.lines_per_lookup(64), rel=0.1)


def test_narrow_rows_sharing_a_line_cost_it_once():
    # 64 int8 rows of 16 codes + scale and bias = 24 B each, 24 lines in all: a unit merges repeats in flight
    w = _workload("int8", None)
    w["tables"][0]["rows"] = 64
    c = _embedding_counters(w, "centaur")
    assert c[("sparse_engine", "merged_lines")] > 0.5 * c[("sparse_engine", "lines")]
    row_bytes_read = c[("dram", "bytes_read")] - c[("sparse_engine", "index_bytes")]
    assert row_bytes_read < 0.5 * c[("sparse_engine", "lines")] * 64
