"""One look for every figure: device and DRAM-standard palettes, axis words, the header that states hardware,
workload and fidelity, column-width sizes and fonts, and atomic PDF + PNG output.

Colours are Okabe & Ito's colour-blind-safe set ("Color Universal Design", 2008): a device or a DRAM standard
has one colour in every figure, and every series also differs by marker or line style, so figures read in
greyscale too.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from accelsim.atomic import atomic_path
from accelsim.errors import InputError

# Okabe-Ito colour-blind-safe colours; a device has the same colour in every figure.
DEVICE_COLOURS: dict[str, str] = {
    "cpu": "#0072B2",
    "sparse_engine": "#D55E00",
    "dense_engine": "#E69F00",
    "links": "#009E73",
    "dram": "#CC79A7",
}
DEVICE_LABELS: dict[str, str] = {
    "cpu": "CPU", "sparse_engine": "FPGA sparse engine", "dense_engine": "FPGA dense engine",
    "links": "CPU-FPGA links", "dram": "DRAM",
}
# DRAM standards (the part of `standard` before the speed grade): DDR4 keeps the DRAM device colour (the
# HARPv2 node's DRAM); the others take Okabe-Ito colours no device uses. Presets of one standard differ by marker.
DRAM_STANDARD_COLOURS: dict[str, str] = {"DDR4": "#CC79A7", "DDR5": "#56B4E9", "HBM2": "#000000",
                                         "DDR3": "#F0E442"}
# Axis words for the dotted parameter paths of configs and sweeps; a figure call can override or extend it.
AXIS_LABELS: dict[str, str] = {
    "batch_size": "batch size (samples)",
    "trace.alpha": "Zipf exponent of the trace",
    "hw.accelerator.clock_ghz": "FPGA clock (GHz)",
    "hw.accelerator.sparse_engine.gather_units": "gather units (sparse engine)",
    "hw.accelerator.sparse_engine.outstanding_per_unit": "requests in flight per gather unit",
    "hw.accelerator.sparse_engine.hot_cache_bytes": "FPGA hot-row store (bytes)",
    "hw.accelerator.dense_engine.rows": "systolic array rows (PEs)",
    "hw.accelerator.dense_engine.cols": "systolic array columns (PEs)",
    "hw.links.channels.*.bandwidth_gbps": "CPU–FPGA link bandwidth (GB/s)",
    "hw.dram.channels": "DRAM channels",
    "hw.cpu.cores": "CPU cores",
    "hw.cpu.freq_ghz": "CPU clock (GHz)",
    "latency_ns": "latency (ns)",
    "latency_us": "latency (µs)",
    "energy_per_inference_uj": "energy per inference (µJ)",
    "throughput_samples_per_s": "throughput (samples/s)",
    "embedding_bandwidth_gbps": "effective embedding bandwidth (GB/s)",
}
UNIT_WORDS = {"_gbps": "GB/s", "_ghz": "GHz", "_ns": "ns", "_us": "µs", "_bytes": "bytes", "_uj": "µJ",
              "_cycles": "cycles", "_w": "W", "_kb": "kB"}
# Models are told apart by marker and line style (colour is reserved for devices).
MODEL_STYLES: dict[str, dict] = {
    "rm1": {"marker": "o", "linestyle": "-", "color": "#000000"},
    "rm2": {"marker": "s", "linestyle": "--", "color": "#555555"},
    "rm3": {"marker": "^", "linestyle": ":", "color": "#888888"},
}
_FALLBACK_MARKERS = ("D", "v", "P", "X", "*")

COLUMN_WIDTH_IN = 3.5
CAPTION_CHARS = 95  # caption line length at column width and its font size
PNG_DPI = 300
RC: dict[str, object] = {
    "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "legend.frameon": False, "lines.linewidth": 1.2, "lines.markersize": 4,
    "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6, "axes.spines.top": False,
    "axes.spines.right": False, "pdf.fonttype": 42, "ps.fonttype": 42, "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
}


def require_columns(df, columns: Sequence[str], what: str) -> None:
    """InputError unless `df` has rows and every one of `columns`."""
    missing = set(columns) - set(df.columns)
    if missing or df.empty:
        raise InputError(f"{what}: needs rows with columns {', '.join(columns)} "
                         f"(missing: {', '.join(sorted(missing)) or 'rows'})")


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the figure style for the duration of the block (never changes the global defaults)."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(height_in: float, width_in: float = COLUMN_WIDTH_IN) -> Figure:
    """A figure not registered with pyplot (no global state), with constrained layout."""
    return Figure(figsize=(width_in, height_in), layout="constrained")


def shade(colour: str, amount: float) -> tuple[float, float, float]:
    """`colour` mixed towards black (amount > 0) or white (amount < 0); |amount| = 1 reaches it."""
    rgb = to_rgb(colour)
    if amount >= 0:
        return tuple(c * (1 - amount) for c in rgb)
    return tuple(c + (1 - c) * -amount for c in rgb)


def marker_face(device: str, colour) -> str | tuple:
    """Hollow markers for the CPU, filled for the accelerator's engines: devices differ in greyscale too."""
    return "white" if device == "cpu" else colour


