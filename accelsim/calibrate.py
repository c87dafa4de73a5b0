"""Macro validation: this machine described from Linux, a real PyTorch EmbeddingBag timing, the CPU model's guess.

Three steps, kept apart so each can be tested on its own:
1. `detect_host` reads the core count, clock, SIMD width and data-cache geometry from sysfs and /proc/cpuinfo
   (roots are parameters, so tests use a fake tree); `build_system` turns that into a cpu-only SystemConfig whose
   undetectable numbers (DRAM, fill buffers, hit latencies, per-lookup cycles, energy) come from a base config
   or the command line, every one of them cited in `sources:`.
2. `measure` times torch.nn.EmbeddingBag(mode="sum") and the numba reference kernel on a synthetic one-table
   batch (best of N after a warm-up).
3. `predict` simulates the same batch on the built machine (mapping cpu_only, both fidelities).
Nothing here adjusts a model constant: the gap between 2 and 3 is the result.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from accelsim.config.base import parse_model
from accelsim.config.dram import resolve_dram_path
from accelsim.config.system import SystemConfig, load_system
from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError

if TYPE_CHECKING:  # imported where used at run time: torch and the simulator are heavy
    from accelsim.workload.trace import Batch

SYS_CPU_DIR = Path("/sys/devices/system/cpu")
PROC_CPUINFO = Path("/proc/cpuinfo")
DISTS = ("uniform", "zipf")
ZIPF_ALPHA = 1.09  # FBGEMM's default Zipf exponent for TBE benchmarks (the trace default across accelsim)
DEFAULT_FMA_UNITS = 2  # two FMA pipes per core: Haswell..Sapphire Rapids, Zen 2..Zen 4 (not detectable)
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)i?B?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
# (cpuinfo flag, FP32 lanes per vector register), widest first
_SIMD_FLAGS = (("avx512f", 16), ("avx2", 8), ("fma", 8), ("avx", 8))


# ---------------------------------------------------------------------------------------------------------
# 1. What Linux says about this machine
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HostCache:
    """One data (or unified) cache level as seen from the first CPU this process may run on."""

    name: str                # L1D, L2, L3
    size_bytes: int          # of one instance
    ways: int
    line_bytes: int
    sharing_cores: int       # physical cores sharing one instance
    instances: int           # instances covering the CPUs this process may run on
    shared_cpu_list: str
    directory: str           # the sysfs index directory the numbers came from

    @property
    def private(self) -> bool:
        return self.sharing_cores == 1


@dataclass(frozen=True)
class HostCpu:
    """What could be detected; every number carries where it came from."""

    model_name: str
    cores: int
    cores_source: str
    freq_ghz: float | None
    freq_source: str
    simd_fp32_lanes: int
    simd_source: str
    caches: tuple[HostCache, ...]


def parse_cpu_list(text: str, where: str = "cpu list") -> tuple[int, ...]:
    """'0-3,8,10-11' -> (0, 1, 2, 3, 8, 10, 11)."""
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise InputError(f"{where}: expected a CPU list such as 0-3,8, got {text.strip()!r}") from None
        out.extend(range(a, b + 1))
    return tuple(out)


def parse_size_bytes(text: str, where: str = "size") -> int:
    """'32K' / '1024K' / '32M' / '33554432' (sysfs and CLI cache sizes, binary units) -> bytes."""
    m = _SIZE.match(text)
    if not m:
        raise InputError(f"{where}: expected a size such as 32K, 1M or 65536, got {text.strip()!r}")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", source=str(path)) from None


def _read_int(path: Path) -> int:
    text = _read(path)
    try:
        return int(text)
    except ValueError:
        raise InputError(f"expected an integer, got {text!r}", source=str(path)) from None


def parse_cpuinfo(text: str) -> dict[int, dict[str, str]]:
    """/proc/cpuinfo as {processor: {key: value}}; a file without processor lines becomes {0: first block}."""
    out: dict[int, dict[str, str]] = {}
    for n, block in enumerate(b for b in text.split("\n\n") if b.strip()):
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        try:
            proc = int(fields.get("processor", n))
        except ValueError:  # Arm kernels print a "Processor : <name>" line in some versions
            proc = n
        out.setdefault(proc, fields)
    return out


def parse_lscpu(text: str) -> dict[str, str]:
    """`lscpu` output as {field: value}."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def run_lscpu() -> str:
    """Output of `lscpu`, or '' where it is not installed or fails."""
    exe = shutil.which("lscpu")
    if exe is None:
        return ""
    try:
        return subprocess.run([exe], capture_output=True, text=True, timeout=10, check=False,
                              env={**os.environ, "LC_ALL": "C"}).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _core_of(sys_cpu: Path, cpu: int) -> tuple[int, int] | tuple[str, int]:
    """(package, core id) of a logical CPU; a CPU without topology files counts as a core of its own."""
    topo = sys_cpu / f"cpu{cpu}" / "topology"
    try:
        return int((topo / "physical_package_id").read_text()), int((topo / "core_id").read_text())
    except (OSError, ValueError):
        return ("cpu", cpu)


