"""Expansion: axis products, zip, random samples, filters, path errors, resolver rejections, hashing."""

import json
import random
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

import sweep_fixtures as fx
from accelsim.errors import InputError
from accelsim.sweep import expand, load_spec, point_hash
from accelsim.sweep.expand import get_path, with_path

BW = "hw.links.channels.0.bandwidth_gbps"
UNITS = "hw.accelerator.sparse_engine.gather_units"


def points_of(**overrides):
    return expand(load_spec(fx.spec(**overrides))[0], allow_code=True)


def test_grid_sizes_multiply_and_the_first_axis_is_outermost():
    pts = points_of()
    assert len(pts) == 3 * 2 * 2
    assert [tuple(p.params.values()) for p in pts[:5]] == [
        (8, 4, 16, "tiny"), (8, 4, 64, "wide"), (8, 8, 16, "tiny"), (8, 8, 64, "wide"), (16, 4, 16, "tiny")]
    p = pts[1]
    assert p.config["workload"] == fx.workload("wide")  # a name placed by an axis is resolved
    assert (get_path(p.config, BW), get_path(p.config, UNITS), p.config["batch_size"]) == (8.0, 4, 64)
    assert p.hash == point_hash(p.config) and p.error_type is None
    assert points_of() == pts  # deterministic


def test_no_axes_is_the_base_point():
    (p,) = points_of(axes=[])
    assert p.params == {} and p.config == fx.resolve({"hw": "toy_centaur", "workload": "tiny", "batch_size": 32})


def test_zip_lengths_must_match():
    with pytest.raises(InputError, match="zip: lists differ in length"):
        points_of(axes=[{"zip": {"batch_size": [1, 2, 3], "workload": ["tiny"]}}])


@given(seed=st.integers(0, 2**32 - 1))
def test_random_samples_are_deterministic_per_seed_and_inside_their_ranges(seed):
    axis = {"random": {"samples": 6, "seed": seed, "params": {
        BW: {"dist": "loguniform", "low": 2, "high": 64},
        UNITS: {"dist": "uniform", "low": 1, "high": 16, "integer": True},
        "workload": {"dist": "choice", "values": ["tiny", "wide"]}}}}
    a, b = points_of(axes=[axis]), points_of(axes=[axis])
    assert [p.params for p in a] == [p.params for p in b]
    for p in a:
        assert 2 <= p.params[BW] <= 64 and type(p.params[BW]) is float
        assert 1 <= p.params[UNITS] <= 16 and type(p.params[UNITS]) is int
        assert p.params["workload"] in ("tiny", "wide")
    other = points_of(axes=[{"random": {**axis["random"], "seed": seed + 1}}])
    assert [p.params[BW] for p in other] != [p.params[BW] for p in a]


def test_filters_drop_points_on_swept_and_resolved_values():
    assert len(points_of(filters=["batch_size <= 16"])) == 6
    assert len(points_of(filters=[{"path": BW, "op": "in", "value": [8, 32]}, "workload != wide"])) == 4
    assert points_of(filters=["hw.dram_gbps > 100"]) == []  # a resolved value nobody sweeps
    with pytest.raises(InputError, match="path hw.dram_gb: no key 'dram_gb' in hw"):
        points_of(filters=["hw.dram_gb > 100"])


def test_a_filter_on_a_swept_value_drops_combinations_before_they_are_built():
    pts = points_of(axes=[{"grid": {"hw": ["toy_centaur", "toy_cpu"], UNITS: [4, 8]}}],
                    filters=["hw == toy_centaur"])
    assert [p.params[UNITS] for p in pts] == [4, 8]


@pytest.mark.parametrize("path, message", [
    ("hw.links.channels.0.bandwith_gbps",
     "no key 'bandwith_gbps' in hw.links.channels.0 (it has: name, bandwidth_gbps"),
    ("hw.links.channels.5.bandwidth_gbps", "hw.links.channels is a list of 2; '5' is not an index"),
    ("hw.dram_gbps.peak", "hw.dram_gbps is the value 76.8, not a section"),
    ("batch", "no key 'batch' in the point"),
])
def test_an_unknown_dotted_path_is_an_input_error_naming_it(path, message):
    with pytest.raises(InputError, match=path.replace(".", r"\.")) as err:
        points_of(axes=[{"grid": {path: [1]}}])
    assert message in str(err.value) and "<sweep spec>" in str(err.value)


