import functools
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import accelsim.calibrate
from accelsim.calibrate import (build_system, calibration_batch, calibration_spec, compute_bound, detect_host,
                                parse_cpu_list, parse_size_bytes, suggest_gather_cycles)
from accelsim.cli import main
from accelsim.config.base import to_yaml
from accelsim.config.system import load_system
from accelsim.errors import InputError

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


def test_unknown_clock_needs_freq_ghz(tmp_path):
    h = detect(tmp_path, mhz=None)
    assert h.freq_ghz is None
    with pytest.raises(InputError, match="--freq-ghz"):
        build_system(h)
    s = build_system(h, freq_ghz=2.0)
    assert s.cpu.freq_ghz == 2.0 and s.cpu.sources["freq_ghz"] == "CLI --freq-ghz"


def test_llc_instances_add_up_private_levels_do_not(tmp_path):
    caches = ((1, "Data", "32K", 8, 64, "{cpu}"), (2, "Unified", "1024K", 8, 64, "{cpu}"),
              (3, "Unified", "32768K", 16, 64, "{cpu}"))  # one LLC per CPU, as on two sockets of one core
    s = build_system(detect(tmp_path, caches=caches))
    assert [c.size_bytes for c in s.cpu.caches] == [32768, 1 << 20, 64 << 20]
    assert "x 2 instances" in s.cpu.caches[2].sources["size_bytes"]


def test_parsers():
    assert parse_cpu_list("0-3,8,10-11\n") == (0, 1, 2, 3, 8, 10, 11)
    assert [parse_size_bytes(t) for t in ("32K", "1024K", "32M", "65536", "2MiB")] == [
        32768, 1 << 20, 32 << 20, 65536, 2 << 20]
    with pytest.raises(InputError, match="expected a size"):
        parse_size_bytes("lots")
    with pytest.raises(InputError, match="CPU list"):
        parse_cpu_list("0-x")


@given(st.sets(st.integers(0, 300), min_size=1))
def test_cpu_list_round_trips(cpus):
    runs = []  # write the set the way the kernel does: ranges of consecutive CPUs
    for _, grp in itertools.groupby(enumerate(sorted(cpus)), key=lambda ic: ic[1] - ic[0]):
        run = [c for _, c in grp]
        runs.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else f"{run[0]}")
    assert parse_cpu_list(",".join(runs)) == tuple(sorted(cpus))


def test_lscpu_clock_is_the_last_resort(tmp_path):
    sys_cpu, cpuinfo = fake_machine(tmp_path, mhz=None)
    h = detect_host(sys_cpu_dir=sys_cpu, cpuinfo_path=cpuinfo, cpus=(0, 1),
                    lscpu_text="Model name: Other\nCPU max MHz:  3100.0000\n")
    assert h.freq_ghz == 3.1 and "lscpu" in h.freq_source and h.model_name == "Fake EPYC 9999"


def test_missing_cache_info_is_an_input_error(tmp_path):
    sys_cpu, cpuinfo = fake_machine(tmp_path, caches=())
    with pytest.raises(InputError, match="no cache levels"):
        detect_host(sys_cpu_dir=sys_cpu, cpuinfo_path=cpuinfo, cpus=(0, 1), lscpu_text="")


# --- the SystemConfig -------------------------------------------------------------------------------------------

def test_odd_geometry_names_the_sysfs_file_and_can_be_overridden(tmp_path):
    caches = THREE_LEVELS[:3] + ((3, "Unified", "32000K", 12, 64, "0-1"),)  # 32768000 B / 768 B: not whole
    h = detect(tmp_path, caches=caches)
    with pytest.raises(InputError) as err:
        build_system(h)
    msg = str(err.value)
    assert "cpu0/cache/index3/size" in msg and "12 ways x 64 B" in msg and "--cache L3=" in msg
    assert "\n" not in msg
    s = build_system(h, cache_overrides=["L3=32M,16"])
    assert s.cpu.caches[2].size_bytes == 32 << 20 and s.cpu.caches[2].sources["size_bytes"].startswith("CLI --cache;")
    with pytest.raises(InputError, match="--cache: L3 of 1000 bytes"):
        build_system(h, cache_overrides=["L3=1000"])
    with pytest.raises(InputError, match="no level L4"):
        build_system(h, cache_overrides=["L4=1M,8"])


def test_level_count_must_match_the_base(tmp_path):
    h = detect(tmp_path, caches=THREE_LEVELS[:1] + ((2, "Unified", "4M", 16, 64, "0-1"),))
    with pytest.raises(InputError, match="2 data-cache levels.*broadwell_cpu_only has 3"):
        build_system(h)


def test_built_config_cites_every_source_and_round_trips(tmp_path):
    s = build_system(detect(tmp_path), lfb=24, dram="ddr5_4800", channels=8, fma_units=1)
    cpu = s.cpu
    assert (cpu.cores, cpu.simd_fp32_lanes, cpu.fma_units_per_core, cpu.line_fill_buffers_per_core) == (2, 16, 1, 24)
    assert cpu.private_cache_levels == 2 and s.accelerator is None and s.links is None
    assert cpu.sources["cores"].startswith("detected:") and cpu.sources["line_fill_buffers_per_core"] == "CLI --lfb"
    assert cpu.sources["gather_cycles_per_lookup"].startswith("from base config broadwell_cpu_only")
    assert cpu.caches[0].sources["hit_latency_ns"].startswith("from base config broadwell_cpu_only: L1D")
    assert "shared by 2 cores" in cpu.caches[2].sources["size_bytes"]
    assert (s.dram.standard, s.dram.channels, s.dram.sources["channels"]) == ("DDR5-4800", 8, "CLI --channels")
    base = load_system("broadwell_cpu_only")
    assert cpu.gather_cycles_per_lookup == base.cpu.gather_cycles_per_lookup
    assert s.energy.model_dump(exclude={"sources"}) == base.energy.model_dump(exclude={"sources"})
    path = tmp_path / "host.yaml"
    path.write_text(to_yaml(s))
    assert load_system(str(path)) == s