def _simd(fields: dict[str, str], cpuinfo: Path) -> tuple[int, str]:
    flags = set(fields.get("flags", "").split())
    for flag, lanes in _SIMD_FLAGS:
        if flag in flags:
            return lanes, f"detected: {cpuinfo} flags: {flag} -> {lanes * 32}-bit vectors = {lanes} FP32 lanes"
    if "flags" in fields:
        seen = "flags without avx"
    elif "Features" in fields:
        seen = "Features (Arm): " + ("asimd" if "asimd" in fields["Features"].split() else "no asimd")
    else:
        seen = "no flags line"
    return 4, f"detected: {cpuinfo} {seen} -> 128-bit vectors = 4 FP32 lanes"


def _freq(sys_cpu: Path, cpu: int, fields: dict[str, str], cpuinfo: Path, lscpu: dict[str, str]
          ) -> tuple[float | None, str]:
    max_khz = sys_cpu / f"cpu{cpu}" / "cpufreq" / "cpuinfo_max_freq"
    if max_khz.exists():
        return round(_read_int(max_khz) / 1e6, 6), f"detected: {max_khz} (the clock a busy core may reach)"
    for text, where in ((fields.get("cpu MHz"), f"{cpuinfo} 'cpu MHz'"),
                        (lscpu.get("CPU max MHz"), "lscpu 'CPU max MHz'")):
        if text:
            try:
                mhz = float(text)
            except ValueError:
                raise InputError(f"{where}: expected a number, got {text!r}") from None
            if mhz > 0:
                return round(mhz / 1e3, 6), f"detected: {where}"
    return None, "unknown"


