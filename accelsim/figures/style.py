"""One look for every figure: the device palette, column-width sizes and fonts, and atomic PDF + PNG output."""

from __future__ import annotations

import contextlib
import math
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
# Models are told apart by marker and line style (colour is reserved for devices).
MODEL_STYLES: dict[str, dict] = {
    "rm1": {"marker": "o", "linestyle": "-", "color": "#000000"},
    "rm2": {"marker": "s", "linestyle": "--", "color": "#555555"},
    "rm3": {"marker": "^", "linestyle": ":", "color": "#888888"},
}
_FALLBACK_MARKERS = ("D", "v", "P", "X", "*")

COLUMN_WIDTH_IN = 3.5
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
