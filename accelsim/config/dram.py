"""DramConfig: a DRAM standard as data (organisation, timing in tCK cycles, timing constraints, controller)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator, model_validator

from accelsim.config.base import Model, Sourced, parse_model, read_ini, read_yaml, resolve_named
from accelsim.errors import InputError
from accelsim.hw.address_map import AddressMap
from accelsim.kernels.dram_state import COMMANDS, LEVELS, SCHEDULER_CODES

REPO_ROOT = Path(__file__).resolve().parents[2]
DRAM_DIR = REPO_ROOT / "hwconfigs" / "dram"

# Names a constraint latency may use besides the t* timing fields.
DERIVED_TIMINGS = ("burst_cycles",)
_TERM = re.compile(r"\s*([+-]?)\s*([A-Za-z_][A-Za-z0-9_]*|\d+)\s*")


# Banks of a whole memory system. Large ones have hundreds: 12 channels x 2 ranks x 32 banks (DDR5 server
# socket) is 768, an HBM3 stack 16 channels x 2 pseudo-channels x 16 banks = 512 (JESD238). 2^16 leaves room.
MAX_BANKS = 2**16

class TimingConstraint(Model):
    """After `preceding` issues to a node of `level`, `following` to the same node waits `latency` cycles.

    With window > 1 the wait counts from the window-th most recent `preceding` (tFAW: window 4), as
    Ramulator's `TimingConstraint(level, preceding, following, latency, window)` rows do.
    """

    level: Literal["channel", "rank", "bankgroup", "bank"]
    preceding: tuple[Literal["ACT", "PRE", "RD", "WR", "REF", "REFsb"], ...] = Field(min_length=1)
    following: tuple[Literal["ACT", "PRE", "RD", "WR", "REF", "REFsb"], ...] = Field(min_length=1)
    latency: str = Field(description="sum of timing names and integers, e.g. 'tCWL + burst_cycles + tWTR_L'")
    window: PositiveInt = 1
    sibling: bool = Field(False, description="binds the other ranks of the channel, not the issuing one "
                                             "(Ramulator 2's is_sibling; rank level only)")

    @model_validator(mode="after")
    def _sibling_at_rank(self) -> "TimingConstraint":
        if self.sibling and self.level != "rank":
            raise ValueError(f"sibling: only rank-level rows can bind sibling ranks, got level {self.level!r}")
        return self


# JESD79-4 (DDR4) command-to-command rules, laid out like Ramulator 2's DDR4 constraint table; DDR5 and HBM2
# obey the same rules at this level of detail (their numbers differ, and live in the preset files).
JEDEC_DDR_CONSTRAINTS: tuple[dict, ...] = (
    # data bus: one burst at a time; read<->write turnaround keeps the bursts from overlapping
    dict(level="channel", preceding=["RD"], following=["RD"], latency="burst_cycles"),
    dict(level="channel", preceding=["WR"], following=["WR"], latency="burst_cycles"),
    # JESD79-4 read-to-write: RL + BL/2 - WL + 2 tCK (bus turnaround with 1 tCK preambles)
    dict(level="channel", preceding=["RD"], following=["WR"], latency="tCL + burst_cycles + 2 - tCWL"),
    dict(level="channel", preceding=["WR"], following=["RD"], latency="tCWL + burst_cycles - tCL"),
    # rank switch: the data bus changes driver, tRTRS between bursts of different ranks
    dict(level="rank", preceding=["RD"], following=["RD"], latency="burst_cycles + tRTRS", sibling=True),
    dict(level="rank", preceding=["WR"], following=["WR"], latency="burst_cycles + tRTRS", sibling=True),
    dict(level="rank", preceding=["RD"], following=["WR"], latency="tCL + burst_cycles + tRTRS - tCWL",
         sibling=True),
    dict(level="rank", preceding=["WR"], following=["RD"], latency="tCWL + burst_cycles + tRTRS - tCL",
         sibling=True),
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
    # per-bank refresh (DDR5 REFsb, HBM REFSB): the refreshed bank is closed for tRFCsb
    dict(level="bank", preceding=["REFsb"], following=["ACT", "REFsb"], latency="tRFCsb"),
    dict(level="bank", preceding=["ACT"], following=["REFsb"], latency="tRC"),
    dict(level="bank", preceding=["PRE"], following=["REFsb"], latency="tRP"),
)


class DramConfig(Sourced):
    """One memory system: `channels` independent channels of `ranks` ranks of the standard's devices.

    Every field named t* is a count of tCK cycles (tck_ns long). One request moves one burst of
    bus_width_bits / 8 x burst_length bytes. With pseudo_channels > 1 (HBM pseudo-channel mode) each channel
    is split into that many pseudo-channels, each with its own banks, half (a third, ...) of the data bus and its
    own activate window; they share the channel's command bus, and a request occupies its pseudo-channel's
    narrower bus for pseudo_channels x burst_length / 2 cycles.
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
    tRTRS: NonNegativeInt = Field(0, description="rank-to-rank switch: extra bus cycles between bursts of two ranks")
    pseudo_channels: PositiveInt = Field(1, description="pseudo-channels per channel (HBM pseudo-channel mode)")
    dual_command_bus: bool = Field(False, description="separate row and column command buses: an ACT or PRE and a "
                                                      "RD or WR may issue in the same cycle (HBM)")
    refresh: Literal["all_bank", "same_bank", "per_bank"] = Field(
        "all_bank", description="all_bank: REF closes the rank for tRFC every tREFI; same_bank: REFsb refreshes "
                                "one bank index in every bank group (DDR5); per_bank: one bank at a time (HBM)")
    refresh_ranks: Literal["staggered", "simultaneous"] = Field(
        "staggered", description="staggered: rank k's refreshes fall k x tREFI / ranks after rank 0's (DRAMsim3's "
                                 "RANK_LEVEL_STAGGERED); simultaneous: every rank refreshes at once (Ramulator 1, "
                                 "DRAMsim3's RANK_LEVEL_SIMULTANEOUS)")
    tRFCsb: PositiveInt | None = Field(None, description="cycles a bank refresh keeps its banks closed")
    tREFIsb: PositiveInt | None = Field(None, description="interval between bank refresh commands per rank")
    # controller
    address_mapping: str = Field(description="fields MSB first, DRAMsim3 style: ro-ba-ra-co-bg-ch")
    page_policy: Literal["open", "closed"] = "open"
    queue_depth: PositiveInt = Field(32, description="read queue entries per channel")
    write_queue_depth: PositiveInt = Field(32, description="write queue entries per channel")
    queue_structure: Literal["shared", "per_rank", "per_bank"] = Field(
        "shared", description="shared: the scheduler picks from the read and write queues; per_rank / per_bank: "
                              "they are transaction queues feeding one command queue per rank or bank, one "
                              "transaction a cycle (DRAMsim3's queue_structure)")
    command_queue_depth: PositiveInt = Field(16, description="entries of each per-rank or per-bank command queue "
                                                             "(DRAMsim3's cmd_queue_size)")
    write_high_watermark: float = Field(0.8, gt=0, le=1, description="drain writes above this fill of the write queue")
    write_low_watermark: float = Field(0.2, ge=0, lt=1, description="return to reads below this fill")
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
        banks = self.channels * self.ranks * self.pseudo_channels * self.bankgroups * self.banks_per_group
        if banks > MAX_BANKS:  # the model keeps state per bank: 2^40 banks asked for terabytes
            raise ValueError(f"channels x ranks x pseudo_channels x bankgroups x banks_per_group = {banks} banks; "
                             f"the limit is {MAX_BANKS}")
        if self.burst_length % 2:
            raise ValueError(f"burst_length: must be even (two transfers per tCK), got {self.burst_length}")
        if self.bus_width_bits % self.device_width_bits:
            raise ValueError(f"bus_width_bits: {self.bus_width_bits} is not a multiple of device_width_bits "
                             f"{self.device_width_bits}")
        if self.bus_width_bits % (8 * self.pseudo_channels):
            raise ValueError(f"pseudo_channels: {self.pseudo_channels} does not divide the {self.bus_width_bits}-bit "
                             "bus into whole bytes")
        if self.pseudo_channels > 1 and self.ranks > 1:
            raise ValueError("pseudo_channels: pseudo-channel mode takes ranks: 1 (the rank level holds the "
                             "pseudo-channels)")
        if self.row_bytes % self.burst_bytes:
            raise ValueError(f"columns: a row of {self.row_bytes} B is not a whole number of {self.burst_bytes} B "
                             "bursts")
        if self.tRFC >= self.tREFI:
            raise ValueError(f"tRFC: {self.tRFC} must be shorter than tREFI {self.tREFI}")
        if self.refresh != "all_bank":
            if self.tRFCsb is None or self.tREFIsb is None:
                raise ValueError(f"refresh: {self.refresh} needs tRFCsb and tREFIsb")
            if self.tRFCsb >= self.tREFIsb:
                raise ValueError(f"tRFCsb: {self.tRFCsb} must be shorter than tREFIsb {self.tREFIsb}")
        if self.write_low_watermark >= self.write_high_watermark:
            raise ValueError(f"write_low_watermark: {self.write_low_watermark} must be below write_high_watermark "
                             f"{self.write_high_watermark}")
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
        """Data-bus cycles of one request (double data rate; a pseudo-channel's bus is narrower)."""
        return self.burst_length // 2 * self.pseudo_channels

    @property
    def devices_per_rank(self) -> int:
        return self.bus_width_bits // self.device_width_bits

    @property
    def banks_per_rank(self) -> int:
        return self.bankgroups * self.banks_per_group

    @property
    def rank_nodes(self) -> int:
        """Ranks per channel, or pseudo-channels in pseudo-channel mode (the kernel's rank level)."""
        return self.ranks * self.pseudo_channels

    @property
    def banks_per_channel(self) -> int:
        return self.rank_nodes * self.banks_per_rank

    @property
    def row_bytes(self) -> int:
        """Bytes of one row across the rank or pseudo-channel (the row buffer a burst reads from)."""
        return self.columns * self.bus_width_bits // 8 // self.pseudo_channels

    @property
    def capacity_bytes(self) -> int:
        return self.channels * self.banks_per_channel * self.rows * self.row_bytes

    @property
    def peak_bandwidth_gbps_per_channel(self) -> float:
        return self.bus_width_bits / 8 * 2 / self.tck_ns

    @property
    def peak_bandwidth_gbps(self) -> float:
        return self.channels * self.peak_bandwidth_gbps_per_channel

    @property
    def address_map(self) -> AddressMap:
        counts = {"ch": self.channels, "ra": self.rank_nodes, "bg": self.bankgroups, "ba": self.banks_per_group,
                  "ro": self.rows, "co": self.row_bytes // self.burst_bytes}
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
                if value is None:  # an unset optional timing (tRFCsb without bank refresh) binds nothing
                    value = 0
            else:
                raise InputError(f"constraint latency {expr!r}: unknown timing {term!r}")
            total += sign * value
            pos = m.end()
        if pos == 0:
            raise InputError("constraint latency is empty")
        return total


# DRAMsim3 .ini keys -> our fields ([timing] values are tCK cycles in both). Keys missing from a file take
# DRAMsim3's built-in defaults (src/configuration.cc), as DRAMsim3 itself would.
_INI_TIMING = {"tCL": ("CL", 12), "tCWL": ("CWL", 12), "tRP": ("tRP", 10), "tRAS": ("tRAS", 24),
               "tCCD_S": ("tCCD_S", 4), "tCCD_L": ("tCCD_L", 6), "tRRD_S": ("tRRD_S", 4), "tRRD_L": ("tRRD_L", 4),
               "tFAW": ("tFAW", 50), "tWR": ("tWR", 10), "tWTR_S": ("tWTR_S", 5), "tWTR_L": ("tWTR_L", 5),
               "tRFC": ("tRFC", 74), "tREFI": ("tREFI", 7800), "tRTRS": ("tRTRS", 2), "tRFCsb": ("tRFCb", 20),
               "tREFIsb": ("tREFIb", 1950)}


def dram_from_ini(path: str | Path) -> dict:
    """A DramConfig mapping from a DRAMsim3 .ini file, each field citing the file and key it came from."""
    import configparser

    path = Path(path)
    ini = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), comment_prefixes=(";", "#"),
                                    strict=False)
    read_ini(path, ini, "a DRAMsim3 .ini file")

    def get(section: str, key: str, default, kind=int):
        if not ini.has_option(section, key):
            return default, f"DRAMsim3 default {key}={default}"
        raw = ini.get(section, key).strip()
        try:
            return kind(raw), f"{path.name} [{section}] {key}={raw}"
        except ValueError:
            raise InputError(f"[{section}] {key}: expected {'an integer' if kind is int else 'a number'}, "
                             f"got {raw!r}", source=str(path)) from None

    data, sources = {}, {}

    def put(name: str, section: str, key: str, default, kind=int):
        data[name], sources[name] = get(section, key, default, kind)

    protocol, _ = get("dram_structure", "protocol", "DDR3", str)
    hbm = protocol.upper().startswith("HBM")
    data["standard"] = protocol
    put("bankgroups", "dram_structure", "bankgroups", 2)
    put("banks_per_group", "dram_structure", "banks_per_group", 2)
    put("rows", "dram_structure", "rows", 1 << 16)
    put("columns", "dram_structure", "columns", 1 << 10)
    put("device_width_bits", "dram_structure", "device_width", 8)
    put("burst_length", "dram_structure", "BL", 4 if hbm else 8)
    if hbm:  # DRAMsim3 counts HBM columns before the 2n prefetch and doubles them
        data["columns"] *= 2
        sources["columns"] += " (x2: DRAMsim3 doubles HBM columns for the 2n prefetch)"
    put("tck_ns", "timing", "tCK", 1.0, float)
    for name, (key, default) in _INI_TIMING.items():
        put(name, "timing", key, default)
    put("tRCD", "timing", "tRCDRD" if hbm else "tRCD", 10)
    put("tRTP", "timing", "tRTP_L" if ini.has_option("timing", "tRTP_L") else "tRTP", 5)
    data["tRC"] = data["tRAS"] + data["tRP"]
    sources["tRC"] = "tRAS + tRP, as DRAMsim3 computes it"
    put("channels", "system", "channels", 1)
    put("bus_width_bits", "system", "bus_width", 64)
    channel_mb, src = get("system", "channel_size", 1024)
    devices = max(1, data["bus_width_bits"] // max(1, data["device_width_bits"]))
    # DRAMsim3 CalculateSize: ranks = channel_size / MB per rank (at least one)
    rank_mb = (data["columns"] * data["device_width_bits"] // 8) * (data["rows"] // 1024) // 1024 \
        * data["bankgroups"] * data["banks_per_group"] * devices
    data["ranks"] = max(1, channel_mb // rank_mb) if rank_mb > 0 else 1
    sources["ranks"] = f"{src} / {rank_mb} MB per rank (DRAMsim3 CalculateSize)"
    mapping, sources["address_mapping"] = get("system", "address_mapping", "chrobabgraco", str)
    data["address_mapping"] = mapping
    policy, sources["page_policy"] = get("system", "row_buf_policy", "OPEN_PAGE", str)
    if policy not in ("OPEN_PAGE", "CLOSE_PAGE"):
        raise InputError(f"[system] row_buf_policy: expected OPEN_PAGE or CLOSE_PAGE, got {policy!r}",
                         source=str(path))
    data["page_policy"] = "open" if policy == "OPEN_PAGE" else "closed"
    put("queue_depth", "system", "trans_queue_size", 32)
    structure, sources["queue_structure"] = get("system", "queue_structure", "PER_BANK", str)
    if structure not in ("PER_RANK", "PER_BANK"):
        raise InputError(f"[system] queue_structure: expected PER_RANK or PER_BANK, got {structure!r}",
                         source=str(path))
    data["queue_structure"] = structure.lower()
    # older DRAMsim3 files name the command queue's size `queue_size`
    put("command_queue_depth", "system", "cmd_queue_size" if ini.has_option("system", "cmd_queue_size")
        or not ini.has_option("system", "queue_size") else "queue_size", 16)
    refresh, _ = get("system", "refresh_policy", "RANK_LEVEL_STAGGERED", str)
    if refresh == "BANK_LEVEL_STAGGERED":
        data["refresh"] = "per_bank"
        sources["refresh"] = f"{path.name} [system] refresh_policy=BANK_LEVEL_STAGGERED"
    elif refresh == "RANK_LEVEL_SIMULTANEOUS":
        data["refresh_ranks"] = "simultaneous"
        sources["refresh_ranks"] = f"{path.name} [system] refresh_policy=RANK_LEVEL_SIMULTANEOUS"
    for name in data:
        sources.setdefault(name, f"{path.name}")
    data["sources"] = {"*": f"DRAMsim3 .ini {path}", **sources}
    return data


def resolve_dram_path(preset_or_path: str) -> Path:
    """A shipped preset (`DDR4-2400`, `ddr4_2400`) or a path to a YAML file."""
    return resolve_named(preset_or_path, DRAM_DIR, "DRAM preset")


def load_dram(preset_or_path: str, **overrides) -> DramConfig:
    """Load a DRAM preset, YAML file or DRAMsim3 .ini, then apply field overrides (e.g. channels=4), validated."""
    if str(preset_or_path).lower().endswith(".ini"):
        path = Path(preset_or_path)
        data = dram_from_ini(path)
    else:
        path = resolve_dram_path(preset_or_path)
        data = read_yaml(path)
    unknown = sorted(set(overrides) - set(DramConfig.model_fields))
    if unknown:
        raise InputError(f"override {unknown[0]}: unknown key", source=str(path))
    data.update({k: v for k, v in overrides.items() if v is not None})
    return parse_model(DramConfig, data, source=str(path))


def constraint_table(cfg: DramConfig) -> list[tuple[int, int, int, int, int, int]]:
    """The config's constraints expanded to (level, preceding, following, latency_cycles, window, sibling) codes.

    In pseudo-channel mode the channel-level rows (the data bus) bind each pseudo-channel, and sibling rows
    (rank switching) do not apply: pseudo-channels have separate buses; nor do they with a single rank.
    """
    rows = []
    for c in cfg.constraints:
        if c.sibling and cfg.rank_nodes == 1 or c.sibling and cfg.pseudo_channels > 1:
            continue  # no other rank to bind
        level = "rank" if cfg.pseudo_channels > 1 and c.level == "channel" else c.level
        lat = cfg.cycles(c.latency)
        for p in c.preceding:
            for f in c.following:
                rows.append((LEVELS.index(level), COMMANDS.index(p), COMMANDS.index(f), lat, c.window,
                             int(c.sibling)))
    return rows


__all__ = ["DramConfig", "TimingConstraint", "load_dram", "dram_from_ini", "constraint_table", "DRAM_DIR"]
