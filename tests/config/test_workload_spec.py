import pytest

from accelsim.config.base import parse_model
from accelsim.config.workload import WORKLOADS_DIR, ModelSpec, load_workload
from accelsim.errors import InputError

SHIPPED = sorted(p.stem for p in WORKLOADS_DIR.glob("*.yaml"))


def test_all_reference_workloads_ship():
    assert set(SHIPPED) >= {"rm1", "rm2", "rm3", "dlrm_criteo_kaggle", "dlrm_criteo_terabyte",
                            "mlperf_dlrm", "mlperf_dlrm_dcnv2", "dlrm_benchmark"}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_workloads_load_and_cite(name):
    spec = load_workload(name)
    assert spec.source
    assert spec.num_tables == len(spec.table_list)


@pytest.mark.parametrize("name,gathered", [("rm1", 81_920), ("rm2", 983_040), ("rm3", 25_600)])
def test_deeprecsys_bytes_per_sample_match_reference(name, gathered):
    assert load_workload(name).bytes_gathered_per_sample == gathered


@pytest.mark.parametrize("name,top_in", [("dlrm_criteo_kaggle", 367), ("dlrm_criteo_terabyte", 415),
                                         ("mlperf_dlrm", 479)])
def test_dot_interaction_top_input_matches_reference(name, top_in):
    assert load_workload(name).top_input_width == top_in


def test_table_sizes_match_reference():
    assert load_workload("dlrm_criteo_kaggle").total_table_bytes == pytest.approx(2.16e9, rel=0.01)
    assert sum(t.rows for t in load_workload("mlperf_dlrm").table_list) == pytest.approx(187.8e6, rel=0.001)
    assert load_workload("mlperf_dlrm_dcnv2").total_table_bytes == pytest.approx(104.5e9, rel=0.001)
    assert load_workload("mlperf_dlrm_dcnv2").mean_lookups_per_sample == 214


BASE = dict(name="t", source="test", embedding_dim=4, tables=[{"rows": 10, "lookups_per_sample": 2}],
            bottom_mlp=[3, 4], top_mlp=[1])


@pytest.mark.parametrize("patch,needle", [
    ({"tables": [{"rows": -1, "lookups_per_sample": 2}]}, "tables.0.rows"),
    ({"embedding_dim_bytes": 4}, "embedding_dim_bytes: unknown key"),
    ({"bottom_mlp": [3, 5]}, "must equal embedding_dim"),
    ({"top_mlp": [2]}, "last width must be 1"),
    ({"interaction": "dcnv2"}, "dcnv2"),
])
def test_bad_specs_name_the_field(patch, needle):
    with pytest.raises(InputError, match=needle) as ei:
        parse_model(ModelSpec, {**BASE, **patch}, source="spec.yaml")
    assert str(ei.value).startswith("spec.yaml: ")


def test_missing_field_and_bad_yaml_name_the_file(tmp_path):
    p = tmp_path / "w.yaml"
    p.write_text("name: x\n")
    with pytest.raises(InputError, match=r"w.yaml: .*source: missing required field"):
        load_workload(str(p))
    p.write_text("name: [x\n")
    with pytest.raises(InputError, match=r"w.yaml: .*invalid YAML"):
        load_workload(str(p))
    with pytest.raises(InputError, match="unknown workload"):
        load_workload("no_such_model")


def test_spec_is_immutable():
    spec = load_workload("rm1")
    with pytest.raises(Exception):
        spec.embedding_dim = 3


def _spec(tables, **kw) -> ModelSpec:
    return parse_model(ModelSpec, {**BASE, "tables": tables, **kw}, source="spec.yaml")


def test_per_table_fields_default_to_the_model_level():
    spec = _spec([{"rows": 10, "lookups_per_sample": 2, "count": 2}], dtype="fp16", pooling="mean")
    assert [(t.name, t.dim, t.dtype, t.row_bytes, t.pooling, t.storage) for t in spec.table_list] == [
        ("table0", 4, "fp16", 8, "mean", 0), ("table1", 4, "fp16", 8, "mean", 1)]


def test_per_table_dim_dtype_pooling_set_row_bytes_and_widths():
    spec = _spec([{"rows": 10, "lookups_per_sample": 2, "name": "user", "dim": 16, "dtype": "int8", "pooling": "max"},
                  {"rows": 20, "lookups_per_sample": 3, "count": 2, "name": "item", "dtype": "bf16"}],
                 interaction="cat")
    user, i0, i1 = spec.table_list
    # an int8 row is FBGEMM's fused 8-bit row: 16 codes, then an fp32 scale and bias
    assert (user.name, user.dim, user.row_bytes, user.pooling) == ("user", 16, 24, "max")
    assert (i0.name, i1.name, i0.dim, i0.row_bytes, i0.pooling) == ("item[0]", "item[1]", 4, 8, "sum")
    assert spec.total_table_bytes == 10 * 24 + 2 * 20 * 8
    assert spec.bytes_gathered_per_sample == 2 * 24 + 2 * 3 * 8
    assert spec.top_input_width == 4 + 16 + 4 + 4  # cat sums the dims


