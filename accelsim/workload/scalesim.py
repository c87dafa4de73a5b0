"""SCALE-Sim v2 input files: topology CSVs (conv or M,N,K layers) and `.cfg` array configs.

Topology (scalesim/topology_utils.py): a header row, then one layer per row,
`Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,` (an optional
ninth column gives the column stride; one stride is used for both), rows usually ending in a comma. A layer
whose name contains `DP` is depth-wise: SCALE-Sim runs it as `Channels` layers of one channel each. The GEMM
form (`Layer, M, N, K,`) is recognised by its header.

A conv layer is lowered as SCALE-Sim lowers it: ofmap = ceil((ifmap - filter + stride) / stride) per side,
M = ofmap pixels, N = filters, K = filter height x width x channels (the im2col window).

Config (scalesim/scale_config.py): `[general] run_name`, `[architecture_presets] ArrayHeight, ArrayWidth,
IfmapSramSzkB, FilterSramSzkB, OfmapSramSzkB, IfmapOffset, FilterOffset, OfmapOffset, Dataflow, Bandwidth,
MemoryBanks`, `[run_presets] InterfaceBandwidth = CALC | USER`, `[network_presets] TopologyCsvLoc`. The address
offsets, bank count and topology path only place SCALE-Sim's address traces and run_name names its output
folder: accelsim reads and ignores them.
"""

from __future__ import annotations

import configparser
import csv
import math
from dataclasses import dataclass
from pathlib import Path

from accelsim.config.base import MAX_INT, read_ini
from accelsim.errors import InputError
from accelsim.hw.systolic import DATAFLOWS

CONV_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")
GEMM_COLUMNS = ("Layer", "M", "N", "K")
# scale_config.py's defaults, used for what neither a .cfg nor the command line gives.
DEFAULT_SRAM_KB = {"ifmap": 256, "filter": 256, "ofmap": 128}


@dataclass(frozen=True)
class TopologyLayer:
    """One layer of a topology, as the GEMM out[m, n] = A[m, k] @ B[k, n] the array runs."""

    name: str
    m: int
    k: int
    n: int
    source_line: int  # line of the topology file it came from (1-based)


@dataclass(frozen=True)
class ScaleSimConfig:
    """The fields of a SCALE-Sim .cfg that change cycles or traffic."""

    rows: int
    cols: int
    dataflow: str
    ifmap_sram_kb: int
    filter_sram_kb: int
    ofmap_sram_kb: int
    user_bandwidth_words_per_cycle: int | None  # InterfaceBandwidth USER: first Bandwidth; CALC: None

MAX_ARRAY = 2**12  # rows or columns of a PE array, as DenseEngineConfig allows
# Layers of a topology once depth-wise ones are cut per channel: each is simulated alone, ~0.1 ms of CPU (16,384
# channels took 1.9 CPU s, 2026-12-02), so 2^16 is seconds; real depth-wise layers have a few thousand channels.
MAX_LAYERS = 2**16

def _int_field(text: str, what: str, where: str, minimum: int = 1, maximum: int = MAX_INT) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise InputError(f"{what}: expected an integer, got {text.strip()!r}", source=where) from None
    if value < minimum:
        raise InputError(f"{what}: expected an integer >= {minimum}, got {value}", source=where)
    if value > maximum:  # as in every config: no array, SRAM or layer reaches 2^48
        raise InputError(f"{what}: {value} is larger than any machine or model has (limit {maximum})", source=where)
    return value


def conv_as_gemm(ifmap_h: int, ifmap_w: int, filter_h: int, filter_w: int, channels: int, filters: int,
                 stride_h: int, stride_w: int) -> tuple[int, int, int]:
    """(M, K, N) of a conv layer in SCALE-Sim's lowering (no padding; ofmap from the valid windows)."""
    ofmap_h = math.ceil((ifmap_h - filter_h + stride_h) / stride_h)
    ofmap_w = math.ceil((ifmap_w - filter_w + stride_w) / stride_w)
    return ofmap_h * ofmap_w, filter_h * filter_w * channels, filters