def model_style(model: str, index: int) -> dict:
    """Marker, line style and grey of a model; models without a preset get a marker by position."""
    if model in MODEL_STYLES:
        return dict(MODEL_STYLES[model])
    return {"marker": _FALLBACK_MARKERS[index % len(_FALLBACK_MARKERS)], "linestyle": "-.", "color": "#333333"}


def model_label(model: str) -> str:
    """RM1 for rm1; other names as they are."""
    return model.upper() if model in MODEL_STYLES else model


def save_figure(fig: Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Write `name`.pdf and `name`.png into `out_dir`, each atomically."""
    paths = []
    with style():
        for fmt in ("pdf", "png"):
            path = Path(out_dir) / f"{name}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=PNG_DPI)
            paths.append(path)
    return paths


def batch_axis(ax, batch_sizes: Sequence[int]) -> None:
    """A log2 x axis with one labelled tick per batch size."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(batch_sizes), [str(b) for b in batch_sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("batch size (samples)")


def log_y(ax, lo: float, hi: float) -> None:
    """A log y axis from lo to hi with plain-number ticks on the 1-2-5 sequence (0.2, 0.5, 1, 2, 5, ...)."""
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10.0 ** e <= hi]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())


def dram_colour(standard: str) -> str:
    """The colour of a DRAM standard ('DDR4-2400' and 'DDR4-3200' share DDR4's); grey for one without a colour."""
    return DRAM_STANDARD_COLOURS.get(standard.split("-")[0].upper(), "#777777")


def axis_label(path: str, labels: dict[str, str] | None = None) -> str:
    """Words with a unit for a dotted config path: `labels` first, then AXIS_LABELS, then the path's last name.

    List indices match `*` (hw.links.channels.0.bandwidth_gbps -> the hw.links.channels.*.bandwidth_gbps entry);
    an unknown path reads as its last two names with the unit suffix in brackets (hw.dram.tck_ns -> 'dram tck (ns)').
    """
    table = {**AXIS_LABELS, **(labels or {})}
    generic = ".".join("*" if part.isdigit() else part for part in path.split("."))
    for key in (path, generic):
        if key in table:
            return table[key]
    parts = [p for p in path.split(".") if not p.isdigit() and p not in ("hw", "accelerator")]
    name, unit = parts[-1] if parts else path, ""
    for suffix, word in UNIT_WORDS.items():
        if name.endswith(suffix):
            name, unit = name[: -len(suffix)], f" ({word})"
            break
    words = " ".join([*parts[-2:-1], name]).replace("_", " ")
    return words + unit


def state(fig: Figure, *, hardware: str, workload: str, fidelity: str) -> None:
    """Write what the figure shows under it, as a caption: hardware, workload and simulation fidelity.

    It is the figure's supxlabel (constrained layout keeps it clear of the axes and of a legend above them);
    `stated(fig)` reads it back.
    """
    fig.supxlabel("\n".join(textwrap.fill(f"{k}: {v}", CAPTION_CHARS, subsequent_indent="    ")
                            for k, v in (("hardware", hardware), ("workload", workload), ("fidelity", fidelity))),
                  fontsize=5.5, color="0.25", ha="left", x=0.01, linespacing=1.15)


def stated(fig: Figure) -> dict[str, str]:
    """The hardware, workload and fidelity a figure states (see `state`), unwrapped; empty if it states none."""
    text = fig.get_supxlabel()
    out: dict[str, str] = {}
    for line in text.replace("\n    ", " ").splitlines():
        key, _, value = line.partition(": ")
        out[key] = value
    return out


def distinct(df, column: str) -> str:
    """The distinct values of a table column, in order of appearance, joined by commas."""
    return ", ".join(dict.fromkeys(str(v) for v in df[column]))
