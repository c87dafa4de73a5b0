"""Energy after the run: action counts x energy per action, plus static power x time (Accelergy style)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from accelsim.config.energy import EnergyConfig
from accelsim.config.system import SystemConfig


def energy_table(hw: SystemConfig, counters: pd.DataFrame, makespan_ns: float) -> pd.DataFrame:
    """One row per (device, component, action): count and energy_pj. Changing `hw.energy` needs no re-run."""
    e: EnergyConfig = hw.energy
    rows: list[tuple[str, str, str, float, float]] = []
    # Rows grouped by (device, counter) in one pass, not a frame filter per action; each group summed as before.
    groups: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(zip(counters["device"].tolist(), counters["counter"].tolist())):
        groups.setdefault(key, []).append(i)
    values = counters["value"].to_numpy(dtype=float)

    def _count(device: str, counter: str) -> float:
        idx = groups.get((device, counter))
        if not idx:
            return 0.0
        return float(np.nansum(values[idx]))  # Series.sum's arithmetic: NaN as nothing, then numpy's sum

    def add(device: str, component: str, action: str, count: float, pj_each: float) -> None:
        rows.append((device, component, action, count, count * pj_each))

    add("cpu", "cores", "core_ns", _count("cpu", "core_ns"), e.cpu_core_active_power_w * 1e3)  # W*ns = nJ
    add("cpu", "package", "static_ns", makespan_ns, e.cpu_static_power_w * 1e3)
    for lvl, (cache, pj) in enumerate(zip(hw.cpu.caches, e.cache_access_pj_per_line)):
        add("cpu", cache.name, "line_accesses", _count("cpu", f"{cache.name}_accesses"), pj)
    add("dram", "banks", "device_activates", _count("dram", "device_activates"), e.dram_device_activate_pj)
    rw_bits = 8 * (_count("dram", "bytes_read") + _count("dram", "bytes_written"))
    add("dram", "io", "bits", rw_bits, e.dram_rw_pj_per_bit)
    add("dram", "background", "static_ns", makespan_ns, e.dram_static_power_w * 1e3)
    if hw.accelerator is not None:
        add("links", "wires", "bits", _count("links", "wire_bits"), e.link_pj_per_bit)
        add("dense_engine", "pe_array", "macs", _count("dense_engine", "macs"), e.accel_mac_pj)
        sram = _count("dense_engine", "sram_bytes") + _count("sparse_engine", "sram_bytes")
        add("accelerator", "sram", "bytes", sram, e.accel_sram_pj_per_byte)
        add("sparse_engine", "reducer", "adds", _count("sparse_engine", "reduce_adds"), e.accel_add_pj)
        add("accelerator", "fabric", "static_ns", makespan_ns, e.accel_static_power_w * 1e3)
    columns = ("device", "component", "action", "count", "energy_pj")
    return pd.DataFrame({c: [r[i] for r in rows] for i, c in enumerate(columns)})
