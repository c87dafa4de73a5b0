"""Design-space sweeps: expand a spec into points, run the unfinished ones, store each atomically by hash."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from accelsim.sweep.executors import DaskExecutor, Executor, InProcessExecutor, ProcessExecutor, SweepAborted, Task
from accelsim.sweep.expand import Point, expand
from accelsim.sweep.hashing import point_hash
from accelsim.sweep.pareto import pareto_front
from accelsim.sweep.spec import SweepSpec, load_callable, load_spec, spec_yaml, vetted_ref
from accelsim.sweep.store import STATUS_OK, Store, load_results, write_table

__all__ = ["DaskExecutor", "InProcessExecutor", "Point", "ProcessExecutor", "SweepAborted", "SweepReport",
           "SweepSpec", "expand", "load_results", "load_spec", "pareto_front", "point_hash", "run_sweep",
           "write_table"]


@dataclass(frozen=True)
class SweepReport:
    """What one `run_sweep` call did. `not_run` counts points left for later by `limit`; `errors` are
    (error type, message) of the points that failed in this call, in the order they were stored; `hashes`
    are every point's, in the spec's order; `discarded` counts points of other code deleted by `rebuild`."""

    out_dir: Path
    total: int
    done: int
    skipped: int
    failed: int
    not_run: int
    elapsed_s: float
    errors: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    hashes: tuple[str, ...] = field(default=(), repr=False)
    discarded: int = 0

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        text = f"{self.total} points: {self.done} done, {self.skipped} skipped (already in store), {self.failed} failed"
        return text + (f", {self.not_run} not run (--limit)" if self.not_run else "")

    def failure_summary(self) -> str:
        """Failed points by error type, each with its first message (empty when none failed)."""
        if not self.errors:
            return ""
        counts = Counter(t for t, _ in self.errors)
        first = {t: m for t, m in reversed(self.errors)}
        lines = [f"{len(self.errors)} points failed:"]
        lines += [f"  {n} x {t}, e.g. {first[t].splitlines()[0] if first[t] else ''}" for t, n in counts.most_common()]
        return "\n".join(lines)


def run_sweep(spec: "str | Path | dict | SweepSpec", out_dir: str | Path, executor: Executor | None = None, *,
              limit: int | None = None, retry_failed: bool = False, progress: bool | None = False,
              allow_code: bool = False, rebuild: bool = False) -> SweepReport:
    """Run every point of `spec` not yet in the store at `out_dir` (errors too, with `retry_failed`).

    The spec's runner and resolver must be accelsim's or registered plugins, unless `allow_code`. A store
    whose points other code computed is refused, or emptied first with `rebuild` (Store.prepare).
    `progress`: a bar on stderr; None shows it only when stderr is a terminal.
    """
    start = time.perf_counter()
    spec, source = load_spec(spec)
    runner = vetted_ref(spec.runner, "runner", allow_code=allow_code, field=f"{source}: runner")
    load_callable(runner, field=f"{source}: runner")  # fail before any work if the runner cannot load
    points = expand(spec, source=source, allow_code=allow_code)
    store = Store(out_dir)
    with store.lock():
        discarded = store.prepare(spec_yaml(spec), rebuild=rebuild)
        stored = store.statuses()
        todo = [p for p in points if p.hash not in stored or (retry_failed and stored[p.hash] != STATUS_OK)]
        not_run = len(todo) - limit if limit is not None and len(todo) > limit else 0
        todo = todo[:len(todo) - not_run]
        done = 0
        errors: list[tuple[str, str]] = []
        # tqdm's disable=None: only on a terminal. Nothing to run, no bar.
        disable = True if not todo else (None if progress is None else not progress)
        with tqdm(total=len(todo), file=sys.stderr, unit="pt", desc=spec.name, disable=disable,
                  mininterval=0.5) as bar:
            for p in (p for p in todo if p.error_type is not None):
                store.write(p, None, spec.runner)
                errors.append((p.error_type, p.error_message or ""))
                bar.update()
            by_hash = {p.hash: p for p in todo if p.error_type is None}
            if by_hash:
                with executor or ProcessExecutor() as ex:
                    for outcome in ex.map(runner, [Task(h, p.config) for h, p in by_hash.items()]):
                        store.write(by_hash[outcome.hash], outcome, spec.runner)
                        done += outcome.ok
                        if not outcome.ok:
                            errors.append((outcome.error_type or "Error", outcome.error_message or ""))
                        bar.set_postfix(done=done, failed=len(errors), refresh=False)
                        bar.update()
    return SweepReport(Path(out_dir), len(points), done, len(points) - len(todo) - not_run, len(errors), not_run,
                       time.perf_counter() - start, tuple(errors), tuple(p.hash for p in points), discarded)
