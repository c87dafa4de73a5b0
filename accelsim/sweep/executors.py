"""Where points run: in this process, in a local process pool, or on a Dask cluster (local or remote).

Every executor runs the same pure task (`run_chunk`) and yields outcomes as they finish; the parent
process writes them to the store, so a killed worker never leaves half a point behind. Workers hand back
the files `Result.save` writes (as bytes): the Parquet encoding runs in parallel, the parent only writes
bytes, and a remote Dask worker need not share a file system with the store.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import multiprocessing
import os
import platform
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence


import accelsim
from accelsim.errors import InputError
from accelsim.results import Result
from accelsim.sweep.spec import load_callable


class SweepAborted(RuntimeError):
    """The execution machinery itself failed (a worker process died); finished points are already stored."""


@dataclass(frozen=True)
class Task:
    """A resolved point to run."""

    hash: str
    config: dict


@dataclass(frozen=True)
class Outcome:
    """What running one point produced: the files of its saved Result (name -> bytes), or the error it raised."""

    hash: str
    files: dict[str, bytes] | None
    wall_time_s: float
    error_type: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None
    versions: dict | None = None  # of the process that ran it (a remote worker may differ from the parent)

    @property
    def ok(self) -> bool:
        return self.files is not None


def environment() -> dict:
    """Versions of what computes a point (no host name: stored tables must not depend on the machine)."""
    return {"accelsim": accelsim.__version__, "numpy": importlib.metadata.version("numpy"),
            "numba": importlib.metadata.version("numba"), "python": platform.python_version()}


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which a container or `taskset` narrows), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def run_task(runner_ref: str, task: Task, versions: dict) -> Outcome:
    """Run one point, catching whatever it raises so that one bad point never stops a sweep."""
    runner = load_callable(runner_ref, field="runner")
    start = time.perf_counter()
    try:
        result = runner(task.config)
        wall_time_s = time.perf_counter() - start  # the simulation, not the serialisation below
        if not isinstance(result, Result):
            raise TypeError(f"runner {runner_ref} returned {type(result).__name__}, expected a Result")
        files = result.to_files()
    except Exception as err:  # noqa: BLE001 - recorded with the point
        # An InputError is the user's (an invalid combination): its message says all. Anything else is a bug.
        tb = None if isinstance(err, InputError) else traceback.format_exc()
        return Outcome(task.hash, None, time.perf_counter() - start, type(err).__name__, str(err), tb, versions)
    return Outcome(task.hash, files, wall_time_s, versions=versions)


def run_chunk(runner_ref: str, tasks: Sequence[Task]) -> list[Outcome]:
    """Run several points in one worker call, so that per-call overhead is paid once per chunk."""
    versions = environment()
    return [run_task(runner_ref, t, versions) for t in tasks]


def chunked(tasks: Sequence[Task], workers: int, chunk_size: int | None) -> list[list[Task]]:
    """Split tasks into chunks; by default about 8 chunks per worker, at most 32 points each."""
    size = chunk_size or max(1, min(32, math.ceil(len(tasks) / (8 * workers))))
    return [list(tasks[i:i + size]) for i in range(0, len(tasks), size)]


PARENT_POLL_S = 0.5


def _exit_with_parent(parent_pid: int) -> None:
    """Pool worker initializer: leave when the sweep process is gone (a killed parent must not leave orphans)."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


class Executor(Protocol):
    """Runs tasks and yields each outcome as soon as it is known (in completion order)."""

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc) -> None: ...

    def map(self, runner_ref: str, tasks: Sequence[Task]) -> Iterator[Outcome]: ...


class InProcessExecutor:
    """Runs points one after another in this process (debugging, profiling, tiny sweeps)."""

    def __enter__(self) -> "InProcessExecutor":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def map(self, runner_ref: str, tasks: Sequence[Task]) -> Iterator[Outcome]:
        """Run each task in order."""
        versions = environment()
        for t in tasks:
            yield run_task(runner_ref, t, versions)


class ProcessExecutor:
    """A local pool of `workers` spawned processes (spawn: no state leaks from the parent into workers)."""

    def __init__(self, workers: int | None = None, *, chunk_size: int | None = None):
        self.workers = usable_cpus() if workers is None else workers
        if self.workers < 1:
            raise InputError(f"--workers: need at least 1, got {self.workers}")
        self.chunk_size = chunk_size
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "ProcessExecutor":
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_exit_with_parent, initargs=(os.getpid(),))
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def map(self, runner_ref: str, tasks: Sequence[Task]) -> Iterator[Outcome]:
        """Submit every chunk, then yield outcomes chunk by chunk as they finish."""
        pending = {self._pool.submit(run_chunk, runner_ref, c) for c in chunked(tasks, self.workers, self.chunk_size)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    outcomes = fut.result()
                except Exception as err:  # BrokenProcessPool and the like: the machinery, not a point, failed
                    raise SweepAborted(f"a worker process failed ({type(err).__name__}: {err})") from err
                yield from outcomes


class DaskExecutor:
    """Dask distributed: a LocalCluster of `n_workers` single-threaded processes, or an existing scheduler."""

    def __init__(self, *, n_workers: int | None = None, address: str | None = None, chunk_size: int | None = None):
        if (n_workers is None) == (address is None):
            raise InputError("Dask executor: give exactly one of n_workers (local cluster) or address")
        if n_workers is not None and n_workers < 1:
            raise InputError(f"--dask-local: need at least 1 worker, got {n_workers}")
        self.n_workers, self.address, self.chunk_size = n_workers, address, chunk_size
        self._cluster = None
        self._client = None

    def __enter__(self) -> "DaskExecutor":
        from distributed import Client, LocalCluster

        if self.address is not None:
            try:
                self._client = Client(self.address, timeout="10s")
            except OSError as err:
                raise InputError(f"--scheduler: cannot reach {self.address} ({err})") from None
        else:
            self._cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=logging.ERROR)
            self._client = Client(self._cluster)
        return self

    def __exit__(self, *exc) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def _worker_count(self) -> int:
        return max(1, sum(self._client.nthreads().values()))

    def map(self, runner_ref: str, tasks: Sequence[Task]) -> Iterator[Outcome]:
        """Scatter chunks over the cluster and yield outcomes as chunks complete."""
        from distributed import as_completed

        chunks = chunked(tasks, self._worker_count(), self.chunk_size)
        futures = self._client.map(run_chunk, [runner_ref] * len(chunks), chunks, pure=False)
        for fut in as_completed(futures):
            try:
                outcomes = fut.result()
            except Exception as err:  # KilledWorker, lost connection: the machinery, not a point, failed
                raise SweepAborted(f"a Dask task failed ({type(err).__name__}: {err})") from err
            fut.release()
            yield from outcomes
