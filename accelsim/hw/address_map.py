"""Physical byte address -> (channel, rank, bank group, bank, row, column), as a DRAMsim3-style field string.

The string lists the fields most-significant first, e.g. ``ro-ba-bg-ra-co-ch`` (dashes optional, so DRAMsim3's
``rochrababgco`` also parses). Below the fields sit the byte-offset bits of one burst. Each field is
log2(count) bits wide; the column field counts bursts, i.e. columns / burst_length, as in DRAMsim3. Address
bits above the fields are ignored (the address is taken modulo the memory capacity), as DRAMsim3 does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.errors import InputError

FIELDS = ("ch", "ra", "bg", "ba", "ro", "co")


def parse_mapping(text: str) -> tuple[str, ...]:
    """Field names of `text`, most-significant first; each of ch, ra, bg, ba, ro, co exactly once."""
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
    """A parsed mapping with the bit width of each field."""

    order: tuple[str, ...]
    widths_bits: dict[str, int]
    offset_bits: int

    @classmethod
    def build(cls, mapping: str, counts: dict[str, int], burst_bytes: int) -> "AddressMap":
        """Mapping string plus the number of channels, ranks, ... (each a power of two) and the burst size."""
        order = parse_mapping(mapping)
        widths = {}
        for name, count in counts.items():
            if count < 1 or count & (count - 1):
                raise InputError(f"address_mapping: field {name!r} needs a power-of-two count, got {count}")
            widths[name] = count.bit_length() - 1
        if burst_bytes < 1 or burst_bytes & (burst_bytes - 1):
            raise InputError(f"address_mapping: burst size must be a power of two bytes, got {burst_bytes}")
        return cls(order, widths, burst_bytes.bit_length() - 1)

    @property
    def shifts(self) -> dict[str, int]:
        """Lowest address bit of each field."""
        out, shift = {}, self.offset_bits
        for name in reversed(self.order):
            out[name] = shift
            shift += self.widths_bits[name]
        return out

    def decode(self, addr: np.ndarray) -> DecodedAddresses:
        """Vectorised decode of byte addresses (any integer array; negative addresses are an error)."""
        a = np.asarray(addr, dtype=np.int64)
        if a.size and a.min() < 0:
            raise InputError(f"address {int(a.min())} is negative")
        sh = self.shifts
        out = {name: (a >> sh[name]) & ((1 << self.widths_bits[name]) - 1) for name in FIELDS}
        return DecodedAddresses(out["ch"], out["ra"], out["bg"], out["ba"], out["ro"], out["co"])

    def encode(self, channel: int = 0, rank: int = 0, bankgroup: int = 0, bank: int = 0, row: int = 0,
               column: int = 0) -> int:
        """Byte address of the burst at these coordinates (the inverse of decode)."""
        values = {"ch": channel, "ra": rank, "bg": bankgroup, "ba": bank, "ro": row, "co": column}
        sh, addr = self.shifts, 0
        for name, v in values.items():
            if not 0 <= v < (1 << self.widths_bits[name]):
                raise InputError(f"{name}={v} is outside 0..{(1 << self.widths_bits[name]) - 1}")
            addr |= v << sh[name]
        return addr
