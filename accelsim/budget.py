"""How much work a point asks for, and the budget it must fit in: a typo (`default_batch_size: 128000`) must
be refused with the estimate in a second, not simulate for minutes.

The estimate counts what the cost of a run grows with: the cache-line requests of the embedding gathers
(every fidelity walks them; `detailed` times each through caches, DRAM and links) and, when the functional
model runs, the multiply-accumulates of its MLPs. The limits are about a minute of work on one core at the
rates `benchmarks/fuzz_inputs.py` measures; `ACCELSIM_WORK_SCALE=10` (an environment variable) raises them
tenfold for a run that really is that large.

A serving run's loop grows with its batches (samples / batch size; `split` cuts each query on its own), and
each batch costs a fixed part plus a part per action counter it records (the schedule's Timeline placement,
the sharing model, the counters frame and the energy table all walk them): measured with
`benchmarks/bench_serve.py --rates` (RESULTS.md "Serving loop rates", CPU seconds, 2026-12-02, load 3):
193 us a batch at 64 counters (cpu_only), 326 us at 116 (sparse_offload), 615 us at 252 (centaur; 428 us
without sharing), and 169 / 695 us for the fuzz harness's small model on cpu_only / centaur: ~50 us + ~2.5 us
a counter, rounded up. `detailed` times every batch on its own, ~27-53 ms a small batch (rm1 and the fuzz
model, 1-4 samples) beyond its line requests. The loop's budget is 60 CPU s, about a minute like the other
limits here: the M/D/1 check (10^5 single-sample cpu_only batches, ~44 s estimated since the CPU MLPs record
their memory counters) fits, as does a stream of 20 queries of 10,337 samples in batches of 4 through centaur
(~52,000 batches, ~35 s: bounded); 20 queries of 54,262 (~271,000 batches, ~184 s) do not.
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
SERVE_LOOP_LIMIT_S = 60.0
SERVE_BATCH_S = {"analytic": 50e-6, "detailed": 30e-3}
SERVE_COUNTER_S = 2.5e-6
DETAILED_LINE_S = 60.0 / LINE_REQUEST_LIMIT["detailed"]  # the detailed line budget is about a minute


def work_scale() -> float:
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
    scale = work_scale()
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
    limit = QUERY_LIMIT * work_scale()
    if queries > limit:
        raise InputError(f"serve.queries: {queries} queries, over the budget of {limit:.3g} (lower queries, or set "
                         f"ACCELSIM_WORK_SCALE to raise the budget)", source=where)
    if fidelity == "detailed":
        check_work(spec, samples, samples * spec.mean_lookups_per_sample, fidelity, False, where=where)


def serve_batches(sizes: list[int], batch_size: int, policy: str, offload_threshold: int | None) -> int:
    """Batches a query stream becomes, at least: `split` cuts each query alone (offloaded ones whole), the
    other policies fill batches of `batch_size` (a `dynamic` timeout only adds partial ones)."""
    if policy == "split":
        cut = [s for s in sizes if offload_threshold is None or s < offload_threshold]
        return sum(-(-s // batch_size) for s in cut) + len(sizes) - len(cut)
    return -(-sum(sizes) // batch_size)


def check_serve_loop(spec: ModelSpec, samples: int, batches: int, counters_per_batch: int, fidelity: str, *,
                     where: str) -> None:
    """Refuse a serving run whose loop would run past its budget, with the estimate and what drives it."""
    est_s = batches * (SERVE_BATCH_S[fidelity] + counters_per_batch * SERVE_COUNTER_S)
    if fidelity == "detailed":
        est_s += samples * spec.mean_lookups_per_sample * math.ceil(spec.row_bytes / LINE_BYTES) * DETAILED_LINE_S
    limit = SERVE_LOOP_LIMIT_S * work_scale()
    if est_s > limit:
        raise InputError(f"{fidelity} serving of ~{batches} batches x {counters_per_batch} counters needs ~{est_s:.3g} "
                         f"CPU s, over the budget of {limit:.3g} s (raise batch_size, lower serve.queries or "
                         f"serve.query_size, or set ACCELSIM_WORK_SCALE to raise the budget)", source=where)
