import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import InputError
from accelsim.hw.address_map import FIELDS, AddressMap, parse_mapping

COUNTS = {"ch": 4, "ra": 2, "bg": 4, "ba": 4, "ro": 65536, "co": 128}


def test_parse_dashed_and_dramsim3_compact_forms_agree():
    assert parse_mapping("ro-ba-bg-ra-co-ch") == ("ro", "ba", "bg", "ra", "co", "ch")
    assert parse_mapping("rochrababgco") == ("ro", "ch", "ra", "ba", "bg", "co")


@pytest.mark.parametrize("bad,why", [("ro-ba-bg-ra-co", "six fields"), ("ro-ro-bg-ra-co-ch", "more than once"),
                                     ("ro-xx-bg-ra-co-ch", "unknown field"), ("", "six fields")])
def test_invalid_mappings_are_rejected(bad, why):
    with pytest.raises(InputError, match=why):
        parse_mapping(bad)


def test_non_power_of_two_counts_interleave_by_modulo():
    amap = AddressMap.build("ro-ba-bg-ra-co-ch", {**COUNTS, "ch": 3}, 64)
    d = amap.decode(np.arange(12) * 64)
    np.testing.assert_array_equal(d.channel, np.arange(12) % 3)
    np.testing.assert_array_equal(d.column, np.arange(12) // 3)
    assert amap.encode(channel=2, column=5) == (5 * 3 + 2) * 64
    with pytest.raises(InputError, match="'ch' needs a positive count"):
        AddressMap.build("ro-ba-bg-ra-co-ch", {**COUNTS, "ch": 0}, 64)


def test_decode_inverts_encode_vectorised():
    amap = AddressMap.build("ro-ba-ra-co-bg-ch", COUNTS, 64)
    rng = np.random.default_rng(1)
    coords = {f: rng.integers(0, COUNTS[f], 500) for f in FIELDS}
    addrs = np.array([amap.encode(channel=int(coords["ch"][i]), rank=int(coords["ra"][i]),
                                  bankgroup=int(coords["bg"][i]), bank=int(coords["ba"][i]),
                                  row=int(coords["ro"][i]), column=int(coords["co"][i])) for i in range(500)])
    d = amap.decode(addrs + rng.integers(0, 64, 500))  # the offset within a burst does not matter
    for got, f in zip((d.channel, d.rank, d.bankgroup, d.bank, d.row, d.column), FIELDS):
        np.testing.assert_array_equal(got, coords[f])


def test_lowest_field_changes_with_each_burst_msb_first_order():
    amap = AddressMap.build("ro-ba-ra-co-bg-ch", COUNTS, 64)
    d = amap.decode(np.arange(32) * 64)
    np.testing.assert_array_equal(d.channel, np.arange(32) % 4)
    np.testing.assert_array_equal(d.bankgroup, (np.arange(32) // 4) % 4)
    np.testing.assert_array_equal(d.column, np.arange(32) // 16)
    assert amap.strides["ro"] * 64 == 1 << (6 + 2 + 2 + 7 + 1 + 2)


def test_addresses_beyond_capacity_wrap_and_negative_is_an_error():
    amap = AddressMap.build("ro-ba-ra-co-bg-ch", COUNTS, 64)
    cap = 4 * 2 * 4 * 4 * 65536 * 128 * 64
    np.testing.assert_array_equal(amap.decode(np.array([cap + 128])).bankgroup, amap.decode(np.array([128])).bankgroup)
    with pytest.raises(InputError, match="negative"):
        amap.decode(np.array([-64]))


def test_ramulator_mapper_names_are_presets_of_the_field_string():
    from accelsim.hw.address_map import parse_mapping
    # RoBaRaCoCh: channel lowest, then column, then rank, bank group, bank, row upwards
    assert parse_mapping("RoBaRaCoCh") == ("ro", "ba", "bg", "ra", "co", "ch")
    assert parse_mapping("ChRaBaRoCo") == ("ch", "ra", "bg", "ba", "ro", "co")
    counts = {"ch": 2, "ra": 2, "bg": 4, "ba": 4, "ro": 8, "co": 128}
    m = AddressMap.build("RoBaRaCoCh", counts, 64)
    d = m.decode(np.array([0, 64, 128, 64 * 2 * 128 * 2]))
    np.testing.assert_array_equal(d.channel, [0, 1, 0, 0])
    np.testing.assert_array_equal(d.column, [0, 0, 1, 0])
    np.testing.assert_array_equal(d.rank, [0, 0, 0, 0])
    np.testing.assert_array_equal(d.bankgroup, [0, 0, 0, 1])


@settings(max_examples=50, deadline=None)
@given(st.permutations(FIELDS), st.lists(st.integers(0, 6), min_size=6, max_size=6), st.integers(0, 7),
       st.lists(st.integers(0, 2**62), min_size=1, max_size=50))
def test_power_of_two_bit_slicing_is_the_mixed_radix_division(order, log_counts, log_burst, addr):
    # the shift-and-mask path against the division it replaces, field by field
    counts = {f: 1 << k for f, k in zip(FIELDS, log_counts)}
    amap = AddressMap.build("-".join(order), counts, 1 << log_burst)
    a = np.array(addr, np.int64)
    d = amap.decode(a)
    burst, st_ = a // (1 << log_burst), amap.strides
    for name, got in zip(FIELDS, (d.channel, d.rank, d.bankgroup, d.bank, d.row, d.column)):
        np.testing.assert_array_equal(got, (burst // st_[name]) % counts[name])
