"""Physical byte address -> (channel, rank, bank group, bank, row, column), as a DRAMsim3-style field string.

The string lists the fields most-significant first, e.g. ``ro-ba-bg-ra-co-ch`` (dashes optional, so DRAMsim3's
``rochrababgco`` also parses). Below the fields sit the byte offset within one burst. The burst number is split
into the fields as a mixed-radix number, least-significant field first (value = burst % count, then burst //=
count): with power-of-two counts this is exactly DRAMsim3's bit slicing (each field log2(count) bits wide), and
it also describes the 3-, 6- or 12-channel interleaves of real servers. The column field counts bursts, i.e.
columns / burst_length, as in DRAMsim3. What lies beyond the last field is ignored (the address is taken modulo
the memory capacity), as DRAMsim3 does. Ramulator 2's mapper names (``RoBaRaCoCh``, ``ChRaBaRoCo``) are accepted
as presets of the field string.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.errors import InputError

FIELDS = ("ch", "ra", "bg", "ba", "ro", "co")
# Ramulator 2's linear mappers by name (src/addr_mapper/impl/linear_mappers.cpp), as field strings: RoBaRaCoCh
# takes the channel from the lowest bits, then the column, then rank, bank group, bank and row upwards;
# ChRaBaRoCo takes the column, row, bank, bank group, rank and channel from the lowest bits up. DRAMsim3's
# names (rochrababgco, chrobabgraco, ...) are field strings already.
MAPPING_PRESETS = {"RoBaRaCoCh": "ro-ba-bg-ra-co-ch", "ChRaBaRoCo": "ch-ra-bg-ba-ro-co"}


def parse_mapping(text: str) -> tuple[str, ...]:
    """Field names of `text` (a field string or a Ramulator mapper name), most-significant first."""
    text = MAPPING_PRESETS.get(text.strip(), text)
    compact = text.replace("-", "").replace("_", "").strip().lower()
    if len(compact) != 2 * len(FIELDS):
        raise InputError(f"address_mapping {text!r}: expected the six fields {'-'.join(FIELDS)} in some order")
    order = tuple(compact[i:i + 2] for i in range(0, len(compact), 2))
    unknown = [f for f in order if f not in FIELDS]
    if unknown:
        raise InputError(f"address_mapping {text!r}: unknown field {unknown[0]!r}; fields are {', '.join(FIELDS)}")
    repeated = sorted({f for f in order if order.count(f) > 1})
    if repeated:
        raise InputError(f"address_mapping {text!r}: field {repeated[0]!r} appears more than once")
    return order


def _power_of_two(*values: int) -> bool:
    return all(v > 0 and v & (v - 1) == 0 for v in values)


@dataclass(frozen=True)
class DecodedAddresses:
    """Per-request DRAM coordinates (int64 arrays of equal length)."""

    channel: np.ndarray
    rank: np.ndarray
    bankgroup: np.ndarray
    bank: np.ndarray
    row: np.ndarray
    column: np.ndarray


@dataclass(frozen=True)
class AddressMap:
    """A parsed mapping with the number of values of each field."""

    order: tuple[str, ...]
    counts: dict[str, int]
    burst_bytes: int

    @classmethod
    def build(cls, mapping: str, counts: dict[str, int], burst_bytes: int) -> "AddressMap":
        """Mapping string plus the number of channels, ranks, ... and the burst size in bytes."""
        order = parse_mapping(mapping)
        for name, count in counts.items():
            if count < 1:
                raise InputError(f"address_mapping: field {name!r} needs a positive count, got {count}")
        if burst_bytes < 1:
            raise InputError(f"address_mapping: burst size must be positive, got {burst_bytes}")
        return cls(order, dict(counts), burst_bytes)

    @property
    def strides(self) -> dict[str, int]:
        """Bursts between consecutive values of each field."""
        out, stride = {}, 1
        for name in reversed(self.order):
            out[name] = stride
            stride *= self.counts[name]
        return out

    def decode(self, addr: np.ndarray) -> DecodedAddresses:
        """Vectorised decode of byte addresses (any integer array; negative addresses are an error)."""
        a = np.asarray(addr, dtype=np.int64)
        if a.size and a.min() < 0:
            raise InputError(f"address {int(a.min())} is negative")
        st = self.strides
        if _power_of_two(self.burst_bytes, *self.counts.values()):
            # DRAMsim3's bit slicing, the same values as the division below (non-negative addresses) at a
            # fraction of numpy's int64 division cost
            burst = a >> (self.burst_bytes.bit_length() - 1)
            out = {name: (burst >> (st[name].bit_length() - 1)) & (self.counts[name] - 1) for name in FIELDS}
        else:
            burst = a // self.burst_bytes
            out = {name: (burst // st[name]) % self.counts[name] for name in FIELDS}
        return DecodedAddresses(out["ch"], out["ra"], out["bg"], out["ba"], out["ro"], out["co"])

    def encode(self, channel: int = 0, rank: int = 0, bankgroup: int = 0, bank: int = 0, row: int = 0,
               column: int = 0) -> int:
        """Byte address of the burst at these coordinates (the inverse of decode)."""
        values = {"ch": channel, "ra": rank, "bg": bankgroup, "ba": bank, "ro": row, "co": column}
        st, burst = self.strides, 0
        for name, v in values.items():
            if not 0 <= v < self.counts[name]:
                raise InputError(f"{name}={v} is outside 0..{self.counts[name] - 1}")
            burst += v * st[name]
        return burst * self.burst_bytes