def test_shared_with_reads_one_table_and_adds_no_storage():
    spec = _spec([{"rows": 10, "lookups_per_sample": 2, "name": "user", "dtype": "fp16"},
                  {"lookups_per_sample": 5, "count": 2, "shared_with": "user", "pooling": "max"}])
    t0, t1, t2 = spec.table_list
    assert (t1.storage, t2.storage, t1.rows, t1.row_bytes, t1.pooling) == (0, 0, 10, 8, "max")
    assert t0.owns_storage and not t1.owns_storage
    assert spec.total_table_bytes == 10 * 8
    assert spec.bytes_gathered_per_sample == (2 + 2 * 5) * 8
    assert spec.num_tables == 3  # three features in the trace and the interaction


def test_shared_with_target_may_come_later():
    spec = _spec([{"lookups_per_sample": 1, "shared_with": "later"},
                  {"rows": 7, "lookups_per_sample": 1, "name": "later"}])
    assert [t.storage for t in spec.table_list] == [1, 1] and spec.table_list[0].rows == 7


@pytest.mark.parametrize("tables,kw,needle", [
    ([{"rows": 10, "lookups_per_sample": 2, "dim": 8}], {},
     r"tables.0.dim: 8 differs from embedding_dim 4; .*'dot'"),
    ([{"lookups_per_sample": 2}], {}, "tables.0.rows: missing required field"),
    ([{"rows": 1, "lookups_per_sample": 1, "name": "a"}, {"rows": 1, "lookups_per_sample": 1, "name": "a"}], {},
     "tables.1.name: 'a' is already the name of tables.0"),
    ([{"rows": 1, "lookups_per_sample": 1, "shared_with": "zz"}], {},
     "tables.0.shared_with: no table group is named 'zz'"),
    ([{"rows": 1, "lookups_per_sample": 1, "name": "a", "shared_with": "a"}], {}, "cannot share its own rows"),
    ([{"rows": 1, "lookups_per_sample": 1, "name": "a", "count": 2}, {"lookups_per_sample": 1, "shared_with": "a"}],
     {}, "has count 2; a shared table must be one table"),
    ([{"rows": 1, "lookups_per_sample": 1, "name": "a"}, {"lookups_per_sample": 1, "name": "b", "shared_with": "a"},
      {"lookups_per_sample": 1, "shared_with": "b"}], {}, "'b' itself reads 'a'"),
    ([{"rows": 5, "lookups_per_sample": 1, "name": "a"}, {"rows": 6, "lookups_per_sample": 1, "shared_with": "a"}],
     {}, "tables.1.rows: 6 differs from 5 of 'a'"),
    ([{"rows": 5, "lookups_per_sample": 1, "name": "a"},
      {"lookups_per_sample": 1, "dtype": "int8", "shared_with": "a"}], {}, "tables.1.dtype: 'int8' differs from 'fp32'"),
    ([{"rows": 5, "lookups_per_sample": 1, "pooling": "avg"}], {}, "tables.0.pooling"),
])
def test_bad_per_table_fields_name_the_field(tables, kw, needle):
    with pytest.raises(InputError, match=needle):
        _spec(tables, **kw)


def test_shared_with_restating_the_target_layout_is_accepted():
    spec = _spec([{"rows": 5, "lookups_per_sample": 1, "name": "a"},
                  {"rows": 5, "lookups_per_sample": 1, "dim": 4, "dtype": "fp32", "shared_with": "a"}])
    assert spec.table_list[1].storage == 0


def test_per_table_spec_round_trips_through_yaml(tmp_path):
    from accelsim.config.base import to_yaml
    spec = _spec([{"rows": 10, "lookups_per_sample": 2, "name": "u", "dim": 8},
                  {"lookups_per_sample": 1, "shared_with": "u"}], interaction="cat")
    p = tmp_path / "w.yaml"
    p.write_text(to_yaml(spec))
    assert load_workload(str(p)) == spec


def _table(dim=16, dtype="fp32", rows=1000, compression=None, pooling="sum", lookups=4):
    spec = _spec([{"rows": rows, "lookups_per_sample": lookups, "dim": dim, "dtype": dtype, "pooling": pooling,
                   "compression": compression}], embedding_dim=dim, bottom_mlp=[3, dim])
    return spec.table_list[0]


@pytest.mark.parametrize("dtype,dim,row_bytes", [("fp32", 16, 64), ("fp16", 16, 32), ("bf16", 10, 20),
                                                  ("int8", 16, 16 + 8), ("int4", 16, 8 + 4), ("int4", 15, 8 + 4)])
