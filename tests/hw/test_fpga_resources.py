import copy

import pytest

from accelsim.config.accel import AcceleratorConfig
from accelsim.config.base import parse_model
from accelsim.errors import InputError
from accelsim.hw.fpga_resources import ResourceOverflow, ResourceUse, check_fits, m20k_blocks, resource_usage

KIB = 1024


def accel_dict() -> dict:
    return {
        "clock_ghz": 0.4,
        "logic_overhead_alms": 100_000,
        "logic_overhead_m20k_blocks": 60,
        "sources": {"logic_overhead_alms": "ASSUMPTION (test)", "logic_overhead_m20k_blocks": "ASSUMPTION (test)"},
        "device": {
            "name": "Arria 10 GX1150", "dsp_blocks": 1518, "m20k_blocks": 2713, "m20k_bits": 20480,
            "m20k_max_width_bits": 40, "alms": 427_200,
            "sources": {"*": "Intel 683461 (Arria 10 core fabric handbook)"},
        },
        "dense_engine": {
            "rows": 32, "cols": 16, "dataflow": "os", "precision": "fp32",
            "dsp_per_pe": 1.0,
            "ifmap_buffer_bytes": 64 * KIB, "filter_buffer_bytes": 16 * KIB, "ofmap_buffer_bytes": 16 * KIB,
            "offchip_port_bytes_per_cycle": 64, "alms_per_pe": 100,
        },
        "sparse_engine": {
            "gather_units": 4, "outstanding_per_unit": 256, "request_lines": 4, "line_bytes": 64,
            "reduce_lanes": 16, "dsp_per_reduce_lane": 1.0, "hot_cache_bytes": 2048 * KIB,
            "hot_cache_kind": "cache", "physical_address_bits": 46, "index_fifo_bytes": 4 * KIB,
            "alms_per_gather_unit": 5000,
        },
    }


def build(d: dict) -> AcceleratorConfig:
    return parse_model(AcceleratorConfig, d, source="test")


def with_value(path: str, value) -> dict:
    d = copy.deepcopy(accel_dict())
    *parents, leaf = path.split(".")
    node = d
    for p in parents:
        node = node[p]
    node[leaf] = value
    return d


def test_hand_computed_usage():
    r = resource_usage(build(accel_dict()))
    # dense 32x16 fp32 OS: 512 DSP. ifmap port 32 x 32 bit = 1024 b -> 26 banks of 40 b x 512 words;
    # 64 KiB = 512 words of 1024 b -> 26 blocks. filter port 16 x 32 = 512 b -> 13 banks; 16 KiB = 256 words
    # -> 13 blocks. ofmap port 512 b, 16 KiB -> 13 blocks.
    assert r.parts["dense"] == ResourceUse(dsp_blocks=512, m20k_blocks=26 + 13 + 13, alms=512 * 100)
    # sparse: 4 units x 16 adders = 64 DSP. Per unit: index FIFO 4 KiB = 64 lines of 512 b -> 13 blocks;
    # responses 256 x 4 lines = 1024 lines -> 13 banks x 2 deep = 26. Hot store 2 MiB = 32768 lines ->
    # 13 x 64 = 832. Tags: 46 - 15 index - 6 offset + 1 valid = 26 b, in 512x40 mode -> 64 blocks.
    assert r.parts["sparse"] == ResourceUse(dsp_blocks=64, m20k_blocks=4 * (13 + 26) + 832 + 64, alms=20_000)
    assert r.parts["shell"] == ResourceUse(m20k_blocks=60, alms=100_000)
    assert r.total == ResourceUse(576, 52 + 1052 + 60, 51_200 + 20_000 + 100_000)
    assert r.utilisation["dsp"] == pytest.approx(576 / 1518)
    assert r.utilisation["m20k"] == pytest.approx(1164 / 2713)
    assert r.utilisation["alm"] == pytest.approx(171_200 / 427_200)
    assert r.device_name == "Arria 10 GX1150"
    check_fits(r, build(accel_dict()).device)


@pytest.mark.parametrize("precision, dsp_per_pe, dsp", [("fp32", 1.0, 1024), ("fp16", 1.0, 1024), ("int8", 0.5, 512)])
def test_square_array_dsp_cost_by_precision(precision, dsp_per_pe, dsp):
    d = accel_dict()
    d["dense_engine"] |= {"rows": 32, "cols": 32, "precision": precision, "dsp_per_pe": dsp_per_pe}
    assert resource_usage(build(d)).parts["dense"].dsp_blocks == dsp


@pytest.mark.parametrize("capacity_bits, port_bits, blocks", [
    (20480, 40, 1), (20481, 40, 2), (1, 40, 1),
    (8 * KIB * 8, 1024, 26),  # small but wide: still a full row of 26 banks
    (64 * KIB * 8, 1024, 26), (128 * KIB * 8, 1024, 52),
    (20480, 20, 1), (20480, 16, 2),  # x20 holds 1K words; x16 also only 1K words (no parity bits used)
    (20480 * 3, 32, 4),  # 1920 words of 32 b in 512x32 blocks
    (16384, 1, 1), (16385, 1, 2), (3 * 4096, 3, 1),  # 16Kx1; a 3-bit port uses the 4Kx4 mode
    (2048, 41, 2),  # 41 b: two banks
    (0, 40, 0),
])
def test_m20k_blocks(capacity_bits, port_bits, blocks):
    assert m20k_blocks(capacity_bits, port_bits, build(accel_dict()).device) == blocks


