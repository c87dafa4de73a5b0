"""What Linux says about the machine: detection from a fake sysfs / cpuinfo tree."""

from pathlib import Path

import pytest

from accelsim.errors import InputError
from accelsim.probe.host import detect_host, parse_cpu_list, parse_size_bytes, transparent_hugepages

ZEN4_FLAGS = "fpu sse sse2 avx fma avx2 avx512f avx512bw"
# (level, type, size, ways, line, shared_cpu_list; {cpu} = the CPU itself)
THREE_LEVELS = ((1, "Data", "32K", 8, 64, "{cpu}"), (1, "Instruction", "32K", 8, 64, "{cpu}"),
                (2, "Unified", "1024K", 8, 64, "{cpu}"), (3, "Unified", "32768K", 16, 64, "0-1"))


def fake_machine(root: Path, *, cpus=(0, 1), core_ids=None, caches=THREE_LEVELS, flags=ZEN4_FLAGS,
                 mhz: str | None = "2596.126", max_khz: int | None = None, model="Fake EPYC 9999",
                 cpuinfo_extra="") -> tuple[Path, Path]:
    """A /sys/devices/system/cpu and /proc/cpuinfo look-alike under `root`."""
    sys_cpu = root / "sys" / "devices" / "system" / "cpu"
    blocks = []
    for i, cpu in enumerate(cpus):
        d = sys_cpu / f"cpu{cpu}"
        (d / "topology").mkdir(parents=True)
        (d / "topology" / "physical_package_id").write_text("0\n")
        (d / "topology" / "core_id").write_text(f"{(core_ids or cpus)[i]}\n")
        for n, (level, kind, size, ways, line, shared) in enumerate(caches):
            c = d / "cache" / f"index{n}"
            c.mkdir(parents=True)
            for name, value in (("level", level), ("type", kind), ("size", size), ("ways_of_associativity", ways),
                                ("coherency_line_size", line), ("shared_cpu_list", shared.format(cpu=cpu))):
                (c / name).write_text(f"{value}\n")
        if max_khz is not None:
            (d / "cpufreq").mkdir()
            (d / "cpufreq" / "cpuinfo_max_freq").write_text(f"{max_khz}\n")
        lines = [f"processor\t: {cpu}", f"model name\t: {model}"]
        if mhz is not None:
            lines.append(f"cpu MHz\t\t: {mhz}")
        if flags is not None:
            lines.append(f"flags\t\t: {flags}")
        blocks.append("\n".join(lines) + cpuinfo_extra)
    cpuinfo = root / "proc" / "cpuinfo"
    cpuinfo.parent.mkdir(parents=True)
    cpuinfo.write_text("\n\n".join(blocks) + "\n")
    return sys_cpu, cpuinfo


def detect(tmp_path, *, cpus=(0, 1), **kw):
    sys_cpu, cpuinfo = fake_machine(tmp_path, cpus=cpus, **kw)
    return detect_host(sys_cpu_dir=sys_cpu, cpuinfo_path=cpuinfo, cpus=cpus, lscpu_text="")


# --- detection ------------------------------------------------------------------------------------------------

def test_detects_cores_clock_simd_and_caches(tmp_path):
    h = detect(tmp_path)
    assert (h.model_name, h.cores, h.freq_ghz, h.simd_fp32_lanes) == ("Fake EPYC 9999", 2, 2.596126, 16)
    assert "cpu MHz" in h.freq_source and "avx512f" in h.simd_source
    assert [(c.name, c.size_bytes, c.ways, c.line_bytes, c.private) for c in h.caches] == [
        ("L1D", 32768, 8, 64, True), ("L2", 1 << 20, 8, 64, True), ("L3", 32 << 20, 16, 64, False)]
    assert h.caches[2].sharing_cores == 2 and h.caches[2].instances == 1
    assert h.caches[1].directory.endswith("cpu0/cache/index2")  # the instruction cache was skipped


def test_smt_siblings_count_as_one_core(tmp_path):
    h = detect(tmp_path, cpus=(0, 1, 2, 3), core_ids=(0, 1, 0, 1),
               caches=((1, "Data", "48K", 12, 64, "{cpu}"), (2, "Unified", "2048K", 16, 64, "{cpu}"),
                       (3, "Unified", "30M", 12, 64, "0-3")))
    assert h.cores == 2
    assert h.caches[0].size_bytes == 48 << 10 and h.caches[2].size_bytes == 30 << 20


def test_cpufreq_is_preferred_to_cpuinfo_mhz(tmp_path):
    h = detect(tmp_path, max_khz=3_700_000)
    assert h.freq_ghz == 3.7 and "cpuinfo_max_freq" in h.freq_source


@pytest.mark.parametrize("flags, lanes", [("sse2 avx fma avx2", 8), ("sse sse2 sse4_2", 4), ("sse avx", 8),
                                          (ZEN4_FLAGS, 16)])
def test_simd_lanes_from_flags(tmp_path, flags, lanes):
    assert detect(tmp_path, flags=flags).simd_fp32_lanes == lanes


def test_arm_cpuinfo_gives_128_bit_vectors(tmp_path):
    h = detect(tmp_path, flags=None, cpuinfo_extra="\nFeatures\t: fp asimd evtstrm")
    assert h.simd_fp32_lanes == 4 and "asimd" in h.simd_source


def test_unknown_clock_is_none(tmp_path):
    assert detect(tmp_path, mhz=None).freq_ghz is None


def test_parsers(tmp_path):
    assert parse_cpu_list("0-3,8,10-11\n") == (0, 1, 2, 3, 8, 10, 11)
    assert [parse_size_bytes(t) for t in ("32K", "1024K", "32M", "65536", "2MiB")] == [
        32768, 1 << 20, 32 << 20, 65536, 2 << 20]
    with pytest.raises(InputError, match="expected a size"):
        parse_size_bytes("lots")
    with pytest.raises(InputError, match="CPU list"):
        parse_cpu_list("0-x")
    thp = tmp_path / "enabled"
    thp.write_text("always [madvise] never\n")
    assert transparent_hugepages(thp) == "madvise"
    assert transparent_hugepages(tmp_path / "missing") == "unknown"
