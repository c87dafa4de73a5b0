"""Every layer of a SCALE-Sim topology on one systolic array, reported in SCALE-Sim's report columns.

Cycles are `systolic.gemm_cycles` (SCALE-Sim v2's closed forms), so a layer's Total Cycles equal `accelsim gemm`
on its GEMM. Traffic is the dense engine's fold-order model (`dense_engine`): SRAM reads are what the array
pulls from each buffer, DRAM reads what fills them, DRAM writes what drains the ofmap buffer. Words are one
byte, as in SCALE-Sim (`word_size = 1`).

InterfaceBandwidth CALC (SCALE-Sim's bandwidth-estimation mode) has no stalls: Total Cycles = compute cycles
and the DRAM columns are the bandwidth the layer would need. USER gives the DRAM port's words per cycle; then
the double-buffered engine's overlap model adds the stall cycles (exposed first fill, last drain, and any
steady state where the port is slower than compute). That is a bound-based overlap, not SCALE-Sim's
request-by-request stall trace.

A conv layer's ifmap operand is its im2col matrix (M x K): DRAM IFMAP Reads count a pixel once per window that
uses it when the operand must be fetched, where SCALE-Sim's address-level buffer would hit on the repeats. For
conv layers whose ifmap fits its SRAM this overstates ifmap DRAM traffic by up to the window overlap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from accelsim.hw.systolic import gemm_cycles
from accelsim.workload.scalesim import ScaleSimConfig, TopologyLayer

WORD_BYTES = 1  # SCALE-Sim single_layer_sim.py: word_size = 1 byte
_UNBOUNDED_PORT = 1 << 40  # CALC mode: DRAM never throttles the buffers

# SCALE-Sim's report files and their columns, with the LayerReport field behind each.
REPORTS: dict[str, tuple[tuple[str, str], ...]] = {
    "COMPUTE_REPORT.csv": (("Total Cycles", "total_cycles"), ("Stall Cycles", "stall_cycles"),
                           ("Overall Util %", "overall_util_pct"), ("Mapping Efficiency %", "mapping_efficiency_pct"),
                           ("Compute Util %", "compute_util_pct")),
    "BANDWIDTH_REPORT.csv": (("Avg IFMAP SRAM BW", "ifmap_sram_bw"), ("Avg FILTER SRAM BW", "filter_sram_bw"),
                             ("Avg OFMAP SRAM BW", "ofmap_sram_bw"), ("Avg IFMAP DRAM BW", "ifmap_dram_bw"),
                             ("Avg FILTER DRAM BW", "filter_dram_bw"), ("Avg OFMAP DRAM BW", "ofmap_dram_bw")),
    "DETAILED_ACCESS_REPORT.csv": (("SRAM IFMAP Reads", "ifmap_sram_reads"), ("SRAM Filter Reads", "filter_sram_reads"),
                                   ("SRAM OFMAP Writes", "ofmap_sram_writes"), ("DRAM IFMAP Reads", "ifmap_dram_reads"),
                                   ("DRAM Filter Reads", "filter_dram_reads"),
                                   ("DRAM OFMAP Writes", "ofmap_dram_writes")),
}


@dataclass(frozen=True)
class LayerReport:
    """One layer's SCALE-Sim report items: cycles, utilisation (%), words moved and words per cycle."""

    layer_id: int
    name: str
    m: int
    k: int
    n: int
    compute_cycles: int
    total_cycles: int
    stall_cycles: int
    overall_util_pct: float  # MACs / (PEs x Total Cycles)
    mapping_efficiency_pct: float  # mapped PEs / PEs, averaged over folds
    compute_util_pct: float  # MACs / (PEs x compute cycles): Overall Util without the stalls
    ifmap_sram_reads: int
    filter_sram_reads: int
    ofmap_sram_writes: int
    ifmap_dram_reads: int
    filter_dram_reads: int
    ofmap_dram_writes: int  # includes partial-sum spills when an output tile does not fit the ofmap buffer
    ifmap_sram_bw: float  # words per cycle over Total Cycles, as the columns below
    filter_sram_bw: float
    ofmap_sram_bw: float
    ifmap_dram_bw: float
    filter_dram_bw: float
    ofmap_dram_bw: float

    def as_dict(self) -> dict:
        """Plain dict of every field."""
        return asdict(self)


