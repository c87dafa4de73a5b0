"""Real PyTorch timings of the validation cases on this machine (the inputs the predictions replay too).

One-thread cases are timed on the calling thread's CPU clock (other processes' time slices do not count; see
accelsim.probe.repeat). Multi-thread cases need the wall clock (a fork/join operator ends with its slowest
thread), and on a machine shared with other work a run whose peer thread waits for a core takes whole scheduler
slices longer (on the project's 2-core guest: +4, +8, +12 ms). Every case reports its fastest run, as the probes
do (the estimate least moved by other work on the host; accelsim.probe.repeat) among the runs the canary calls
uncontended (accelsim.probe.canary), and counts as noisy when its median is > 10% above it, its last runs spread
by more than 10%, or no run was uncontended. A timed run is the case's call repeated back to back for about 2 ms
and reported per call (accelsim.probe.repeat.repeat_calls: a call timed alone pays a cold start the model does
not describe). A grid is timed in passes (`measure_grid`):
each case a share of its budget in every pass, its best pass kept, so that every case gets several chances at
the host's uncontended state, as the probes' rounds do (accelsim.probe.repeat.best).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec, load_workload
from accelsim.probe.canary import canary
from accelsim.probe.repeat import Timing, best, repeat_calls
from accelsim.validate.grid import DlrmCase, EmbeddingBagCase, MlpCase
from accelsim.workload.trace import Batch

BUDGET_S = 2.0   # per case, over all passes
PASSES = 8
NOISY = 0.10


@dataclass(frozen=True)
class Measured:
    """A case's timing and the inputs it ran on."""

    timing: Timing
    time_ns: float                  # fastest run, as the probes report (accelsim.probe.repeat)
    noisy: bool                     # spread > 10%, median > 1.1 x fastest, or no run on an uncontended core
    batch: Batch | None = None      # the bags (embedding_bag, dlrm)
    spec: ModelSpec | None = None   # the model the bags belong to
    calls_per_run: int = 1          # back-to-back calls a timed run (the most of any pass; the timing is per call)


def _clock(threads: int):
    return time.thread_time_ns if threads == 1 else time.perf_counter_ns


def _noisy(timing: Timing) -> bool:
    return (timing.spread > NOISY or timing.median_ns > (1 + NOISY) * timing.min_ns) or timing.quiet_runs == 0


def _measured(fn: Callable[[], object], threads: int, budget_s: float, warmup: int,
              batch: Batch | None = None, spec: ModelSpec | None = None) -> Measured:
    timing, n = repeat_calls(fn, budget_s=budget_s, warmup=warmup, clock=_clock(threads), canary=canary())
    return Measured(timing, timing.min_ns, _noisy(timing), batch, spec, n)


def eb_spec(case: EmbeddingBagCase) -> ModelSpec:
    """The one-table model of an EmbeddingBag case (its MLPs unused)."""
    return parse_model(ModelSpec, {
        "name": case.name, "source": "accelsim validate: one table built in code", "embedding_dim": case.dim,
        "tables": [{"rows": case.rows, "lookups_per_sample": case.lookups}], "bottom_mlp": [case.dim],
        "top_mlp": [1], "interaction": "dot"}, source=case.name)


def dlrm_spec(case: DlrmCase) -> ModelSpec:
    """The case's workload with every table cut to at most `max_rows` rows."""
    d = load_workload(case.workload).model_dump(mode="json")
    for t in d["tables"]:
        t["rows"] = min(t["rows"], case.max_rows)
    d["name"] = case.name
    return parse_model(ModelSpec, d, source=case.name)


def case_inputs(case, seed: int = 0) -> tuple[Batch | None, ModelSpec | None]:
    """(bags, model) a case runs on, from `seed`: one synthetic table's batch, or the DLRM's generated inputs'
    bags; (None, None) for an MLP."""
    if isinstance(case, EmbeddingBagCase):
        from accelsim.workload.synth import synth_batches
        spec = eb_spec(case)
        return next(synth_batches(spec, dist=case.dist, batches=1, batch_size=case.batch, seed=seed,
                                  alpha=case.alpha)), spec
    if isinstance(case, DlrmCase):
        from accelsim.workload.torch_model import generate_inputs
        spec = dlrm_spec(case)
        return generate_inputs(spec, case.batch, seed, 0)[1], spec
    return None, None


def warm_up(case, seed: int = 0, budget_s: float = BUDGET_S / 4) -> None:
    """Time `case` once and discard it: a process's first torch calls pay lazy initialisation and the core's
    clock ramp (the first case of the 2026-12-01 idle run measured 2x its twin with other indices)."""
    measure(case, seed, budget_s)


def measure(case, seed: int = 0, budget_s: float = BUDGET_S) -> Measured:
    """Time one case with torch at its thread count."""
    import torch
    prev = torch.get_num_threads()
    torch.set_num_threads(case.threads)
    try:
        with torch.no_grad():
            if isinstance(case, EmbeddingBagCase):
                return _embedding_bag(case, seed, budget_s)
            if isinstance(case, MlpCase):
                return _mlp(case, seed, budget_s)
            return _dlrm(case, seed, budget_s)
    finally:
        torch.set_num_threads(prev)


def measure_grid(cases: Sequence, seed: int = 0, budget_s: float = BUDGET_S, passes: int = PASSES,
                 progress: Callable[[str], None] | None = None) -> list[Measured]:
    """Time every case in `passes` passes over the grid (budget_s / passes each), keeping each case's best pass
    (its fastest run; runs of all passes counted)."""
    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    got: list[list[Measured]] = [[] for _ in cases]
    for p in range(passes):
        for i, case in enumerate(cases):
            if progress:
                progress(f"pass {p + 1}/{passes} [{i + 1}/{len(cases)}] {case.name}")
            got[i].append(measure(case, seed, budget_s / passes))
    out = []
    for ms in got:
        timing = best([m.timing for m in ms])
        out.append(Measured(timing, timing.min_ns, _noisy(timing), ms[0].batch, ms[0].spec,
                            max(m.calls_per_run for m in ms)))
    return out


def _embedding_bag(case: EmbeddingBagCase, seed: int, budget_s: float) -> Measured:
    import torch

    batch, spec = case_inputs(case, seed)
    from accelsim.workload.torch_model import torch_table
    # allocated as PyTorch allocates a table (and the project's TorchDlrm does): aligned, on the pages it gets
    table = torch_table(np.random.default_rng(seed).random((case.rows, case.dim), dtype=np.float32))
    bag = torch.nn.EmbeddingBag(case.rows, case.dim, mode="sum", include_last_offset=True, _weight=table)
    t = batch.tables[0]
    ids, off = torch.from_numpy(np.array(t.indices)), torch.from_numpy(np.array(t.offsets))
    return _measured(lambda: bag(ids, off), case.threads, budget_s, 3, batch, spec)


def _mlp(case: MlpCase, seed: int, budget_s: float) -> Measured:
    import torch
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(case.widths[:-1], case.widths[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers)
    x = torch.randn(case.batch, case.widths[0])
    return _measured(lambda: net(x), case.threads, budget_s, 3)


def _dlrm(case: DlrmCase, seed: int, budget_s: float) -> Measured:
    import torch

    from accelsim.workload.torch_model import build_torch_dlrm, generate_inputs, torch_bags
    spec = dlrm_spec(case)
    model = build_torch_dlrm(spec, seed)
    dense, batch = generate_inputs(spec, case.batch, seed, 0)
    x, bags = torch.from_numpy(dense), torch_bags(batch)
    return _measured(lambda: model(x, bags), case.threads, budget_s, 2, batch, spec)
