"""Validation rows, their summary (median / 90th percentile / max absolute error, per regime), and the figure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.config.system import SystemConfig
from accelsim.validate.grid import EmbeddingBagCase



@dataclass(frozen=True)
class Row:
    """One case: measured (median and spread), predicted (both fidelities), their ratio."""

    case: str
    kind: str
    regime: str
    threads: int
    measured_ms: float
    measured_spread: float
    predicted_ms: float
    predicted_analytic_ms: float
    noisy: bool = False     # spread or median over fastest > 10%, or no run on an uncontended core
    quiet_runs: int = -1    # runs the canary called uncontended (accelsim.probe.canary; -1: not known)
    calls_per_run: int = 1  # back-to-back calls in each timed run (accelsim.validate.measure; times are per call)

    @property
    def ratio(self) -> float:
        return self.predicted_ms / self.measured_ms

    def to_dict(self) -> dict:
        """JSON keys of `accelsim validate --json`."""
        return {"case": self.case, "kind": self.kind, "regime": self.regime, "threads": self.threads,
                "measured_ms": self.measured_ms, "measured_spread": self.measured_spread,
                "predicted_ms": self.predicted_ms, "predicted_analytic_ms": self.predicted_analytic_ms,
                "ratio": self.ratio, "noisy": self.noisy, "quiet_runs": self.quiet_runs,
                "calls_per_run": self.calls_per_run}


def regime(case, hw: SystemConfig) -> str:
    """Where a case's working set lives on `hw`: eb_l1 / eb_l2 / eb_llc / eb_dram, or the case kind."""
    if not isinstance(case, EmbeddingBagCase):
        return case.kind
    size = 0
    for i, c in enumerate(hw.cpu.caches):
        size = c.size_bytes if i < hw.cpu.private_cache_levels else size + c.size_bytes
        if case.table_bytes <= size:
            return f"eb_{'llc' if i == len(hw.cpu.caches) - 1 else c.name.lower().rstrip('d')}"
    return "eb_dram"


def _stats(err: np.ndarray) -> dict:
    return {"n": int(err.size), "median_abs_error": float(np.median(err)),
            "p90_abs_error": float(np.percentile(err, 90)), "max_abs_error": float(err.max())}


def summary(rows: list[Row]) -> dict:
    """{'all': stats, 'quiet': stats of rows with spread <= 10%, regime: stats, ...}; error = |ratio - 1|."""
    err = lambda rs: np.array([abs(r.ratio - 1) for r in rs])  # noqa: E731
    out = {"all": _stats(err(rows))}
    quiet = [r for r in rows if not r.noisy]
    if quiet:
        out["quiet"] = _stats(err(quiet))
    for reg in sorted({r.regime for r in rows}):
        out[reg] = _stats(err([r for r in rows if r.regime == reg]))
    twin = np.array([abs(r.predicted_analytic_ms / r.predicted_ms - 1) for r in rows])
    out["analytic_vs_detailed"] = _stats(twin)
    return out


def plot(rows: list[Row], out_dir: Path, name: str, title: str) -> list[Path]:
    """Predicted vs measured, log-log, with the +-15% band; one marker per kind (the CPU's colour: every point
    is the CPU model), hollow when the measurement is noisy."""
    from accelsim.figures.style import DEVICE_COLOURS, new_figure, save_figure, style
    with style():
        fig = new_figure(3.4)
        ax = fig.add_subplot(1, 1, 1)
        lo = min(min(r.measured_ms, r.predicted_ms) for r in rows) / 1.5
        hi = max(max(r.measured_ms, r.predicted_ms) for r in rows) * 1.5
        xs = np.array([lo, hi])
        ax.fill_between(xs, xs / 1.15, xs * 1.15, color="0.88", lw=0, label="within 15%")
        ax.plot(xs, xs, color="0.3", lw=0.8)
        col = DEVICE_COLOURS["cpu"]
        for kind, mk in (("embedding_bag", "o"), ("mlp", "s"), ("dlrm", "^")):
            for noisy in (False, True):
                sel = [r for r in rows if r.kind == kind and r.noisy == noisy]
                if sel:
                    ax.scatter([r.measured_ms for r in sel], [r.predicted_ms for r in sel], marker=mk, s=14,
                               facecolors="none" if noisy else col, edgecolors=col, linewidths=0.7,
                               label=f"{kind}{' (noisy)' if noisy else ''}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("measured: PyTorch on this machine (ms)")
        ax.set_ylabel("predicted: CPU model, detailed (ms)")
        ax.set_title(title)
        ax.legend(loc="upper left")
        ax.text(0.98, 0.02, "noisy: spread or median > 10% over the\nfastest run, or no run on an uncontended core",
                transform=ax.transAxes, ha="right", va="bottom", fontsize="x-small", color="0.3")
        return save_figure(fig, out_dir, name)