def _engine(cfg: ScaleSimConfig):
    from accelsim.config.accel import DenseEngineConfig
    from accelsim.config.base import parse_model
    from accelsim.hw.dense_engine import DenseEngine

    port = cfg.user_bandwidth_words_per_cycle
    ec = parse_model(DenseEngineConfig, dict(  # --rows / --cols may exceed what a config allows: named, not raised
        rows=cfg.rows, cols=cfg.cols, dataflow=cfg.dataflow, precision="int8", dsp_per_pe=1.0, alms_per_pe=0,
        ifmap_buffer_bytes=cfg.ifmap_sram_kb * 1024, filter_buffer_bytes=cfg.filter_sram_kb * 1024,
        ofmap_buffer_bytes=cfg.ofmap_sram_kb * 1024,
        offchip_port_bytes_per_cycle=_UNBOUNDED_PORT if port is None else port * WORD_BYTES,
        sources={"*": "SCALE-Sim .cfg (dsp_per_pe, alms_per_pe: FPGA costs, unused here)"}), source="systolic array")
    # Cycles are counted in array cycles; the clock only scales time_ns, which no report column uses.
    return DenseEngine(ec, clock_ghz=1.0)


def run_topology(layers: Sequence[TopologyLayer], cfg: ScaleSimConfig) -> list[LayerReport]:
    """SCALE-Sim's compute, bandwidth and access report items of every layer, in order."""
    engine = _engine(cfg)
    pes = cfg.rows * cfg.cols
    out = []
    for i, layer in enumerate(layers):
        cyc = gemm_cycles(cfg.rows, cfg.cols, cfg.dataflow, layer.m, layer.k, layer.n)
        t = engine.gemm(layer.m, layer.k, layer.n)
        total = cyc.compute_cycles if cfg.user_bandwidth_words_per_cycle is None else t.total_cycles
        read_back = t.offchip_bytes_read - t.ifmap_sram_write_bytes - t.filter_sram_write_bytes
        sram = (t.ifmap_sram_read_bytes, t.filter_sram_read_bytes, t.ofmap_sram_write_bytes - read_back)
        dram = (t.ifmap_sram_write_bytes, t.filter_sram_write_bytes, t.offchip_bytes_written)
        sr_sc = cyc.pe_active_cycles // cyc.cycles_per_fold  # mapped PEs summed over folds
        words = [b // WORD_BYTES for b in (*sram, *dram)]
        out.append(LayerReport(
            layer_id=i, name=layer.name, m=layer.m, k=layer.k, n=layer.n,
            compute_cycles=cyc.compute_cycles, total_cycles=total, stall_cycles=total - cyc.compute_cycles,
            overall_util_pct=100 * cyc.macs / (pes * total),
            mapping_efficiency_pct=100 * sr_sc / (pes * cyc.folds),
            compute_util_pct=100 * cyc.macs / (pes * cyc.compute_cycles),
            ifmap_sram_reads=words[0], filter_sram_reads=words[1], ofmap_sram_writes=words[2],
            ifmap_dram_reads=words[3], filter_dram_reads=words[4], ofmap_dram_writes=words[5],
            ifmap_sram_bw=words[0] / total, filter_sram_bw=words[1] / total, ofmap_sram_bw=words[2] / total,
            ifmap_dram_bw=words[3] / total, filter_dram_bw=words[4] / total, ofmap_dram_bw=words[5] / total,
        ))
    return out


def report_csv(reports: Sequence[LayerReport], report: str) -> str:
    """One of SCALE-Sim's report files (see REPORTS) as text, in its `LayerID, col, ...,` layout."""
    cols = REPORTS[report]
    lines = ["LayerID, " + ", ".join(c for c, _ in cols) + ","]
    for r in reports:
        d = r.as_dict()
        lines.append(f"{r.layer_id}, " + ", ".join(_fmt(d[f]) for _, f in cols) + ",")
    return "\n".join(lines) + "\n"


def _fmt(v: int | float) -> str:
    return str(v) if isinstance(v, int) else f"{v:.6g}"
