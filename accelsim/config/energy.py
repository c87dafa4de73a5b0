"""Energy per action and static power; energy = counts x these, computed after the run (Accelergy style)."""

from __future__ import annotations

from pydantic import NonNegativeFloat

from accelsim.config.base import Sourced


class EnergyConfig(Sourced):
    """Every field is an energy per counted action or a power; a study may swap the table without re-simulating."""

    cpu_core_active_power_w: NonNegativeFloat
    cpu_static_power_w: NonNegativeFloat
    cache_access_pj_per_line: tuple[NonNegativeFloat, ...]  # one per CPU cache level, L1 first
    dram_device_activate_pj: NonNegativeFloat  # one DRAM device opening a row (a rank activate = devices x this)
    dram_rw_pj_per_bit: NonNegativeFloat
    dram_static_power_w: NonNegativeFloat
    link_pj_per_bit: NonNegativeFloat
    accel_mac_pj: NonNegativeFloat
    accel_sram_pj_per_byte: NonNegativeFloat
    accel_add_pj: NonNegativeFloat
    accel_static_power_w: NonNegativeFloat
