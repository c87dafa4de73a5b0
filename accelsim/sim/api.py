"""The public entry points: a point (plain dict) -> resolved config -> Result. Pure and deterministic."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeInt, PositiveInt

from accelsim import __version__
from accelsim.budget import check_work
from accelsim.config.base import Model, load_yaml, parse_model, read_yaml
from accelsim.config.system import SystemConfig, resolve_hw_path
from accelsim.config.workload import ModelSpec, resolve_workload_path
from accelsim.energy import energy_table
from accelsim.errors import InputError
from accelsim.hw.fpga_resources import ResourceOverflow, check_fits, resource_usage
from accelsim.results import Result
from accelsim.sim.engine import check_capacity, simulate_batches
from accelsim.sim.functional import functional_outputs, max_output_difference, weights_for_trace
from accelsim.sim.groupsum import group_sums
from accelsim.sim.mapping import STAGES, Mapping, resolve_mapping
from accelsim.sim.serve import ServeSpec, serve_queries
from accelsim.workload.synth import synth_batches
from accelsim.workload.trace import Batch, check_against_spec, open_trace, rebatch, trace_point_defaults
from accelsim.workload.weights import load_weights


class SynthTrace(Model):
    """Generate the trace: FBGEMM-style Zipf (alpha <= 1 is uniform), uniform, or an LRU stack-distance file."""

    dist: Literal["uniform", "zipf", "stackdist"] = "zipf"
    alpha: float = Field(1.09, gt=0)
    reuse: float = Field(0.0, ge=0, le=1)
    stackdist_file: str | None = None


class FileTrace(Model):
    """Replay a trace file (see trace.rebatch); `weights`: the model's own weights for the functional model
    (a weights folder or a torch file of named tensors; default the trace's own `weights/` when it has one)."""

    path: str
    weights: str | None = None


class Point(Model):
    """Everything one simulation depends on; after resolve_point every part is spelled out."""

    hw: SystemConfig
    workload: ModelSpec
    mapping: Mapping
    batch_size: PositiveInt
    batches: PositiveInt = 1
    fidelity: Literal["analytic", "detailed"] = "detailed"
    seed: NonNegativeInt = 0
    trace: SynthTrace | FileTrace = SynthTrace()
    functional: bool = True
    sharing: bool = True  # overlapping phases share host DRAM and the links (False: each sees them alone)
    serve: ServeSpec | None = None  # a query stream instead of `batches` back to back (sim.serve)


def resolve_point(point: dict) -> dict:
    """Replace names (hw, workload, mapping) by full configs and fill defaults; idempotent on full dicts."""
    if not isinstance(point, dict):
        raise InputError(f"a point must be a mapping, got {type(point).__name__}")
    data = dict(point)
    hw_file = wl_file = None  # the files a point names, so that its errors name them too (not "point")
    if isinstance(data.get("hw"), str):
        hw_file = str(resolve_hw_path(data["hw"]))
        data["hw"] = load_yaml(SystemConfig, hw_file).model_dump(mode="json")
    if isinstance(data.get("workload"), str):
        wl_file = str(resolve_workload_path(data["workload"]))
        data["workload"] = read_yaml(wl_file)
        parse_model(ModelSpec, data["workload"], source=wl_file)
    # With a trace file, workload / batch_size None take the trace's own, and batches None (given as None:
    # a missing key means 1) all of it.
    trace = data.get("trace")
    if isinstance(trace, dict) and isinstance(trace.get("path"), str):
        data.update(trace_point_defaults(trace["path"], data.get("workload"), data.get("batch_size"),
                                         data.get("batches", 1)))
    elif "batches" in data and data["batches"] is None:
        del data["batches"]
    if isinstance(data.get("mapping"), str):
        data["mapping"] = resolve_mapping(data["mapping"]).model_dump(mode="json")
    if data.get("batch_size") is None and isinstance(data.get("workload"), dict):
        data["batch_size"] = data["workload"].get("default_batch_size", ModelSpec.model_fields["default_batch_size"].default)
    p = parse_model(Point, data, source="point")
    # Checked here only for a point that names its files, so that the errors name them; a point given as data
    # (a sweep's, over a resolved base) is checked as it runs, where a design that does not fit is its result.
    if hw_file is not None:
        _check_devices(p, hw_file)
        _check_fits(p, hw_file)
    if wl_file is not None:
        check_capacity(p.hw, p.workload, where=wl_file)
    if wl_file is not None and isinstance(p.trace, SynthTrace) and p.serve is None:
        _check_synth_work(p, wl_file)
    return p.model_dump(mode="json")


def _check_devices(p: Point, hw_file: str) -> None:
    """Every engine the mapping places a stage on exists in the hardware file (as Machine checks, but naming it)."""
    acc = p.hw.accelerator
    for stage in STAGES:
        dev = p.mapping.device_of(stage)
        if dev in ("sparse_engine", "dense_engine") and (acc is None or getattr(acc, dev) is None):
            raise InputError(f"accelerator: mapping {p.mapping.name!r} puts {stage} on the {dev.replace('_', ' ')}, "
                             f"and {p.hw.name} has none", source=hw_file)


def _check_fits(p: Point, hw_file: str | None) -> None:
    """The accelerator's engines (built for this workload under this mapping) fit its device, as Machine checks."""
    acc = p.hw.accelerator
    if acc is None:
        return
    spec = p.workload if p.mapping.embedding == "sparse_engine" else None
    try:
        check_fits(resource_usage(acc, spec), acc.device)
    except ResourceOverflow as err:
        raise ResourceOverflow(f"accelerator: {err}", source=hw_file) from None


def _check_synth_work(p: Point, where: str) -> None:
    """A generated trace's work fits the budget (accelsim.budget), before any of it is generated."""
    samples = p.batch_size * p.batches
    check_work(p.workload, samples, samples * p.workload.mean_lookups_per_sample, p.fidelity, p.functional,
               where=where)


@functools.lru_cache(maxsize=8)
def _synth_batches(spec_json: str, trace_json: str, batch_size: int, batches: int, seed: int) -> tuple[Batch, ...]:
    spec = ModelSpec.model_validate_json(spec_json)
    tr = SynthTrace.model_validate_json(trace_json)
    return tuple(synth_batches(spec, dist=tr.dist, batches=batches, batch_size=batch_size, seed=seed,
                               alpha=tr.alpha, reuse=tr.reuse, stackdist_file=tr.stackdist_file))


def load_batches(p: Point) -> list[Batch]:
    """The point's batches: cut from its trace file or generated."""
    if isinstance(p.trace, FileTrace):
        reader = open_trace(p.trace.path)
        check_against_spec(reader.meta, p.workload, where=p.trace.path)
        return rebatch(reader, p.batch_size, p.batches, p.trace.path)
    return list(_synth_batches(p.workload.model_dump_json(), p.trace.model_dump_json(), p.batch_size, p.batches,
                               p.seed))


def _device_busy(stages: pd.DataFrame) -> dict[str, float]:
    busy = group_sums(stages["device"].tolist(), stages["duration_ns"].to_numpy())
    holds = stages["also_holds"].to_numpy() != ""
    if not holds.any():  # no phase holds a second part (the frame filter and groupby below cost more)
        return busy
    for held, group in stages[holds].groupby("also_holds"):
        for d in held.split(","):
            busy[d] = busy.get(d, 0.0) + float(group["duration_ns"].sum())
    return busy


def _queries_in_system_mean(q: pd.DataFrame, span_ns: float) -> float:
    """Time-average number of queries between arrival and answer, from the +1/-1 steps of the queue."""
    t = np.concatenate([q["arrival_ns"].to_numpy(), q["done_ns"].to_numpy()])
    step = np.concatenate([np.ones(len(q)), -np.ones(len(q))])
    order = np.lexsort((-step, t))
    t, level = t[order], np.cumsum(step[order])
    return float(np.sum(level[:-1] * np.diff(t)) / span_ns) if span_ns > 0 else 0.0


def _synth_stream(p: Point, chunk: int):
    if isinstance(p.trace, FileTrace):
        raise InputError("serve: query streams are cut from a synthetic trace; give trace: {dist: ...}",
                         source=p.trace.path)
    return synth_batches(p.workload, dist=p.trace.dist, batches=2**62, batch_size=chunk, seed=p.seed,
                         alpha=p.trace.alpha, reuse=p.trace.reuse, stackdist_file=p.trace.stackdist_file)


def serve_point(p: Point) -> Result:
    """Simulate the point's query stream: per-query latency, percentiles, QPS and utilisation."""
    spec = p.serve
    out = serve_queries(p, lambda chunk: _synth_stream(p, chunk))
    q, stages = out.queries, out.stages
    first, last = float(q["arrival_ns"].min()), float(q["done_ns"].max())
    span = last - first
    makespan = float(stages["end_ns"].max()) if len(stages) else 0.0
    energy = energy_table(p.hw, out.counters, makespan)
    lat = q["latency_ns"].to_numpy()
    arrivals_span = float(q["arrival_ns"].max() - first)
    summary = {
        "hw": p.hw.name, "workload": p.workload.name, "mapping": p.mapping.name, "fidelity": p.fidelity,
        "seed": p.seed, "policy": spec.policy, "batch_size": p.batch_size, "in_flight": spec.in_flight,
        "arrivals": spec.arrivals.kind, "queries": int(len(q)), "samples": int(q["size"].sum()),
        "batches": int(stages["batch"].nunique()), "mean_batch_samples": float(q["size"].sum()) / max(
            int(stages["batch"].nunique()), 1),
        "offered_qps": spec.arrivals.qps if spec.arrivals.kind == "poisson" else (
            (len(q) - 1) / arrivals_span * 1e9 if arrivals_span > 0 else 0.0),
        "throughput_qps": len(q) / span * 1e9 if span > 0 else 0.0,
        "latency_mean_ns": float(lat.mean()), "wait_mean_ns": float(q["wait_ns"].mean()),
        "queries_in_system_mean": _queries_in_system_mean(q, span),
        "arrival_rate_per_ns": len(q) / span if span > 0 else 0.0,
        "contention_ns": float(stages["contention_ns"].sum()), "makespan_ns": makespan,
        "energy_per_query_uj": float(energy["energy_pj"].sum()) / 1e6 / len(q),
        "version": __version__,
    }
    for pc in spec.percentiles:
        summary[f"latency_p{pc:g}_ns".replace(".", "_")] = float(np.percentile(lat, pc))
    for dev, t in _device_busy(stages).items():
        summary[f"{dev}_utilisation"] = float(t) / span if span > 0 else 0.0
    return Result(summary=summary, stages=stages, counters=out.counters, energy=energy, outputs=q,
                  config=json.loads(json.dumps(p.model_dump(mode="json"))))


def run_point(resolved: dict) -> Result:
    """Simulate one resolved point (see resolve_point)."""
    p = parse_model(Point, resolved, source="point")
    if p.serve is not None:
        return serve_point(p)
    samples = p.batch_size * p.batches
    if isinstance(p.trace, SynthTrace):  # before generating: a refused point costs nothing
        _check_synth_work(p, f"workload {p.workload.name}")
    batches = load_batches(p)
    if isinstance(p.trace, FileTrace):
        # the trace's own weights when it has them, recorded in the config the result carries
        own = weights_for_trace(p.trace.path, p.trace.weights)
        p = p.model_copy(update={"trace": p.trace.model_copy(update={"weights": str(own) if own else None})})
        check_work(p.workload, samples, sum(b.num_lookups for b in batches), p.fidelity, p.functional,
                   where=p.trace.path)
    stages, counters, machine = simulate_batches(p.hw, p.workload, p.mapping, batches, p.fidelity, p.sharing)
    makespan = float(stages["end_ns"].max()) if len(stages) else 0.0
    energy = energy_table(p.hw, counters, makespan)
    samples = sum(b.batch_size for b in batches)
    # per batch: first start to last end (numpy: a pandas named aggregation costs more than the analytic run)
    _, batch_of = np.unique(stages["batch"].to_numpy(), return_inverse=True)
    first, last = np.full(batch_of.max(initial=-1) + 1, np.inf), np.full(batch_of.max(initial=-1) + 1, -np.inf)
    np.minimum.at(first, batch_of, stages["start_ns"].to_numpy())
    np.maximum.at(last, batch_of, stages["end_ns"].to_numpy())
    latency = pd.Series(last - first)
    # Sums over the frames' columns as arrays: numpy's nansum is Series.sum's arithmetic, without a frame filter
    duration = stages["duration_ns"].to_numpy()
    emb = duration[(stages["stage"].to_numpy() == "embedding") & (stages["phase"].to_numpy() == "gather")]
    bytes_gathered = float(np.nansum(counters["value"].to_numpy()[counters["counter"].to_numpy() == "bytes_gathered"]))
    energy_pj = float(np.nansum(energy["energy_pj"].to_numpy()))
    busy = _device_busy(stages)
    summary = {
        "hw": p.hw.name, "workload": p.workload.name, "mapping": p.mapping.name, "fidelity": p.fidelity,
        "batch_size": p.batch_size, "batches": len(batches), "samples": samples, "seed": p.seed,
        "latency_ns": float(latency.mean()), "latency_max_ns": float(latency.max()),
        "makespan_ns": makespan, "throughput_samples_per_s": samples / makespan * 1e9 if makespan else 0.0,
        "embedding_time_ns": float(np.nansum(emb)),
        "contention_ns": float(np.nansum(stages["contention_ns"].to_numpy())),
        "embedding_bandwidth_gbps": bytes_gathered / float(np.nansum(emb)) if len(emb) else 0.0,
        "energy_total_uj": energy_pj / 1e6,
        "energy_per_inference_uj": energy_pj / 1e6 / samples,
        "table_bytes": float(p.workload.total_table_bytes),
        "extra_flops_per_inference": p.workload.extra_flops_per_sample,
        "version": __version__,
    }
    for stage, t in group_sums(stages["stage"].tolist(), duration).items():
        summary[f"{stage}_time_ns"] = float(t)
    for dev, t in busy.items():
        summary[f"{dev}_utilisation"] = float(t) / makespan if makespan else 0.0
    if machine.resources is not None:
        for res, u in machine.resources.utilisation.items():
            summary[f"fpga_{res}_utilisation"] = float(u)
    weights = p.trace.weights if isinstance(p.trace, FileTrace) else None
    params = load_weights(weights, p.workload) if weights is not None and p.functional else None
    outputs = functional_outputs(p.workload, batches, p.seed, params) if p.functional else \
        pd.DataFrame(columns=["batch", "sample", "ctr"])
    if p.functional:
        summary["ctr_mean"] = float(outputs["ctr"].mean())
        if (diff := max_output_difference(outputs)) is not None:
            summary["ctr_max_abs_diff_vs_captured"] = diff
    return Result(summary=summary, stages=stages, counters=counters, energy=energy, outputs=outputs,
                  config=json.loads(json.dumps(p.model_dump(mode="json"))))


def simulate(hw: str | dict = "harpv2_centaur", workload: str | dict | None = None, mapping: str | dict = "centaur",
             batch_size: int | None = None, *, batches: int | None = None, fidelity: str = "detailed", seed: int = 0,
             trace: dict | str | None = None, functional: bool = True, weights: str | Path | None = None) -> Result:
    """Python API: simulate one configuration; `trace` is a file path or synth parameters (default Zipf 1.09).

    With a trace file, `workload` None takes the trace's own spec, `batch_size` None its own batches and
    `batches` None all of them; `weights` (a weights folder or torch file; default the trace's own `weights/`
    when captured with them) makes the functional outputs those of the model itself. Otherwise `workload` defaults to rm1, `batch_size` to the workload's
    `default_batch_size` and `batches` to 1.
    """
    point = dict(hw=hw, workload=workload, mapping=mapping, batch_size=batch_size, batches=batches,
                 fidelity=fidelity, seed=seed, functional=functional)
    if trace is not None:
        point["trace"] = {"path": str(trace)} if isinstance(trace, (str, Path)) else trace
    replaying = isinstance(point.get("trace"), dict) and "path" in point["trace"]
    if workload is None and not replaying:
        point["workload"] = "rm1"
    if weights is not None:
        if not replaying:
            raise InputError("weights= needs a trace file (trace=PATH): they are the weights of its model")
        point["trace"] = {**point["trace"], "weights": str(weights)}
    return run_point(resolve_point(point))


def serve(hw: str | dict = "harpv2_centaur", workload: str | dict = "rm1", mapping: str | dict = "centaur",
          batch_size: int | None = None, *, fidelity: str = "analytic", seed: int = 0, trace: dict | None = None,
          sharing: bool = True, **serve_spec) -> Result:
    """Python API: serve a query stream; `serve_spec` are ServeSpec fields (arrivals=..., queries=..., ...).

    `batch_size` is the batching policy's size (default: the workload's `default_batch_size`).
    """
    point = dict(hw=hw, workload=workload, mapping=mapping, batch_size=batch_size, fidelity=fidelity, seed=seed,
                 functional=False, sharing=sharing, serve=serve_spec)
    if trace is not None:
        point["trace"] = trace
    return run_point(resolve_point(point))


__all__ = ["simulate", "serve", "find_max_qps", "resolve_point", "run_point", "Point"]


def find_max_qps(point: dict, sla_p99_ms: float, *, start_qps: float = 1000.0, rtol: float = 0.02,
                 log=None) -> tuple[float, Result | None, list[tuple[float, float]]]:
    """Highest Poisson QPS whose p99 latency meets `sla_p99_ms`: (qps, its Result, [(qps, p99_ms) tried]).

    Doubling then bisection on a log scale, every trial with the same seed (common random numbers, so p99
    rises with the offered load). (0, None, tried) when even a light load misses the SLA.
    """
    if not sla_p99_ms > 0:
        raise InputError(f"--sla-p99-ms must be > 0, got {sla_p99_ms}")
    base = resolve_point(point)
    if base.get("serve") is None or base["serve"]["arrivals"]["kind"] != "poisson":
        raise InputError("find-max-qps searches Poisson arrivals: give serve.arrivals.kind = poisson")
    tried: list[tuple[float, float]] = []

    def trial(qps: float) -> tuple[bool, Result]:
        p = json.loads(json.dumps(base))
        p["serve"]["arrivals"]["qps"] = qps
        r = run_point(p)
        p99 = r.summary["latency_p99_ns"] / 1e6
        tried.append((qps, p99))
        if log:
            log(f"  {qps:12.1f} QPS: p99 {p99:.3f} ms {'meets' if p99 <= sla_p99_ms else 'misses'} the SLA")
        return p99 <= sla_p99_ms, r

    best: Result | None = None
    lo, hi = 0.0, float(start_qps)
    ok, r = trial(hi)
    while ok and len(tried) < 24:
        lo, best, hi = hi, r, 2 * hi
        ok, r = trial(hi)
    if best is None:  # even start_qps misses: halve down to a load the machine meets, or give up
        while not ok and hi > start_qps / 1024:
            hi /= 2
            ok, r = trial(hi)
        if not ok:
            return 0.0, None, tried
        lo, best, hi = hi, r, 2 * hi
    while hi > lo * (1 + rtol) and len(tried) < 40:
        mid = math.sqrt(lo * hi)
        ok, r = trial(mid)
        if ok:
            lo, best = mid, r
        else:
            hi = mid
    return lo, best, tried