def read_topology(path: str | Path) -> list[TopologyLayer]:
    """Every layer of a SCALE-Sim topology CSV (conv or GEMM form), each lowered to its GEMM."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read topology: {getattr(err, 'strerror', None) or err}", source=str(path)) from None
    rows = [(i + 1, [f.strip() for f in row]) for i, row in enumerate(csv.reader(text.splitlines()))]
    rows = [(line, row[:-1] if row and row[-1] == "" else row) for line, row in rows if any(row)]
    if not rows:
        raise InputError("empty topology: expected a header row and one row per layer", source=str(path))
    header = rows[0][1]
    gemm = [h.upper() for h in header[1:4]] == ["M", "N", "K"] and len(header) == 4
    if not gemm and len(header) not in (8, 9):
        raise InputError(f"line {rows[0][0]}: header has {len(header)} columns; expected SCALE-Sim's conv form "
                         f"({', '.join(CONV_COLUMNS)}[, Stride width]) or its GEMM form ({', '.join(GEMM_COLUMNS)})",
                         source=str(path))
    layers: list[TopologyLayer] = []
    for line, row in rows[1:]:
        where = f"{path}:{line}"
        if len(row) != len(header):
            raise InputError(f"{len(row)} fields, expected {len(header)} as in the header", source=where)
        name = row[0]
        if gemm:
            m, n, k = (_int_field(v, col, where) for v, col in zip(row[1:], GEMM_COLUMNS[1:]))
            layers.append(TopologyLayer(name, m, k, n, line))
            continue
        cols = [*CONV_COLUMNS[1:], "Stride width"]
        ih, iw, fh, fw, ch, nf, sh, *sw = (_int_field(v, col, where) for v, col in zip(row[1:], cols))
        if fh > ih or fw > iw:
            raise InputError(f"filter {fh}x{fw} is larger than the ifmap {ih}x{iw}", source=where)
        # Depth-wise: one single-channel layer per channel (SCALE-Sim names them <name>Channel_<i>).
        if len(layers) + (ch if "DP" in name else 1) > MAX_LAYERS:
            raise InputError(f"Channels: {ch} depth-wise channels are {ch} single-channel layers, more than the "
                             f"{MAX_LAYERS} layers a topology may hold", source=where)
        for i in range(ch) if "DP" in name else [None]:
            m, k, n = conv_as_gemm(ih, iw, fh, fw, 1 if i is not None else ch, 1 if i is not None else nf, sh,
                                   sw[0] if sw else sh)
            layers.append(TopologyLayer(name if i is None else f"{name}Channel_{i}", m, k, n, line))
    if not layers:
        raise InputError("no layers after the header row", source=str(path))
    return layers


_KNOWN = {
    "general": {"run_name"},
    "architecture_presets": {"arrayheight", "arraywidth", "ifmapsramszkb", "filtersramszkb", "ofmapsramszkb",
                             "ifmapoffset", "filteroffset", "ofmapoffset", "dataflow", "bandwidth", "memorybanks"},
    "run_presets": {"interfacebandwidth"},
    "network_presets": {"topologycsvloc"},
}


def read_scalesim_config(path: str | Path) -> ScaleSimConfig:
    """The array, buffers and interface bandwidth of a SCALE-Sim .cfg; unknown sections or keys are errors."""
    path = Path(path)
    parser = configparser.ConfigParser()
    read_ini(path, parser, "a SCALE-Sim config (INI) file")
    for section in parser.sections():
        if section not in _KNOWN:
            raise InputError(f"unknown section [{section}]; expected {', '.join(f'[{s}]' for s in _KNOWN)}",
                             source=str(path))
        unknown = sorted(set(parser[section]) - _KNOWN[section])
        if unknown:
            raise InputError(f"[{section}]: unknown key(s) {', '.join(unknown)}", source=str(path))

    def get(section: str, key: str) -> str:
        if not parser.has_option(section, key):
            raise InputError(f"[{section}] {key}: missing", source=str(path))
        return parser.get(section, key).strip().strip('"')

    arch = "architecture_presets"
    where = str(path)
    dataflow = get(arch, "Dataflow").lower()
    if dataflow not in DATAFLOWS:
        raise InputError(f"[{arch}] Dataflow: expected one of {', '.join(DATAFLOWS)}, got {dataflow!r}", source=where)
    mode = get("run_presets", "InterfaceBandwidth").upper() if parser.has_section("run_presets") else "CALC"
    if mode not in ("CALC", "USER"):
        raise InputError(f"[run_presets] InterfaceBandwidth: expected CALC or USER, got {mode!r}", source=where)
    bandwidth = None
    if mode == "USER":
        words = [w for w in get(arch, "Bandwidth").split(",") if w.strip()]
        if not words:
            raise InputError(f"[{arch}] Bandwidth: USER mode needs words per cycle", source=where)
        # single_layer_sim.py feeds all three buffers from the first bank's bandwidth.
        bandwidth = _int_field(words[0], f"[{arch}] Bandwidth", where)
    return ScaleSimConfig(
        rows=_int_field(get(arch, "ArrayHeight"), f"[{arch}] ArrayHeight", where, maximum=MAX_ARRAY),
        cols=_int_field(get(arch, "ArrayWidth"), f"[{arch}] ArrayWidth", where, maximum=MAX_ARRAY),
        dataflow=dataflow,
        ifmap_sram_kb=_int_field(get(arch, "IfmapSramSzkB"), f"[{arch}] IfmapSramSzkB", where),
        filter_sram_kb=_int_field(get(arch, "FilterSramSzkB"), f"[{arch}] FilterSramSzkB", where),
        ofmap_sram_kb=_int_field(get(arch, "OfmapSramSzkB"), f"[{arch}] OfmapSramSzkB", where),
        user_bandwidth_words_per_cycle=bandwidth,
    )