def _caches(sys_cpu: Path, cpus: Sequence[int]) -> tuple[HostCache, ...]:
    first = cpus[0]
    cache_dir = sys_cpu / f"cpu{first}" / "cache"
    indices = sorted(cache_dir.glob("index*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 0)
    if not indices:
        raise InputError(f"no cache levels under {cache_dir} (needs Linux sysfs)")
    out: list[HostCache] = []
    for d in indices:
        if _read(d / "type") == "Instruction":
            continue
        level = _read_int(d / "level")
        shared = _read(d / "shared_cpu_list")
        sharing = {_core_of(sys_cpu, c) for c in parse_cpu_list(shared, str(d / "shared_cpu_list"))}
        # How many instances of this level the allowed CPUs span (one LLC per socket on a 2-socket box).
        lists = set()
        for c in cpus:
            f = sys_cpu / f"cpu{c}" / "cache" / d.name / "shared_cpu_list"
            lists.add(_read(f) if f.exists() else shared)
        out.append(HostCache(
            name=f"L{level}D" if level == 1 else f"L{level}",
            size_bytes=parse_size_bytes(_read(d / "size"), str(d / "size")),
            ways=_read_int(d / "ways_of_associativity"),
            line_bytes=_read_int(d / "coherency_line_size"),
            sharing_cores=max(len(sharing), 1),
            instances=len(lists),
            shared_cpu_list=shared,
            directory=str(d),
        ))
    out.sort(key=lambda c: int(c.name[1:].rstrip("D")))
    return tuple(out)


def detect_host(*, sys_cpu_dir: str | Path = SYS_CPU_DIR, cpuinfo_path: str | Path = PROC_CPUINFO,
                cpus: Iterable[int] | None = None, lscpu_text: str | None = None) -> HostCpu:
    """This machine (or the fake tree at the given roots): cores, clock, SIMD width, data caches."""
    sys_cpu, cpuinfo = Path(sys_cpu_dir), Path(cpuinfo_path)
    if cpus is None:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        cpus_from = "os.sched_getaffinity"
    else:
        cpus_from = "the given CPU set"
    cpus = tuple(sorted(cpus))
    if not cpus:
        raise InputError("no CPUs to run on")
    info = parse_cpuinfo(_read(cpuinfo))
    fields = info.get(cpus[0]) or next(iter(info.values()), {})
    lscpu = parse_lscpu(run_lscpu() if lscpu_text is None else lscpu_text)
    cores = len({_core_of(sys_cpu, c) for c in cpus})
    cores_source = (f"detected: {len(cpus)} CPUs in {cpus_from}, {cores} distinct (physical_package_id, core_id) "
                    f"in {sys_cpu}/cpu*/topology")
    freq, freq_source = _freq(sys_cpu, cpus[0], fields, cpuinfo, lscpu)
    lanes, simd_source = _simd(fields, cpuinfo)
    name = fields.get("model name") or lscpu.get("Model name") or "unknown CPU"
    return HostCpu(model_name=name, cores=cores, cores_source=cores_source, freq_ghz=freq, freq_source=freq_source,
                   simd_fp32_lanes=lanes, simd_source=simd_source, caches=_caches(sys_cpu, cpus))


# ---------------------------------------------------------------------------------------------------------
# 1b. The machine as a SystemConfig
# ---------------------------------------------------------------------------------------------------------

def parse_cache_override(text: str) -> tuple[str, int, int | None]:
    """'L3=32M,16' or 'L2=1M' -> (name, size_bytes, ways or None): a cache the user describes by hand."""
    name, sep, rest = text.partition("=")
    size, _, ways = rest.partition(",")
    if not sep or not name.strip() or not size.strip():
        raise InputError(f"--cache: expected NAME=SIZE[,WAYS] such as L3=32M,16, got {text!r}")
    try:
        n_ways = int(ways) if ways.strip() else None
    except ValueError:
        raise InputError(f"--cache {text}: ways must be an integer, got {ways!r}") from None
    if n_ways is not None and n_ways < 1:
        raise InputError(f"--cache {text}: ways must be >= 1, got {n_ways}")
    return name.strip().upper(), parse_size_bytes(size, f"--cache {text}"), n_ways


def _cited(base_name: str, what: str, citation: str | None) -> str:
    return f"from base config {base_name}: {what}" + (f" ({citation})" if citation else "")


def _cache_entry(hc: HostCache, base_cache: dict, base_name: str, override: tuple[int, int | None] | None,
                 is_llc: bool) -> dict:
    # The model has one private cache per core and one LLC: LLC instances (sockets, CCXs) add up into it.
    instances = hc.instances if is_llc else 1
    size, ways = hc.size_bytes * instances, hc.ways
    size_src = f"detected: {hc.directory}/size" + (f" x {instances} instances" if instances > 1 else "")
    ways_src = f"detected: {hc.directory}/ways_of_associativity"
    if override is not None:
        size, size_src = override[0], "CLI --cache"
        if override[1] is not None:
            ways, ways_src = override[1], "CLI --cache"
    if ways < 1:
        raise InputError(f"{hc.directory}/ways_of_associativity: {ways} (fully associative or unknown); "
                         f"pass --cache {hc.name}=SIZE,WAYS")
    if hc.line_bytes < 1 or hc.line_bytes & (hc.line_bytes - 1):
        raise InputError(f"{hc.directory}/coherency_line_size: {hc.line_bytes} is not a power of two")
    if size % (ways * hc.line_bytes):
        origin = "--cache" if override is not None else f"{hc.directory}/size"
        raise InputError(f"{origin}: {hc.name} of {size} bytes is not a whole number of sets of {ways} ways x "
                         f"{hc.line_bytes} B lines (virtual machines may report such sizes); "
                         f"pass --cache {hc.name}=SIZE,WAYS")
    bsrc = base_cache.get("sources", {})
    sharing = ("private to each core" if hc.private else f"shared by {hc.sharing_cores} cores")
    return {
        "name": hc.name, "size_bytes": size, "ways": ways, "line_bytes": hc.line_bytes,
        "hit_latency_ns": base_cache["hit_latency_ns"], "policy": base_cache["policy"],
        "rrpv_bits": base_cache["rrpv_bits"],
        "sources": {
            "size_bytes": f"{size_src}; {sharing} (shared_cpu_list {hc.shared_cpu_list})",
            "ways": ways_src,
            "line_bytes": f"detected: {hc.directory}/coherency_line_size",
            "hit_latency_ns": _cited(base_name, f"{base_cache['name']}.hit_latency_ns",
                                     bsrc.get("hit_latency_ns")),
            "policy": _cited(base_name, f"{base_cache['name']}.policy", bsrc.get("policy")),
            "rrpv_bits": _cited(base_name, f"{base_cache['name']}.rrpv_bits", bsrc.get("rrpv_bits")),
        },
    }


def build_system(host: HostCpu, *, base: str = "broadwell_cpu_only", freq_ghz: float | None = None,
                 fma_units: int = DEFAULT_FMA_UNITS, dram: str | None = None, channels: int | None = None,
                 lfb: int | None = None, cache_overrides: Sequence[str] = ()) -> SystemConfig:
    """A cpu-only SystemConfig of the detected machine; the rest from `base` and the CLI, each number cited."""
    base_cfg = load_system(base)
    base_name = base_cfg.name
    b = base_cfg.model_dump(mode="json")
    bcpu, bsrc = b["cpu"], b["cpu"].get("sources", {})
    if freq_ghz is not None:
        if not (freq_ghz > 0 and math.isfinite(freq_ghz)):
            raise InputError(f"--freq-ghz: expected a positive clock in GHz, got {freq_ghz}")
        freq, freq_src = freq_ghz, "CLI --freq-ghz"
    elif host.freq_ghz is not None:
        freq, freq_src = host.freq_ghz, host.freq_source
    else:
        raise InputError("the clock of this machine is unknown (no cpufreq, no 'cpu MHz' in /proc/cpuinfo, no "
                         "lscpu): pass --freq-ghz")
    if len(host.caches) != len(bcpu["caches"]):
        raise InputError(f"this machine has {len(host.caches)} data-cache levels "
                         f"({', '.join(c.name for c in host.caches)}), base config {base_name} has "
                         f"{len(bcpu['caches'])}: choose a --base with as many levels")
    overrides: dict[str, tuple[int, int | None]] = {}
    for text in cache_overrides:
        name, size, ways = parse_cache_override(text)
        if name not in {c.name for c in host.caches}:
            raise InputError(f"--cache {text}: no level {name}; this machine has "
                             f"{', '.join(c.name for c in host.caches)}")
        overrides[name] = (size, ways)
    caches = [_cache_entry(hc, bc, base_name, overrides.get(hc.name), i == len(host.caches) - 1)
              for i, (hc, bc) in enumerate(zip(host.caches, bcpu["caches"]))]
    shared_inner = [c.name for c in host.caches[:-1] if not c.private]
    private_src = "detected: the last data level is the shared LLC, the ones before it private"
    if shared_inner:
        private_src += (f"; {', '.join(shared_inner)} is shared by several cores in hardware and modelled as "
                        "private per core")
    cpu = {
        "name": f"host_{re.sub(r'[^a-z0-9]+', '_', host.model_name.lower()).strip('_')}",
        "cores": host.cores, "freq_ghz": freq, "simd_fp32_lanes": host.simd_fp32_lanes,
        "fma_units_per_core": fma_units,
        "gemm_efficiency": bcpu["gemm_efficiency"],
        "line_fill_buffers_per_core": lfb if lfb is not None else bcpu["line_fill_buffers_per_core"],
        "gather_cycles_per_lookup": bcpu["gather_cycles_per_lookup"],
        "op_overhead_ns": bcpu["op_overhead_ns"],
        "memory_fabric_latency_ns": bcpu["memory_fabric_latency_ns"],
        "private_cache_levels": len(caches) - 1,
        "caches": caches,
        "sources": {
            "cores": host.cores_source, "freq_ghz": freq_src, "simd_fp32_lanes": host.simd_source,
            "fma_units_per_core": ("CLI --fma-units" if fma_units != DEFAULT_FMA_UNITS else
                                   f"CLI default {DEFAULT_FMA_UNITS}: two FMA pipes, typical of AVX2/AVX-512 server "
                                   "cores; not detectable"),
            "line_fill_buffers_per_core": "CLI --lfb" if lfb is not None else _cited(
                base_name, "cpu.line_fill_buffers_per_core", bsrc.get("line_fill_buffers_per_core")),
            "private_cache_levels": private_src,
            **{k: _cited(base_name, f"cpu.{k}", bsrc.get(k))
               for k in ("gemm_efficiency", "gather_cycles_per_lookup", "op_overhead_ns", "memory_fabric_latency_ns")},
        },
    }
    return parse_model(SystemConfig, {
        "name": f"host_{cpu['name'][5:]}_{host.cores}c",
        "description": (f"this machine: {host.model_name}, {host.cores} cores, detected from Linux; DRAM, fill "
                        f"buffers, latencies, per-lookup cycles and energy from {base_name} or the command line"),
        "cpu": cpu,
        "dram": _dram_section(b["dram"], base_name, dram, channels),
        "energy": {**b["energy"], "sources": {k: _cited(base_name, f"energy.{k}", v)
                                              for k, v in b["energy"].get("sources", {}).items()}},
    }, source="detected machine")


def _dram_section(base_dram: dict, base_name: str, preset: str | None, channels: int | None) -> dict:
    if preset is not None:
        resolve_dram_path(preset)  # an unknown preset is reported here, by name, not deep inside validation
        out = {"preset": preset, "sources": {"standard": f"CLI --dram {preset}"}}
    else:
        out = {**base_dram, "sources": {k: _cited(base_name, f"dram.{k}", v)
                                        for k, v in base_dram.get("sources", {}).items()}}
        out["sources"]["standard"] = _cited(base_name, "dram", out["sources"].get("standard"))
    if channels is not None:
        out["channels"] = channels
        out["sources"]["channels"] = "CLI --channels"
    elif preset is not None:
        out["channels"] = base_dram["channels"]
        out["sources"]["channels"] = _cited(base_name, "dram.channels", base_dram.get("sources", {}).get("channels"))
    return out


# ---------------------------------------------------------------------------------------------------------
# 2. The batch, and what the real kernels take on it
# ---------------------------------------------------------------------------------------------------------

def calibration_spec(rows: int, dim: int, lookups: int) -> ModelSpec:
    """One fp32 table, sum pooling, fixed bags; the MLPs are the smallest a ModelSpec allows."""
    return parse_model(ModelSpec, {
        "name": f"calibrate_{rows}x{dim}_k{lookups}", "source": "accelsim calibrate: one table built in code",
        "embedding_dim": dim, "tables": [{"rows": rows, "lookups_per_sample": lookups}],
        "bottom_mlp": [dim], "top_mlp": [1], "interaction": "dot",
    }, source="calibration workload")


def calibration_batch(spec: ModelSpec, dist: str, batch_size: int, seed: int) -> Batch:
    """One batch of the spec's table from accelsim.workload.synth (uniform, or Zipf 1.09 with permuted rows)."""
    from accelsim.workload.synth import synthesize
    from accelsim.workload.trace import Batch, TableBags, open_trace
    with tempfile.TemporaryDirectory(prefix="accelsim-calibrate-") as tmp:
        path = synthesize(spec, dist=dist, batches=1, batch_size=batch_size, seed=seed, out=Path(tmp) / "t.trace",
                          alpha=ZIPF_ALPHA)
        b = next(iter(open_trace(path)))
        return Batch(tuple(TableBags(np.array(t.indices), np.array(t.offsets)) for t in b.tables))


@dataclass(frozen=True)
class Measured:
    """Best-of-N wall times of one batch on the real kernels."""

    torch_ns: float
    numba_ns: float
    threads: int


def best_of_ns(fn: Callable[[], object], repeats: int) -> float:
    """Minimum wall time of fn() over `repeats` runs, after one warm-up run."""
    fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - t0)
    return float(best)


def measure(table: np.ndarray, indices: np.ndarray, offsets: np.ndarray, *, threads: int, repeats: int) -> Measured:
    """torch.nn.EmbeddingBag(mode='sum') and numba embedding_bag on the same bags, `threads` threads each."""
    import torch

    from accelsim.kernels.reference import embedding_bag
    bag = torch.nn.EmbeddingBag(table.shape[0], table.shape[1], mode="sum", include_last_offset=True,
                                _weight=torch.from_numpy(table))
    ids_t, off_t = torch.from_numpy(indices), torch.from_numpy(offsets)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            want = bag(ids_t, off_t).numpy()
            got = embedding_bag(table, indices, offsets, include_last_offset=True, threads=threads)
            if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
                raise RuntimeError("numba embedding_bag disagrees with torch.nn.EmbeddingBag on the calibration batch")
            torch_ns = numba_ns = math.inf
            # Alternate the kernels so that load from other processes hits both alike.
            for _ in range(2):
                torch_ns = min(torch_ns, best_of_ns(lambda: bag(ids_t, off_t), repeats))
                numba_ns = min(numba_ns, best_of_ns(
                    lambda: embedding_bag(table, indices, offsets, include_last_offset=True, threads=threads),
                    repeats))
    finally:
        torch.set_num_threads(previous)
    return Measured(torch_ns=torch_ns, numba_ns=numba_ns, threads=threads)


# ---------------------------------------------------------------------------------------------------------
# 3. What the model predicts for the same batch
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Predicted:
    """Embedding-stage times of one fidelity: the batch run warm (after itself) and cold (first)."""

    warm_ns: float
    cold_ns: float
    miss_latency_avg_ns: float


def predict(system: SystemConfig, spec: ModelSpec, batch: Batch, fidelities: Sequence[str] = ("detailed", "analytic")
            ) -> dict[str, Predicted]:
    """Simulate the batch twice in a row on `system` (cpu_only): the second run matches a warmed-up timing."""
    from accelsim.sim.api import resolve_point, run_point
    from accelsim.workload.trace import TraceWriter
    out = {}
    with tempfile.TemporaryDirectory(prefix="accelsim-calibrate-") as tmp:
        path = Path(tmp) / "twice.trace"
        with TraceWriter(path, source="accelsim calibrate", table_rows=[t.rows for t in spec.table_list],
                         spec=spec) as w:
            w.write(batch)
            w.write(batch)
        for fid in fidelities:
            r = run_point(resolve_point({
                "hw": system.model_dump(mode="json"), "workload": spec.model_dump(mode="json"),
                "mapping": "cpu_only", "batch_size": batch.batch_size, "batches": 2, "fidelity": fid,
                "trace": {"path": str(path)}, "functional": False}))
            emb = r.stages[r.stages["stage"] == "embedding"].groupby("batch")["duration_ns"].sum()
            c = r.counters
            lat = c[(c["batch"] == 1) & (c["counter"] == "miss_latency_avg_ns")]["value"]
            out[fid] = Predicted(warm_ns=float(emb.loc[1]), cold_ns=float(emb.loc[0]),
                                 miss_latency_avg_ns=float(lat.iloc[0]) if len(lat) else 0.0)
    return out


@dataclass(frozen=True)
class ComputeBound:
    """The issue-bound part of the CPU model: the busiest core's lookups x cycles per lookup."""

    max_lookups_per_core: int
    cycles_per_lookup: float
    add_cycles_per_lookup: float
    time_ns: float


def compute_bound(system: SystemConfig, batch: Batch, dim: int) -> ComputeBound:
    """The time the CPU model needs with every line an L1 hit (what gather_cycles_per_lookup sets)."""
    from accelsim.hw.cpu import Cpu
    from accelsim.hw.lookups import split_lookups
    c = system.cpu
    lk = split_lookups(batch, min(c.cores, max(batch.batch_size, 1)))
    per_core = int(lk.per_requester().max(initial=0))
    cycles = Cpu(c).cycles_per_lookup(dim)
    return ComputeBound(per_core, cycles, cycles - c.gather_cycles_per_lookup, per_core * cycles / c.freq_ghz)


def suggest_gather_cycles(system: SystemConfig, bound: ComputeBound, measured_ns: float) -> float | None:
    """gather_cycles_per_lookup that would make the compute-bound part equal the measurement (never applied).

    None when no positive value can: the measurement is below the per-lookup SIMD adds and the dispatch cost.
    """
    if bound.max_lookups_per_core == 0:
        return None
    c = system.cpu
    cycles = (measured_ns - c.op_overhead_ns) * c.freq_ghz / bound.max_lookups_per_core - bound.add_cycles_per_lookup
    return cycles if cycles > 0 else None


@dataclass(frozen=True)
class CalibrationRow:
    """Measured and predicted embedding time of one distribution of row ids."""

    dist: str
    lookups: int
    measured: Measured
    predicted: dict[str, Predicted]
    op_overhead_ns: float
    bound: ComputeBound
    suggested_gather_cycles: float | None


def calibrate(system: SystemConfig, *, rows: int, dim: int, lookups: int, batch_size: int, repeats: int,
              seed: int = 0, dists: Sequence[str] = DISTS, threads: int | None = None,
              progress: Callable[[str], None] | None = None) -> list[CalibrationRow]:
    """Measure the real kernels and simulate the same batches on `system`; nothing is fitted."""
    from accelsim.workload.weights import table_rows_values
    for name, v in (("rows", rows), ("dim", dim), ("lookups", lookups), ("batch", batch_size),
                    ("repeats", repeats)):
        if v < 1:
            raise InputError(f"--{name}: expected a positive integer, got {v}")
    _check_fits_memory(rows * dim * 4)
    spec = calibration_spec(rows, dim, lookups)
    table = table_rows_values(seed, 0, np.arange(rows), dim, rows)
    threads = threads or system.cpu.cores
    out = []
    for dist in dists:
        if progress:
            progress(f"{dist}: generating, timing torch and numba, simulating")
        batch = calibration_batch(spec, dist, batch_size, seed)
        bags = batch.tables[0]
        measured = measure(table, bags.indices, bags.offsets, threads=threads, repeats=repeats)
        bound = compute_bound(system, batch, dim)
        out.append(CalibrationRow(
            dist=dist, lookups=bags.num_lookups, measured=measured, predicted=predict(system, spec, batch),
            op_overhead_ns=system.cpu.op_overhead_ns * spec.num_tables, bound=bound,
            suggested_gather_cycles=suggest_gather_cycles(system, bound, measured.torch_ns)))
    return out


def _check_fits_memory(table_bytes: int) -> None:
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if table_bytes > avail // 2:
        raise InputError(f"--rows x --dim: the table needs {table_bytes / 2**30:.2f} GiB, more than half of the "
                         f"{avail / 2**30:.2f} GiB of free memory")


def row_dict(r: CalibrationRow) -> dict:
    """One row as JSON-ready values, every quantity with its unit in the key."""
    d, a = r.predicted["detailed"], r.predicted["analytic"]
    m = r.measured
    return {
        "dist": r.dist, "lookups": r.lookups, "threads": m.threads,
        "measured_torch_ms": m.torch_ns / 1e6, "measured_numba_ms": m.numba_ns / 1e6,
        "predicted_detailed_ms": d.warm_ns / 1e6, "predicted_analytic_ms": a.warm_ns / 1e6,
        "predicted_detailed_cold_ms": d.cold_ns / 1e6, "predicted_analytic_cold_ms": a.cold_ns / 1e6,
        "op_overhead_ms": r.op_overhead_ns / 1e6,
        "detailed_to_torch_ratio": d.warm_ns / m.torch_ns, "analytic_to_torch_ratio": a.warm_ns / m.torch_ns,
        "detailed_to_torch_ratio_without_overhead": (d.warm_ns - r.op_overhead_ns) / m.torch_ns,
        "compute_bound_ms": r.bound.time_ns / 1e6, "max_lookups_per_core": r.bound.max_lookups_per_core,
        "cycles_per_lookup": r.bound.cycles_per_lookup,
        "miss_latency_avg_detailed_ns": d.miss_latency_avg_ns,
        "suggested_gather_cycles_per_lookup": r.suggested_gather_cycles,
    }