def test_row_bytes_follow_fbgemm_rowwise_layouts(dtype, dim, row_bytes):
    t = _table(dim=dim, dtype=dtype)
    assert t.row_bytes == row_bytes == t.bytes_gathered_per_lookup
    assert t.size_bytes == 1000 * row_bytes
    assert t.extra_flops_per_lookup == (2 * dim if dtype.startswith("int") else 0)


@pytest.mark.parametrize("row_bytes,lines", [(64, 1.0), (128, 2.0), (16, 1.0), (24, 1.25), (12, 1.125), (72, 2.0), (100, 2.5)])
def test_lines_per_row_closed_form(row_bytes, lines):
    from accelsim.config.workload import lines_per_row
    assert lines_per_row(row_bytes, 64) == lines
    # brute force over a table's first lines-worth of row starts
    starts = [r * row_bytes for r in range(64)]
    assert lines == pytest.approx(sum((s + row_bytes - 1) // 64 - s // 64 + 1 for s in starts) / 64)


def test_qr_closed_forms():
    t = _table(rows=1000, compression={"scheme": "qr", "collisions": 8, "operation": "mult"})
    assert t.parts == ((125, 16), (8, 16))
    assert t.size_bytes == (125 + 8) * 64 and t.bytes_gathered_per_lookup == 128
    assert (t.extra_flops_per_lookup, t.extra_flops_per_bag) == (0, 16)  # one multiply per element per bag
    c = _table(rows=1001, compression={"scheme": "qr", "collisions": 8, "operation": "concat"})
    assert c.parts == ((126, 8), (8, 8)) and c.bytes_gathered_per_lookup == 64 and c.extra_flops_per_bag == 0


def test_md_hash_lowrank_tt_closed_forms():
    md = _table(rows=1000, compression={"scheme": "md", "dims": [8, 2], "block_rows": [100, 900]})
    assert md.size_bytes == (100 * 8 + 900 * 2) * 4 + (8 + 2) * 16 * 4
    assert md.bytes_gathered_per_lookup == pytest.approx(0.1 * 32 + 0.9 * 8)
    assert md.extra_flops_per_bag == 2 * (8 + 2) * 16
    h = _table(compression={"scheme": "hash", "hashes": 3, "hash_rows": 50})
    assert h.size_bytes == 50 * 64 and h.bytes_gathered_per_lookup == 3 * 64 and h.extra_flops_per_lookup == 2 * 16
    hc = _table(dim=12, compression={"scheme": "hash", "hashes": 3, "hash_rows": 50, "combine": "concat"})
    assert hc.bytes_gathered_per_lookup == 3 * 4 * 4 and hc.extra_flops_per_lookup == 0
    lr = _table(dtype="int8", compression={"scheme": "lowrank", "rank": 4})
    assert lr.size_bytes == 1000 * (4 + 8) + 4 * 16 * 4
    assert lr.extra_flops_per_lookup == 2 * 4 + 2 * 4 * 16  # dequantise 4 codes, then rebuild 16 elements
    tt = _table(rows=1000, compression={"scheme": "tt", "row_factors": [10, 10, 10], "dim_factors": [2, 2, 4],
                                        "ranks": [3, 5]})
    assert tt.parts == ((10, 1 * 2 * 3), (10, 3 * 2 * 5), (10, 5 * 4 * 1))
    assert tt.size_bytes == 10 * (6 + 30 + 20) * 4 and tt.bytes_gathered_per_lookup == (6 + 30 + 20) * 4
    # (2 x 3) @ (3 x 10) -> 4 x 5, then (4 x 5) @ (5 x 4) -> 16 x 1
    assert tt.extra_flops_per_lookup == 2 * 2 * 3 * 10 + 2 * 4 * 5 * 4


@pytest.mark.parametrize("compression,needle", [
    ({"scheme": "md", "dims": [4, 2], "block_rows": [10]}, "block_rows: 1 blocks for 2 dims"),
    ({"scheme": "md", "dims": [4], "block_rows": [10]}, "blocks hold 10 rows, the table has 1000"),
    ({"scheme": "qr", "collisions": 5000}, "collisions: 5000 exceeds"),
    ({"scheme": "hash", "hashes": 3, "hash_rows": 5, "combine": "concat"}, "divisible"),
    ({"scheme": "tt", "row_factors": [10, 10], "dim_factors": [4, 4], "ranks": [2]}, "covers fewer than the 1000"),
    ({"scheme": "tt", "row_factors": [10, 100], "dim_factors": [4, 2], "ranks": [2]}, "must equal the dim 16"),
    ({"scheme": "tt", "row_factors": [10, 100], "dim_factors": [4, 4], "ranks": []}, "need 2 dim_factors and 1 ranks"),
    ({"scheme": "zip"}, "compression"),
])
def test_bad_compression_names_the_field(compression, needle):
    with pytest.raises(InputError, match=needle):
        _table(compression=compression)
