"""What Linux says about this machine: cores, clock, SIMD width, data-cache geometry, transparent huge pages.

The roots are parameters, so tests use a fake tree. What Linux says is a starting point only: the probes
measure what the caches really hold (a virtual machine's sysfs may describe the host's whole L3).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import InputError

SYS_CPU_DIR = Path("/sys/devices/system/cpu")
PROC_CPUINFO = Path("/proc/cpuinfo")
THP_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/enabled")
DEFAULT_FMA_UNITS = 2  # two FMA pipes per core: Haswell..Sapphire Rapids, Zen 2..Zen 4 (not detectable)
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)i?B?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
# (cpuinfo flag, FP32 lanes per vector register), widest first
_SIMD_FLAGS = (("avx512f", 16), ("avx2", 8), ("fma", 8), ("avx", 8))


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




def transparent_hugepages(path: str | Path = THP_ENABLED) -> str:
    """The kernel's THP mode: 'always', 'madvise', 'never', or 'unknown' where the file is missing."""
    try:
        text = Path(path).read_text()
    except OSError:
        return "unknown"
    m = re.search(r"\[(\w+)\]", text)
    return m.group(1) if m else "unknown"

