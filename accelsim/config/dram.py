"""DramConfig: a DRAM standard as data (organisation, timing in tCK cycles, timing constraints, controller)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator, model_validator

from accelsim.config.base import Model, Sourced, parse_model, read_yaml, resolve_named
from accelsim.errors import InputError
from accelsim.hw.address_map import AddressMap
from accelsim.kernels.dram_timing import COMMANDS, LEVELS, SCHEDULER_CODES

REPO_ROOT = Path(__file__).resolve().parents[2]
DRAM_DIR = REPO_ROOT / "hwconfigs" / "dram"

# Names a constraint latency may use besides the t* timing fields.
DERIVED_TIMINGS = ("burst_cycles",)
_TERM = re.compile(r"\s*([+-]?)\s*([A-Za-z_][A-Za-z0-9_]*|\d+)\s*")


class TimingConstraint(Model):
    """After `preceding` issues to a node of `level`, `following` to the same node waits `latency` cycles.

    With window > 1 the wait counts from the window-th most recent `preceding` (tFAW: window 4), as
    Ramulator's `TimingConstraint(level, preceding, following, latency, window)` rows do.
    """

    level: Literal["channel", "rank", "bankgroup", "bank"]
    preceding: tuple[Literal["ACT", "PRE", "RD", "WR", "REF"], ...] = Field(min_length=1)
    following: tuple[Literal["ACT", "PRE", "RD", "WR", "REF"], ...] = Field(min_length=1)
    latency: str = Field(description="sum of timing names and integers, e.g. 'tCWL + burst_cycles + tWTR_L'")
    window: PositiveInt = 1


# JESD79-4 (DDR4) command-to-command rules, laid out like Ramulator 2's DDR4 constraint table; DDR5 and HBM2
# obey the same rules at this level of detail (their numbers differ, and live in the preset files).
JEDEC_DDR_CONSTRAINTS: tuple[dict, ...] = (
    # data bus: one burst at a time; read<->write turnaround keeps the bursts from overlapping
    dict(level="channel", preceding=["RD"], following=["RD"], latency="burst_cycles"),
    dict(level="channel", preceding=["WR"], following=["WR"], latency="burst_cycles"),
    # JESD79-4 read-to-write: RL + BL/2 - WL + 2 tCK (bus turnaround with 1 tCK preambles)
    dict(level="channel", preceding=["RD"], following=["WR"], latency="tCL + burst_cycles + 2 - tCWL"),
    dict(level="channel", preceding=["WR"], following=["RD"], latency="tCWL + burst_cycles - tCL"),
    # rank: different bank groups
    dict(level="rank", preceding=["RD"], following=["RD"], latency="tCCD_S"),
    dict(level="rank", preceding=["WR"], following=["WR"], latency="tCCD_S"),
    dict(level="rank", preceding=["WR"], following=["RD"], latency="tCWL + burst_cycles + tWTR_S"),
    dict(level="rank", preceding=["ACT"], following=["ACT"], latency="tRRD_S"),
    dict(level="rank", preceding=["ACT"], following=["ACT"], latency="tFAW", window=4),
    dict(level="rank", preceding=["ACT"], following=["REF"], latency="tRC"),
    dict(level="rank", preceding=["PRE"], following=["REF"], latency="tRP"),
    dict(level="rank", preceding=["REF"], following=["ACT", "REF"], latency="tRFC"),
    # bank group: same bank group
    dict(level="bankgroup", preceding=["RD"], following=["RD"], latency="tCCD_L"),
    dict(level="bankgroup", preceding=["WR"], following=["WR"], latency="tCCD_L"),
    dict(level="bankgroup", preceding=["WR"], following=["RD"], latency="tCWL + burst_cycles + tWTR_L"),
    dict(level="bankgroup", preceding=["ACT"], following=["ACT"], latency="tRRD_L"),
    # bank
    dict(level="bank", preceding=["ACT"], following=["ACT"], latency="tRC"),
    dict(level="bank", preceding=["ACT"], following=["RD", "WR"], latency="tRCD"),
    dict(level="bank", preceding=["ACT"], following=["PRE"], latency="tRAS"),
    dict(level="bank", preceding=["PRE"], following=["ACT"], latency="tRP"),
    dict(level="bank", preceding=["RD"], following=["PRE"], latency="tRTP"),
    dict(level="bank", preceding=["WR"], following=["PRE"], latency="tCWL + burst_cycles + tWR"),
)


class DramConfig(Sourced):
    """One memory system: `channels` independent channels of `ranks` ranks of the standard's devices.

    Every field named t* is a count of tCK cycles (tck_ns long). One request moves one burst of
    bus_width_bits / 8 x burst_length bytes.
    """

    standard: str
    tck_ns: PositiveFloat
    # organisation
    channels: PositiveInt
    ranks: PositiveInt
    bankgroups: PositiveInt
    banks_per_group: PositiveInt
    rows: PositiveInt
    columns: PositiveInt = Field(description="device columns per row (each device_width_bits wide)")
    device_width_bits: PositiveInt
    bus_width_bits: PositiveInt
    burst_length: PositiveInt
    # timing, in tCK cycles
    tCL: PositiveInt
    tCWL: PositiveInt
    tRCD: PositiveInt
    tRP: PositiveInt
    tRAS: PositiveInt
    tRC: PositiveInt
    tCCD_S: PositiveInt
    tCCD_L: PositiveInt
    tRRD_S: PositiveInt
    tRRD_L: PositiveInt
    tFAW: NonNegativeInt
    tWR: PositiveInt
    tWTR_S: NonNegativeInt
    tWTR_L: NonNegativeInt
    tRTP: PositiveInt
    tRFC: PositiveInt
    tREFI: PositiveInt = Field(description="all-bank refresh interval per rank")
    # controller
    address_mapping: str = Field(description="fields MSB first, DRAMsim3 style: ro-ba-ra-co-bg-ch")
    page_policy: Literal["open", "closed"] = "open"
    queue_depth: PositiveInt = Field(32, description="request queue entries per channel")
    scheduler: str = Field("frfcfs", description=f"one of {', '.join(SCHEDULER_CODES)}")
    constraints: tuple[TimingConstraint, ...] = Field(
        tuple(TimingConstraint(**c) for c in JEDEC_DDR_CONSTRAINTS),
        description="command timing rules; the default is the JEDEC DDR table",
    )

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, v: str) -> str:
        if v not in SCHEDULER_CODES:
            raise ValueError(f"unknown scheduler {v!r}; expected one of {', '.join(SCHEDULER_CODES)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "DramConfig":
        if self.burst_length % 2:
            raise ValueError(f"burst_length: must be even (two transfers per tCK), got {self.burst_length}")
        if self.bus_width_bits % self.device_width_bits:
            raise ValueError(f"bus_width_bits: {self.bus_width_bits} is not a multiple of device_width_bits "
                             f"{self.device_width_bits}")
        if self.columns % self.burst_length:
            raise ValueError(f"columns: {self.columns} is not a multiple of burst_length {self.burst_length}")
        if self.tRFC >= self.tREFI:
            raise ValueError(f"tRFC: {self.tRFC} must be shorter than tREFI {self.tREFI}")
        # Refresh closes every row; an access that cannot open, use and close a row between two refreshes
        # would be retried for ever (the timing kernel never finishes).
        row_cycle = self.tRFC + max(self.tRAS, self.tRCD + max(self.tCL, self.tCWL) + self.burst_length // 2,
                                    self.tRC - self.tRP) + self.tRP
        if row_cycle >= self.tREFI:
            raise ValueError(f"tREFI: {self.tREFI} cycles leave no time for a row cycle after a refresh "
                             f"(tRFC + max(tRAS, tRCD + tCL + burst, tRC - tRP) + tRP = {row_cycle})")
        try:
            self.address_map
            for c in self.constraints:
                self.cycles(c.latency)
        except InputError as err:
            raise ValueError(str(err)) from None
        return self

    # derived quantities
    @property
    def burst_bytes(self) -> int:
        return self.bus_width_bits // 8 * self.burst_length

    @property
    def burst_cycles(self) -> int:
        """Data-bus cycles of one burst (double data rate: two transfers per tCK)."""
        return self.burst_length // 2

    @property
    def devices_per_rank(self) -> int:
        return self.bus_width_bits // self.device_width_bits

    @property
    def banks_per_rank(self) -> int:
        return self.bankgroups * self.banks_per_group

    @property
    def banks_per_channel(self) -> int:
        return self.ranks * self.banks_per_rank

    @property
    def row_bytes(self) -> int:
        """Bytes of one row across the rank (the row buffer a burst reads from)."""
        return self.columns * self.bus_width_bits // 8

    @property
    def capacity_bytes(self) -> int:
        return self.channels * self.banks_per_channel * self.rows * self.row_bytes

    @property
    def peak_bandwidth_gbps_per_channel(self) -> float:
        return self.burst_bytes / (self.burst_cycles * self.tck_ns)

    @property
    def peak_bandwidth_gbps(self) -> float:
        return self.channels * self.peak_bandwidth_gbps_per_channel

    @property
    def address_map(self) -> AddressMap:
        counts = {"ch": self.channels, "ra": self.ranks, "bg": self.bankgroups, "ba": self.banks_per_group,
                  "ro": self.rows, "co": self.columns // self.burst_length}
        return AddressMap.build(self.address_mapping, counts, self.burst_bytes)

    def cycles(self, expr: str) -> int:
        """Evaluate a constraint latency such as 'tCWL + burst_cycles + tWR' in tCK cycles."""
        pos, total = 0, 0
        while pos < len(expr):
            m = _TERM.match(expr, pos)
            if not m or (pos > 0 and not m.group(1)):
                raise InputError(f"constraint latency {expr!r}: expected names and integers joined by + or -")
            sign = -1 if m.group(1) == "-" else 1
            term = m.group(2)
            if term.isdigit():
                value = int(term)
            elif (term.startswith("t") and term in type(self).model_fields and term != "tck_ns") \
                    or term in DERIVED_TIMINGS:
                value = getattr(self, term)
            else:
                raise InputError(f"constraint latency {expr!r}: unknown timing {term!r}")
            total += sign * value
            pos = m.end()
        if pos == 0:
            raise InputError("constraint latency is empty")
        return total


def resolve_dram_path(preset_or_path: str) -> Path:
    """A shipped preset (`DDR4-2400`, `ddr4_2400`) or a path to a YAML file."""
    return resolve_named(preset_or_path, DRAM_DIR, "DRAM preset")


def load_dram(preset_or_path: str, **overrides) -> DramConfig:
    """Load a DRAM preset or YAML file, then apply field overrides (e.g. channels=4), validating the result."""
    path = resolve_dram_path(preset_or_path)
    data = read_yaml(path)
    unknown = sorted(set(overrides) - set(DramConfig.model_fields))
    if unknown:
        raise InputError(f"override {unknown[0]}: unknown key", source=str(path))
    data.update({k: v for k, v in overrides.items() if v is not None})
    return parse_model(DramConfig, data, source=str(path))


def constraint_table(cfg: DramConfig) -> list[tuple[int, int, int, int, int]]:
    """The config's constraints expanded to (level, preceding, following, latency_cycles, window) codes."""
    rows = []
    for c in cfg.constraints:
        lat = cfg.cycles(c.latency)
        for p in c.preceding:
            for f in c.following:
                rows.append((LEVELS.index(c.level), COMMANDS.index(p), COMMANDS.index(f), lat, c.window))
    return rows


__all__ = ["DramConfig", "TimingConstraint", "load_dram", "constraint_table", "DRAM_DIR"]
