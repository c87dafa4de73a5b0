"""Run a validation grid: measure each case, predict it on the hardware config, collect the rows."""

from __future__ import annotations

from collections.abc import Callable

from accelsim.config.system import SystemConfig
from accelsim.errors import InputError
from accelsim.validate.grid import DlrmCase, EmbeddingBagCase, Grid, MlpCase
from accelsim.validate.measure import BUDGET_S, PASSES, dlrm_spec, eb_spec, measure_grid, warm_up
from accelsim.validate.predict import predict
from accelsim.validate.report import Row, regime

MEMORY_FRACTION = 0.5  # a case may use at most half the free memory


def _check_fits(case, where: str | None) -> None:
    import os
    need = case.table_bytes if isinstance(case, EmbeddingBagCase) else (
        sum(t.rows for t in dlrm_spec(case).table_list) * dlrm_spec(case).embedding_dim * 4
        if isinstance(case, DlrmCase) else 0)
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if need > avail * MEMORY_FRACTION:
        raise InputError(f"case {case.name}: its tables need {need / 2**30:.2f} GiB, more than half of the "
                         f"{avail / 2**30:.2f} GiB of free memory", source=where)


def _check_work(i: int, case, where: str | None) -> None:
    """A case whose one call is past the run budget (accelsim.budget: the detailed prediction walks its line
    requests, torch its multiply-accumulates) is refused before anything is timed, naming its field."""
    from accelsim.budget import MAC_LIMIT, check_work, work_scale
    at = f"{where}: cases.{i}" if where else f"cases.{i}"
    if isinstance(case, MlpCase):
        macs = case.batch * sum(a * b for a, b in zip(case.widths, case.widths[1:]))
        if macs > MAC_LIMIT * work_scale():
            raise InputError(f"{case.name}: batch x widths is ~{macs:.3g} multiply-accumulates, over the budget "
                             f"of {MAC_LIMIT * work_scale():.3g} (lower batch or widths, or set ACCELSIM_WORK_SCALE)",
                             source=at)
        return
    try:
        spec = eb_spec(case) if isinstance(case, EmbeddingBagCase) else dlrm_spec(case)
    except InputError as err:  # named by the case's own name: say which case of which file
        raise InputError(str(err), source=at) from None
    check_work(spec, case.batch, case.batch * spec.mean_lookups_per_sample, "detailed", isinstance(case, DlrmCase),
               where=at)


def check_grid(hw: SystemConfig, grid: Grid, where: str | None = None) -> None:
    """Refuse a grid whose cases this machine or the work budget cannot take, before anything is timed."""
    for i, case in enumerate(grid.cases):
        if case.threads > hw.cpu.cores:
            raise InputError(f"cases.{i}.threads: {case.name} has {case.threads} threads, but {hw.name} has "
                             f"{hw.cpu.cores} cores", source=where)
        _check_work(i, case, where)
        _check_fits(case, where)


def validate(hw: SystemConfig, grid: Grid, *, seed: int = 0, budget_s: float = BUDGET_S, passes: int = PASSES,
             progress: Callable[[str], None] | None = None, where: str | None = None) -> list[Row]:
    """One row per case: torch measured here (`passes` passes over the grid, each case's best kept), the
    model's prediction on `hw` (both fidelities).

    `where`: the grid's file, named by the errors about its cases."""
    check_grid(hw, grid, where)
    if grid.cases:
        warm_up(grid.cases[0], seed)
    measured = measure_grid(grid.cases, seed, budget_s, passes, progress)
    return [Row(case=case.name, kind=case.kind, regime=regime(case, hw), threads=case.threads,
                measured_ms=m.time_ns / 1e6, measured_spread=m.timing.spread,
                predicted_ms=predict(hw, case, m, "detailed") / 1e6,
                predicted_analytic_ms=predict(hw, case, m, "analytic") / 1e6, noisy=m.noisy,
                quiet_runs=m.timing.quiet_runs, calls_per_run=m.calls_per_run)
            for case, m in zip(grid.cases, measured)]