def test_with_path_copies_only_the_path_and_never_creates_keys():
    base = {"a": {"b": [1, {"c": 2}]}, "d": {"e": 3}}
    out = with_path(base, "a.b.1.c", 9)
    assert out == {"a": {"b": [1, {"c": 9}]}, "d": {"e": 3}} and base["a"]["b"][1]["c"] == 2
    assert out["d"] is base["d"]
    with pytest.raises(InputError):
        with_path(base, "a.x", 1)


def test_a_name_placed_by_an_axis_is_resolved_before_deeper_paths_are_set():
    pts = points_of(axes=[{"points": [{"hw": "toy_centaur", BW: 99}]}])
    assert get_path(pts[0].config, BW) == 99.0


def test_points_the_resolver_rejects_are_kept_with_their_error():
    pts = points_of(axes=[{"grid": {UNITS: [8, 32, 0]}}])
    assert [p.error_type for p in pts] == [None, "DoesNotFit", "InputError"]
    assert "sparse engine needs 131072 B of SRAM" in pts[1].error_message
    assert get_path(pts[1].config, UNITS) == 32  # the point as it was asked for


def test_the_base_must_resolve():
    with pytest.raises(InputError, match="base: hw: unknown hardware 'nope'"):
        points_of(base={"hw": "nope", "workload": "tiny"})


def test_points_with_the_same_resolved_config_run_once():
    pts = points_of(axes=[{"grid": {BW: [8, 8.0, 16]}}])  # the resolver makes 8 and 8.0 the same float
    assert [p.params[BW] for p in pts] == [8, 16]


@given(st.data())
def test_hash_ignores_key_order(data):
    config = fx.resolve({"hw": "toy_centaur", "workload": "wide"})
    rng = random.Random(data.draw(st.integers(0, 10**6)))

    def shuffled(obj):
        if isinstance(obj, dict):
            items = list(obj.items())
            rng.shuffle(items)
            return {k: shuffled(v) for k, v in items}
        return [shuffled(v) for v in obj] if isinstance(obj, list) else obj

    assert point_hash(shuffled(config)) == point_hash(config)
    assert point_hash({**config, "seed": 1}) != point_hash(config)


def test_hash_is_stable_across_processes():
    config = fx.resolve({"hw": "toy_centaur", "workload": "wide"})
    code = ("import json, sys; from accelsim.sweep.hashing import point_hash; "
            "print(point_hash(json.loads(sys.stdin.read())))")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], input=json.dumps(config), capture_output=True, text=True,
                             check=True, env={"PYTHONHASHSEED": seed})
        assert out.stdout.strip() == point_hash(config)
    assert len(point_hash(config)) == 16


def test_a_section_replaced_by_an_axis_is_resolved_before_a_field_inside_it_is_set():
    pts = points_of(axes=[{"grid": {"hw": [{**fx.hardware("toy_centaur"), "links": {"channels": [
        {"name": "ucie", "bandwidth_gbps": 64}]}}], BW: [1, 2]}}])
    assert [get_path(p.config, "hw.links.channels") for p in pts] == [
        [{"name": "ucie", "bandwidth_gbps": 1.0}], [{"name": "ucie", "bandwidth_gbps": 2.0}]]
    with pytest.raises(InputError, match="no key 'latency_ns'"):
        points_of(axes=[{"grid": {"hw.links.channels.0": [{"name": "x", "bandwidth_gbps": 1}]}},
                        {"grid": {"hw.links.channels.0.latency_ns": [1]}}])


@pytest.mark.parametrize("name, count", [("link_bw_x_gather_units_x_cache", 60),
                                         ("systolic_shape_x_dataflow_x_batch", 60),
                                         ("dram_standard_x_channels", 16), ("cpu_vs_centaur_rm1_rm3", 30)])
def test_shipped_sweeps_expand_against_the_real_config_schema(name, count):
    path = fx.TESTS_DIR.parent / "sweeps" / f"{name}.yaml"
    pts = expand(load_spec(path)[0], source=str(path), allow_code=True)
    assert len(pts) == count and all(p.error_type is None for p in pts)
    for p in pts:  # every swept value landed where its path says
        for path_, value in p.params.items():
            if not isinstance(value, (str, dict)):
                assert get_path(p.config, path_) == value


def test_a_named_section_is_resolved_once_per_sweep():
    named = []

    def counting(point):
        named.append(isinstance(point.get("workload"), str))
        return fx.resolve(point)

    spec = load_spec(fx.spec(axes=[{"grid": {"workload": ["tiny", "wide"], "batch_size": list(range(1, 11))}}]))[0]
    pts = expand(spec, resolver=counting)
    assert len(pts) == 20 and sum(named) == 1 + 2  # the base, then each name once
    assert [p.config["workload"]["name"] for p in pts[::10]] == ["tiny", "wide"]
