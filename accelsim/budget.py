"""How much work a point asks for, and the budget it must fit in: a typo (`default_batch_size: 128000`) must
be refused with the estimate in a second, not simulate for minutes.

The estimate counts what the cost of a run grows with: the cache-line requests of the embedding gathers
(every fidelity walks them; `detailed` times each through caches, DRAM and links) and, when the functional
model runs, the multiply-accumulates of its MLPs. The limits are about a minute of work on one core at the
rates `benchmarks/fuzz_inputs.py` measures; `ACCELSIM_WORK_SCALE=10` (an environment variable) raises them
tenfold for a run that really is that large.
"""

from __future__ import annotations

import math
import os

from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError

LINE_BYTES = 64
LINE_REQUEST_LIMIT = {"detailed": 2 * 10**7, "analytic": 10**8}
MAC_LIMIT = 5 * 10**10
# The serving loop places ~500 analytic RM1 queries a second on a loaded core (RESULTS.md "Serving"; a small
# model several times that): 2x10^5 is a few minutes, and covers the M/D/1 check of 10^5 queries.
QUERY_LIMIT = 2 * 10**5


def _scale() -> float:
    text = os.environ.get("ACCELSIM_WORK_SCALE", "1")
    try:
        scale = float(text)
    except ValueError:
        raise InputError(f"ACCELSIM_WORK_SCALE: expected a positive number, got {text!r}") from None
    if not (scale > 0 and math.isfinite(scale)):
        raise InputError(f"ACCELSIM_WORK_SCALE: expected a positive number, got {text!r}")
    return scale


def mlp_macs_per_sample(spec: ModelSpec) -> int:
    """Multiply-accumulates of one sample through the bottom and top MLPs."""
    return sum(i * o for i, o in (*spec.bottom_layers, *spec.top_layers))


def check_work(spec: ModelSpec, samples: int, lookups: float, fidelity: str, functional: bool, *,
               where: str) -> None:
    """Refuse a run whose estimated work exceeds the budget, naming the estimate and what drives it."""
    scale = _scale()
    lines = lookups * math.ceil(spec.row_bytes / LINE_BYTES)
    limit = LINE_REQUEST_LIMIT[fidelity] * scale
    if lines > limit:
        raise InputError(f"{fidelity} run of {samples} samples x {lookups / samples:.0f} lookups needs ~{lines:.3g} "
                         f"line requests, over the budget of {limit:.3g} (lower batch_size / batches, or set "
                         f"ACCELSIM_WORK_SCALE to raise the budget)", source=where)
    macs = samples * mlp_macs_per_sample(spec) if functional else 0
    if macs > MAC_LIMIT * scale:
        raise InputError(f"the functional model of {samples} samples needs ~{macs:.3g} multiply-accumulates, over "
                         f"the budget of {MAC_LIMIT * scale:.3g} (lower batch_size / batches, run with "
                         f"functional: false, or set ACCELSIM_WORK_SCALE)", source=where)


def check_serve_work(spec: ModelSpec, queries: int, samples: int, fidelity: str, *, where: str) -> None:
    """Refuse a query stream over the budget: too many queries for the serving loop, or (detailed) too many
    line requests over all its samples."""
    limit = QUERY_LIMIT * _scale()
    if queries > limit:
        raise InputError(f"serve.queries: {queries} queries, over the budget of {limit:.3g} (lower queries, or set "
                         f"ACCELSIM_WORK_SCALE to raise the budget)", source=where)
    if fidelity == "detailed":
        check_work(spec, samples, samples * spec.mean_lookups_per_sample, fidelity, False, where=where)