def test_scratchpad_needs_no_tags_and_no_store_needs_nothing():
    full = resource_usage(build(accel_dict())).parts["sparse"].m20k_blocks
    pad = resource_usage(build(with_value("sparse_engine.hot_cache_kind", "scratchpad"))).parts["sparse"]
    assert full - pad.m20k_blocks == 64
    none = resource_usage(build(with_value("sparse_engine.hot_cache_bytes", 0))).parts["sparse"]
    assert none.m20k_blocks == 4 * (13 + 26)


def test_overflow_names_the_resource_and_the_excess():
    d = accel_dict()
    del d["sparse_engine"]
    d["dense_engine"] |= {"rows": 40, "cols": 40}
    accel = build(d)
    with pytest.raises(ResourceOverflow) as err:
        check_fits(resource_usage(accel), accel.device)
    assert str(err.value) == "design does not fit Arria 10 GX1150: DSP: needs 1,600 of 1,518 (+82, 105.4%)"
    assert isinstance(err.value, InputError)


def test_overflow_lists_every_resource_that_overflows():
    d = with_value("device.m20k_blocks", 100)
    d["device"]["alms"] = 1000
    accel = build(d)
    with pytest.raises(ResourceOverflow, match=r"M20K: needs 1,164 of 100 .*; ALM: needs 171,200 of 1,000"):
        check_fits(resource_usage(accel), accel.device)


def test_engines_are_optional():
    d = accel_dict()
    del d["sparse_engine"], d["dense_engine"]
    r = resource_usage(build(d))
    assert set(r.parts) == {"shell"} and r.total == ResourceUse(0, 60, 100_000)


@pytest.mark.parametrize("path, value", [
    ("device.name", "Stratix 10"),
    ("device.dsp_blocks", 2000), ("device.m20k_blocks", 3000), ("device.alms", 500_000),
    ("device.m20k_bits", 16384), ("device.m20k_max_width_bits", 32),
    ("dense_engine.rows", 16), ("dense_engine.cols", 32), ("dense_engine.dataflow", "is"),
    ("dense_engine.precision", "int8"), ("dense_engine.dsp_per_pe", 2.0),
    ("dense_engine.ifmap_buffer_bytes", 256 * KIB), ("dense_engine.filter_buffer_bytes", 256 * KIB),
    ("dense_engine.ofmap_buffer_bytes", 256 * KIB), ("dense_engine.alms_per_pe", 200),
    ("sparse_engine.gather_units", 8), ("sparse_engine.outstanding_per_unit", 64),
    ("sparse_engine.request_lines", 1), ("sparse_engine.line_bytes", 128),
    ("sparse_engine.reduce_lanes", 8), ("sparse_engine.dsp_per_reduce_lane", 2.0),
    ("sparse_engine.hot_cache_bytes", 0), ("sparse_engine.hot_cache_kind", "scratchpad"),
    ("sparse_engine.physical_address_bits", 36), ("sparse_engine.index_fifo_bytes", 64 * KIB),
    ("sparse_engine.alms_per_gather_unit", 8000),
    ("logic_overhead_alms", 0), ("logic_overhead_m20k_blocks", 0),
])
def test_every_resource_field_changes_the_report(path, value):
    base, changed = resource_usage(build(accel_dict())), resource_usage(build(with_value(path, value)))
    assert (base.device_name, base.parts, base.utilisation) != (changed.device_name, changed.parts,
                                                                 changed.utilisation)


@pytest.mark.parametrize("path, value, needle", [
    ("sparse_engine.hot_cache_bytes", 100, "multiple of line_bytes"),
    ("sparse_engine.line_bytes", 48, "power of two"),
    ("sparse_engine.request_lines", 3, "request_lines"),
    ("sparse_engine.hot_cache_kind", "lru", "hot_cache_kind"),
    ("device.m20k_max_width_bits", 40_000, "exceeds m20k_bits"),
    ("device.dsp_blocks", 0, "dsp_blocks"),
    ("device.luts", 5, "unknown key"),
])
def test_bad_config_is_one_line_input_error(path, value, needle):
    with pytest.raises(InputError, match=needle):
        build(with_value(path, value))


def test_compressed_tables_grow_the_sparse_engine():
    from accelsim.config.base import parse_model
    from accelsim.config.system import load_system
    from accelsim.config.workload import ModelSpec
    from accelsim.hw.fpga_resources import resource_usage

    acc = load_system("harpv2_centaur").accelerator
    base = {"name": "w", "source": "t", "embedding_dim": 16, "bottom_mlp": [3, 16], "top_mlp": [1]}

    def use(table):
        spec = parse_model(ModelSpec, {**base, "tables": [{"rows": 1000, "lookups_per_sample": 2, **table}]})
        return resource_usage(acc, spec).parts["sparse"]

    plain, int8 = use({}), use({"dtype": "int8"})
    qr = use({"compression": {"scheme": "qr", "collisions": 10}})
    hash3 = use({"compression": {"scheme": "hash", "hashes": 3, "hash_rows": 100}})
    units = acc.sparse_engine.gather_units
    assert int8.dsp_blocks == plain.dsp_blocks + units and int8.alms > plain.alms
    assert plain.dsp_blocks < qr.dsp_blocks < hash3.dsp_blocks
    assert resource_usage(acc).parts["sparse"] == plain
