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
