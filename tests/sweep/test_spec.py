"""Sweep spec schema: axis kinds, filters, references, round trip."""

import pytest
import yaml

import sweep_fixtures as fx
from accelsim.errors import InputError
from accelsim.sweep.spec import (BUILTIN_REFS, DEFAULT_RESOLVER, DEFAULT_RUNNER, Filter, SweepSpec, load_callable,
                                 load_spec, plugins, spec_yaml, vetted_ref)


def test_minimal_spec_takes_the_simulator_as_default_runner_and_resolver():
    spec, source = load_spec({"name": "s", "base": {"hw": "x"}})
    assert (spec.runner, spec.resolver, spec.axes, spec.filters) == (DEFAULT_RUNNER, DEFAULT_RESOLVER, [], [])
    assert source == "<sweep spec>"


@pytest.mark.parametrize("axis, message", [
    ({"zip": {"a": [1, 2], "b": [1]}}, "zip: lists differ in length: a has 2, b has 1"),
    ({"grid": {"a": [1]}, "zip": {"b": [1]}}, "exactly one of grid, zip, points, random"),
    ({}, "exactly one of grid, zip, points, random"),
    ({"grid": {"a": []}}, "axes.0.grid.a"),
    ({"grid": {"a..b": [1]}}, "not a dotted path: 'a..b'"),
    ({"points": []}, "axes.0.points"),
    ({"random": {"samples": 3, "params": {"x": {"dist": "loguniform", "low": 0, "high": 4}}}}, "low > 0"),
    ({"random": {"samples": 3, "params": {"x": {"dist": "uniform", "low": 4, "high": 4}}}}, "low < high"),
    ({"random": {"samples": 3, "params": {"x": {"dist": "choice"}}}}, "non-empty `values`"),
    ({"random": {"samples": 3, "params": {"x": {"dist": "normal", "low": 1, "high": 2}}}}, "dist"),
])
def test_bad_axes_are_input_errors_naming_the_problem(axis, message):
    with pytest.raises(InputError, match="axes.0") as err:
        load_spec({"name": "s", "base": {}, "axes": [axis]})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_path_swept_by_two_axes_is_rejected():
    with pytest.raises(InputError, match="path a is already swept by axes.0"):
        load_spec({"name": "s", "base": {}, "axes": [{"grid": {"a": [1]}}, {"points": [{"a": 2}]}]})


@pytest.mark.parametrize("text, path, op, value", [
    ("batch_size <= 64", "batch_size", "<=", 64),
    ("hw.links.channels.0.bandwidth_gbps>8.5", "hw.links.channels.0.bandwidth_gbps", ">", 8.5),
    ("workload == rm1", "workload", "==", "rm1"),
    ("workload in [rm1, rm3]", "workload", "in", ["rm1", "rm3"]),
    ("batch_size not  in [1, 2]", "batch_size", "not in", [1, 2]),
])
def test_filter_strings_read_as_path_op_value(text, path, op, value):
    f = Filter.model_validate(text)
    assert (f.path, f.op, f.value) == (path, op, value)


@pytest.mark.parametrize("text", ["batch_size ~ 3", "__import__('os') == 1", "batch_size in 3", "a.b <= [1"])
def test_filters_that_are_not_a_simple_comparison_are_rejected(text):
    with pytest.raises(InputError, match="filters.0"):
        load_spec({"name": "s", "base": {}, "filters": [text]})


def test_filter_comparisons_and_type_mismatch():
    f = Filter(path="batch_size", op="<=", value=64)
    assert f.keeps(64) and not f.keeps(65)
    assert Filter(path="w", op="not in", value=["a"]).keeps("b")
    with pytest.raises(InputError, match="cannot compare with 'rm1'"):
        f.keeps("rm1")


def test_references_must_be_module_colon_function_and_importable():
    with pytest.raises(InputError, match="runner: Value error, expected 'module:function' or a plugin name"):
        load_spec({"name": "s", "base": {}, "runner": "no colon"})
    with pytest.raises(InputError, match="resolver: cannot import 'nowhere_xyz:f'"):
        load_callable("nowhere_xyz:f", field="resolver")
    with pytest.raises(InputError, match="cannot import 'sweep_fixtures:nope'"):
        load_callable("sweep_fixtures:nope", field="runner")
    assert load_callable(fx.RUNNER, field="runner") is fx.run


def test_spec_yaml_round_trips(tmp_path):
    spec, _ = load_spec(fx.spec(filters=["batch_size <= 32"], axes=[
        {"random": {"samples": 4, "seed": 7, "params": {"batch_size": {"dist": "loguniform", "low": 1, "high": 256,
                                                                       "integer": True}}}},
        {"points": [{"workload": "tiny"}, {"workload": "wide"}]}]))
    path = tmp_path / "again.yaml"
    path.write_text(spec_yaml(spec))
    assert load_spec(path)[0] == spec
    assert yaml.safe_load(path.read_text())["filters"] == [{"path": "batch_size", "op": "<=", "value": 32}]


def test_spec_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: s\nbase: {}\naxes:\n  - grid: {a: [1]}\n    colour: red\n")
    with pytest.raises(InputError, match=r"bad.yaml: axes.0.colour: unknown key"):
        load_spec(path)
    assert isinstance(load_spec(fx.spec())[0], SweepSpec)


@pytest.mark.parametrize("role, ref", [("runner", "subprocess:run"), ("resolver", "os:system"),
                                       ("runner", "sweep_fixtures:run")])
def test_a_sweep_file_runs_no_foreign_code_unless_allowed(role, ref):
    with pytest.raises(InputError, match=f"spec.yaml: {role}: '{ref}' is neither accelsim's {role} nor a "
                                         f"registered plugin .*only with --allow-code"):
        vetted_ref(ref, role, allow_code=False, field=f"spec.yaml: {role}")
    assert vetted_ref(ref, role, allow_code=True, field=role) == ref
    assert vetted_ref(BUILTIN_REFS[role][0], role, allow_code=False, field=role) == BUILTIN_REFS[role][0]


def test_plugins_registered_as_entry_points_are_accepted(tmp_path, monkeypatch):
    dist = tmp_path / "toyplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[accelsim.runners]\ntoy = sweep_fixtures:run\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert plugins("runner") == {"toy": "sweep_fixtures:run"}
    assert vetted_ref("toy", "runner", allow_code=False, field="runner") == "sweep_fixtures:run"
    assert vetted_ref("sweep_fixtures:run", "runner", allow_code=False, field="runner") == "sweep_fixtures:run"
    with pytest.raises(InputError, match="no resolver plugin named 'toy'"):
        vetted_ref("toy", "resolver", allow_code=False, field="resolver")
