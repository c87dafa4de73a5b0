"""The simulations behind figures (a)-(c) and (e): CPU-only and Centaur on each model and batch size."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from accelsim.config.workload import WORKLOADS_DIR
from accelsim.errors import InputError
from accelsim.results import Result
from accelsim.sim.api import resolve_point, run_point

MODELS: tuple[str, ...] = ("rm1", "rm2", "rm3")
BATCH_SIZES: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
# (hardware config, mapping) of the baseline and of the accelerated system, as in `accelsim main`.
CPU_ONLY = ("broadwell_cpu_only", "cpu_only")
CENTAUR = ("harpv2_centaur", "centaur")
TRACES_DIR = WORKLOADS_DIR / "traces"
# Stage -> the part of the CPU-only breakdown it belongs to; everything else (interaction, transfers) is "other".
BREAKDOWN_PARTS: dict[str, str] = {"embedding": "embedding", "bottom_mlp": "MLP", "top_mlp": "MLP"}
BREAKDOWN_ORDER: tuple[str, ...] = ("embedding", "MLP", "other")


def grid_point(model: str, batch_size: int, system: tuple[str, str], fidelity: str) -> dict:
    """The point of one (model, batch size, system): the shipped trace of the model, cut to the batch size."""
    trace = TRACES_DIR / f"{model}.trace"
    if not trace.is_dir():
        raise InputError(f"model {model!r}: no shipped trace {trace}; shipped: "
                         f"{', '.join(sorted(p.stem for p in TRACES_DIR.glob('*.trace')))}")
    hw, mapping = system
    return dict(hw=hw, workload=model, mapping=mapping, batch_size=batch_size, fidelity=fidelity,
                functional=False, trace={"path": str(trace)})


def run_grid(models: Sequence[str] = MODELS, batch_sizes: Sequence[int] = BATCH_SIZES,
             fidelity: str = "analytic") -> list[Result]:
    """Run every (model, batch size) on CPU-only and on Centaur."""
    if not models or not batch_sizes:
        raise InputError("need at least one model and one batch size")
    if min(batch_sizes) < 1:
        raise InputError(f"batch sizes must be >= 1, got {list(batch_sizes)}")
    return [run_point(resolve_point(grid_point(m, b, system, fidelity)))
            for m in models for b in batch_sizes for system in (CPU_ONLY, CENTAUR)]


def summary_table(results: Sequence[Result]) -> pd.DataFrame:
    """One row per run: model, batch size, mapping and every summary metric."""
    rows = [{"model": r.summary["workload"], **r.summary} for r in results]
    return pd.DataFrame(rows).sort_values(["model", "batch_size", "mapping"], ignore_index=True)


def breakdown_table(results: Sequence[Result], mapping: str = CPU_ONLY[1]) -> pd.DataFrame:
    """Latency parts (embedding, MLP, other) in us of each `mapping` run: model, batch_size, part, time_us."""
    rows = []
    for r in results:
        if r.summary["mapping"] != mapping:
            continue
        st = r.stages
        # One batch per run, so the stages' durations are the parts of that batch's latency.
        parts = dict.fromkeys(BREAKDOWN_ORDER, 0.0)
        for stage, dur in st.groupby("stage")["duration_ns"].sum().items():
            parts[BREAKDOWN_PARTS.get(stage, "other")] += float(dur) / 1e3
        rows += [{"model": r.summary["workload"], "batch_size": r.summary["batch_size"], "part": p, "time_us": t,
                  "hw": r.summary["hw"], "fidelity": r.summary["fidelity"]} for p, t in parts.items()]
    if not rows:
        raise InputError(f"no {mapping} runs to break down")
    return pd.DataFrame(rows)


def bandwidth_table(results: Sequence[Result]) -> pd.DataFrame:
    """Effective embedding bandwidth of each run and its two sources (GB/s over the gather time).

    Columns: model, batch_size, device (of the gather), hw, mapping, fidelity, bandwidth_gbps (all bytes
    gathered), dram_gbps (the part DRAM served: its embedding bytes_read counter), cache_gbps (the rest: hits in
    the CPU caches, or in the FPGA's link-side cache).
    """
    rows = []
    for r in results:
        emb = r.stages[(r.stages["stage"] == "embedding") & (r.stages["phase"] == "gather")]
        c = r.counters
        sel = (c["component"] == "embedding") & (c["counter"] == "bytes_read")
        dram_bytes = float(c.loc[sel & (c["device"] == "dram"), "value"].sum())
        gathered = float(c.loc[(c["component"] == "embedding") & (c["counter"] == "bytes_gathered"), "value"].sum())
        total = r.summary["embedding_bandwidth_gbps"]
        # DRAM moves whole lines, so it can read more than the rows' bytes; all of the rate is then DRAM's.
        dram = total * min(1.0, dram_bytes / gathered) if gathered > 0 else 0.0
        rows.append({"model": r.summary["workload"], "batch_size": r.summary["batch_size"],
                     "device": str(emb["device"].iloc[0]), "hw": r.summary["hw"], "mapping": r.summary["mapping"],
                     "fidelity": r.summary["fidelity"], "bandwidth_gbps": total, "dram_gbps": dram,
                     "cache_gbps": total - dram})
    return pd.DataFrame(rows).sort_values(["model", "device", "batch_size"], ignore_index=True)


def speedup_table(results: Sequence[Result]) -> pd.DataFrame:
    """Centaur over CPU-only per (model, batch size): speedup and energy_efficiency (ratios, x)."""
    s = summary_table(results)
    key = ["model", "batch_size"]
    cpu = s[s["mapping"] == CPU_ONLY[1]].set_index(key)
    acc = s[s["mapping"] == CENTAUR[1]].set_index(key)
    both = cpu.index.intersection(acc.index)
    if both.empty:
        raise InputError("speed-up needs CPU-only and Centaur runs of the same model and batch size")
    out = pd.DataFrame({
        "speedup": cpu.loc[both, "latency_ns"] / acc.loc[both, "latency_ns"],
        "energy_efficiency": cpu.loc[both, "energy_per_inference_uj"] / acc.loc[both, "energy_per_inference_uj"],
        "baseline_hw": cpu.loc[both, "hw"], "hw": acc.loc[both, "hw"], "fidelity": acc.loc[both, "fidelity"],
    })
    return out.reset_index().sort_values(key, ignore_index=True)


def workload_text(df: pd.DataFrame) -> str:
    """'RM1, RM2 (shipped traces), batch 1-128' from a table's model and batch_size columns."""
    models = ", ".join(m.upper() if m in MODELS else m for m in dict.fromkeys(df["model"]))
    sizes = sorted(set(int(b) for b in df["batch_size"]))
    batch = f"batch {sizes[0]}" if len(sizes) == 1 else f"batch {sizes[0]}–{sizes[-1]}"
    return f"{models} (shipped traces), {batch}, one batch per run"
