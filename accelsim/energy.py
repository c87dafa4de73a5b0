"""Energy after the run: action counts x energy per action, plus static power x time (Accelergy style)."""

from __future__ import annotations

import pandas as pd

from accelsim.config.energy import EnergyConfig
from accelsim.config.system import SystemConfig


def _count(counters: pd.DataFrame, device: str, counter: str) -> float:
    sel = counters[(counters["device"] == device) & (counters["counter"] == counter)]
    return float(sel["value"].sum())


def energy_table(hw: SystemConfig, counters: pd.DataFrame, makespan_ns: float) -> pd.DataFrame:
    """One row per (device, component, action): count and energy_pj. Changing `hw.energy` needs no re-run."""
    e: EnergyConfig = hw.energy
    rows: list[tuple[str, str, str, float, float]] = []

    def add(device: str, component: str, action: str, count: float, pj_each: float) -> None:
        rows.append((device, component, action, count, count * pj_each))

    add("cpu", "cores", "core_ns", _count(counters, "cpu", "core_ns"), e.cpu_core_active_power_w * 1e3)  # W*ns = nJ
    add("cpu", "package", "static_ns", makespan_ns, e.cpu_static_power_w * 1e3)
    for lvl, (cache, pj) in enumerate(zip(hw.cpu.caches, e.cache_access_pj_per_line)):
        add("cpu", cache.name, "line_accesses", _count(counters, "cpu", f"{cache.name}_accesses"), pj)
    add("dram", "banks", "device_activates", _count(counters, "dram", "device_activates"), e.dram_device_activate_pj)
    rw_bits = 8 * (_count(counters, "dram", "bytes_read") + _count(counters, "dram", "bytes_written"))
    add("dram", "io", "bits", rw_bits, e.dram_rw_pj_per_bit)
    add("dram", "background", "static_ns", makespan_ns, e.dram_static_power_w * 1e3)
    if hw.accelerator is not None:
        add("links", "wires", "bits", _count(counters, "links", "wire_bits"), e.link_pj_per_bit)
        add("dense_engine", "pe_array", "macs", _count(counters, "dense_engine", "macs"), e.accel_mac_pj)
        sram = _count(counters, "dense_engine", "sram_bytes") + _count(counters, "sparse_engine", "sram_bytes")
        add("accelerator", "sram", "bytes", sram, e.accel_sram_pj_per_byte)
        add("sparse_engine", "reducer", "adds", _count(counters, "sparse_engine", "reduce_adds"), e.accel_add_pj)
        add("accelerator", "fabric", "static_ns", makespan_ns, e.accel_static_power_w * 1e3)
    return pd.DataFrame(rows, columns=["device", "component", "action", "count", "energy_pj"])