def test_default_dram_is_the_base_configs(tmp_path):
    s = build_system(detect(tmp_path))
    base = load_system("broadwell_cpu_only")
    assert s.dram.model_dump(exclude={"sources"}) == base.dram.model_dump(exclude={"sources"})
    assert s.dram.sources["channels"].startswith("from base config broadwell_cpu_only")
    with pytest.raises(InputError, match="unknown DRAM preset 'ddr9'"):
        build_system(detect(tmp_path / "b"), dram="ddr9")


@pytest.mark.skipif(not Path("/sys/devices/system/cpu/cpu0/cache/index0").exists(), reason="needs Linux sysfs")
def test_this_machine_is_detected():
    h = detect_host(lscpu_text="")
    assert h.cores >= 1 and h.caches and h.caches[0].name == "L1D"


# --- measurement-free parts of the comparison ------------------------------------------------------------------

def test_suggestion_inverts_the_compute_bound(tmp_path):
    s = build_system(detect(tmp_path))
    spec = calibration_spec(rows=5000, dim=64, lookups=20)
    batch = calibration_batch(spec, "uniform", 32, seed=1)
    b = compute_bound(s, batch, 64)
    assert b.max_lookups_per_core == max(np.bincount(np.repeat([0, 1], [320, 320])))  # 16 bags of 20 per core
    assert b.add_cycles_per_lookup == 2  # 64 floats / 16 lanes / 2 FMA units
    want = s.cpu.gather_cycles_per_lookup
    assert suggest_gather_cycles(s, b, b.time_ns + s.cpu.op_overhead_ns) == pytest.approx(want)
    assert suggest_gather_cycles(s, b, s.cpu.op_overhead_ns) is None


# --- the command -------------------------------------------------------------------------------------------------

TINY = ["calibrate", "--rows", "10000", "--batch", "64", "--repeats", "2"]


@pytest.fixture
def fake_host(tmp_path, monkeypatch):
    sys_cpu, cpuinfo = fake_machine(tmp_path / "host")
    # the command imports it when it runs
    monkeypatch.setattr(accelsim.calibrate, "detect_host", functools.partial(
        detect_host, sys_cpu_dir=sys_cpu, cpuinfo_path=cpuinfo, cpus=(0, 1), lscpu_text=""))


def test_cli_prints_the_table(fake_host, capsys):
    assert main(TINY + ["--suggest"]) == 0
    out = capsys.readouterr().out
    assert "Fake EPYC 9999: 2 cores @ 2.60 GHz" in out and "DDR4-2400 x 4 ch" in out
    assert "torch ms" in out and "numba ms" in out and "detailed/torch" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["uniform"], ["zipf"])}
    assert set(rows) == {"uniform", "zipf"}
    for r in rows.values():
        torch_ms, detailed_ms, analytic_ms, ratio = float(r[2]), float(r[4]), float(r[5]), float(r[7])
        assert torch_ms > 0 and detailed_ms > 0 and analytic_ms > 0
        assert ratio == pytest.approx(detailed_ms / torch_ms, rel=0.05, abs=0.01)  # printed to 3 and 2 decimals
    assert out.count("not applied") == 2


def test_cli_json_and_saved_hw(fake_host, tmp_path, capsys):
    hw = tmp_path / "out" / "host.yaml"
    assert main(TINY + ["--json", "--save-hw", str(hw), "--lfb", "12"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["machine"]["cores"] == 2 and d["machine"]["line_fill_buffers_per_core"] == 12
    assert d["workload"]["rows"] == 10000 and d["workload"]["batch_size"] == 64
    assert [r["dist"] for r in d["rows"]] == ["uniform", "zipf"]
    for r in d["rows"]:
        for key in ("measured_torch_ms", "measured_numba_ms", "predicted_detailed_ms", "predicted_analytic_ms",
                    "op_overhead_ms", "detailed_to_torch_ratio", "analytic_to_torch_ratio", "compute_bound_ms"):
            assert r[key] > 0, key
        assert r["op_overhead_ms"] == 0.005  # broadwell_cpu_only: 5 us per operator, one table
        assert r["detailed_to_torch_ratio"] == pytest.approx(r["predicted_detailed_ms"] / r["measured_torch_ms"])
        assert r["predicted_detailed_ms"] <= r["predicted_detailed_cold_ms"]  # the warm replay hits in the caches
        assert r["predicted_detailed_ms"] >= r["compute_bound_ms"]
        assert 0 < r["lookups"] <= 64 * 80
    saved = load_system(str(hw))
    assert saved.cpu.line_fill_buffers_per_core == 12 and saved.name == d["machine"]["hw"]


@pytest.mark.parametrize("args, needle", [
    (["--rows", "0"], "--rows"), (["--batch", "x"], "--batch"), (["--freq-ghz", "-1"], "--freq-ghz"),
    (["--repeats", "0"], "--repeats"), (["--dram", "ddr9"], "ddr9"), (["--base", "nosuch"], "nosuch"),
    (["--cache", "L3=big"], "--cache"), (["--channels", "0"], "channels"), (["--seed", "-1"], "--seed"),
])
def test_bad_input_exits_2_with_one_line(fake_host, capsys, args, needle):
    try:
        rc = main(TINY + args)
    except SystemExit as exc:
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
