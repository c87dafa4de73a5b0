"""Known bad inputs from the fuzz run (issue 8): each is refused in one line naming the file and the field."""

import gzip
import io
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from accelsim.config.base import MAX_FLOAT, MAX_INT, read_yaml
from accelsim.config.dram import load_dram
from accelsim.config.system import load_system
from accelsim.config.workload import load_workload
from accelsim.errors import InputError
from accelsim.sim.api import resolve_point, run_point, simulate
from accelsim.workload.importers import import_dlrm_datasets, import_dlrm_text
from accelsim.workload.trace import open_trace

ROOT = Path(__file__).resolve().parents[2]
RM1 = yaml.safe_load((ROOT / "workloads" / "rm1.yaml").read_text())
HW = yaml.safe_load((ROOT / "hwconfigs" / "harpv2_centaur.yaml").read_text())


def _yaml(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("field, value, message", [
    ("count", True, "tables.0.count: Value error, expected an integer, got a boolean"),
    ("lookups_per_sample", 2**62, "tables.0.lookups_per_sample: Value error, 4611686018427387904 is larger"),
    ("rows", 2**41, "tables.0.rows: Input should be less than or equal to 1099511627776"),
])
def test_workload_counts_are_strict_and_bounded(tmp_path, field, value, message):
    path = _yaml(tmp_path, "wl.yaml", {**RM1, "tables": [{**RM1["tables"][0], field: value}]})
    with pytest.raises(InputError) as err:
        load_workload(str(path))
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert "at least 1 item" not in str(err.value)  # the consequence of tables.0 failing is not reported twice


def test_a_workload_error_in_a_run_names_the_workload_file(tmp_path):
    path = _yaml(tmp_path, "wl.yaml", {**RM1, "embedding_dim": True})
    with pytest.raises(InputError, match=f"^{path}: embedding_dim: Value error, expected an integer"):
        resolve_point({"hw": "harpv2_centaur", "workload": str(path), "mapping": "centaur"})


def test_booleans_are_not_counts_in_hardware_and_caches_are_bounded(tmp_path):
    hw = json.loads(json.dumps(HW))
    hw["accelerator"]["sparse_engine"]["gather_units"] = True
    with pytest.raises(InputError, match="accelerator.sparse_engine.gather_units: Value error, expected an integer, "
                                         "got a boolean"):
        load_system(str(_yaml(tmp_path, "a.yaml", hw)))
    hw = load_system("harpv2_centaur").model_dump(mode="json")
    hw["cpu"]["caches"][-1]["size_bytes"] = 2**62  # was a MemoryError
    with pytest.raises(InputError, match=r"a.yaml: cpu.caches.2.size_bytes: Value error, .* \(limit 2\^48\)"):
        load_system(str(_yaml(tmp_path, "a.yaml", hw)))
    hw["cpu"]["caches"][-1]["size_bytes"] = 2**40
    with pytest.raises(InputError, match=r"a.yaml: cpu.caches.2: Value error, size_bytes: .* the limit is"):
        load_system(str(_yaml(tmp_path, "a.yaml", hw)))
    hw["cpu"]["caches"][-1]["size_bytes"] = float("inf")
    with pytest.raises(InputError, match="cpu.caches.2.size_bytes"):
        load_system(str(_yaml(tmp_path, "a.yaml", hw)))
    assert MAX_INT == 2**48


def test_a_huge_link_latency_is_refused_at_its_field(tmp_path):
    # 1e300 ns used to overflow the request times to infinity inside the DRAM model ("arrival_ns must be finite")
    hw = load_system("harpv2_centaur").model_dump(mode="json")
    hw["links"]["channels"][0]["latency_ns"] = 1e300
    with pytest.raises(InputError, match=r"a.yaml: links.channels.0.latency_ns: Value error, 1e\+300 is larger .* "
                                         r"\(limit 1e\+15\)"):
        load_system(str(_yaml(tmp_path, "a.yaml", hw)))
    hw["links"]["channels"][0]["latency_ns"] = MAX_FLOAT  # the bound itself is a (very slow) link
    assert load_system(str(_yaml(tmp_path, "a.yaml", hw))).links.channels[0].latency_ns == MAX_FLOAT


def test_a_design_that_does_not_fit_its_fpga_names_the_hardware_file(tmp_path):
    hw = load_system("harpv2_centaur").model_dump(mode="json")
    hw["accelerator"]["sparse_engine"]["gather_units"] = 4096
    f = _yaml(tmp_path, "big.yaml", hw)
    with pytest.raises(InputError, match=rf"^{re.escape(str(f))}: accelerator: design does not fit Arria 10 GX1150: DSP: needs"):
        resolve_point({"hw": str(f), "workload": "rm1", "mapping": "centaur"})


def test_a_refresh_interval_with_no_room_for_a_row_cycle_is_refused(tmp_path):
    hw = load_system("harpv2_centaur").model_dump(mode="json")
    hw["dram"]["tRCD"] *= 1000  # used to livelock the DRAM kernel: refresh closed the row before every read
    with pytest.raises(InputError, match="hw.dram: Value error, tREFI: .* leave no time for a row cycle"):
        resolve_point({"hw": hw, "workload": "rm1", "mapping": "centaur"})


def test_a_point_over_the_work_budget_is_refused_at_once_with_its_estimate(tmp_path, monkeypatch):
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"^\S*workloads/rm1.yaml: detailed run of 128000 samples x 640 lookups "
                                         r"needs ~1.64e\+08 line requests, over the budget of 2e\+07"):
        simulate(batch_size=128000)
    assert time.perf_counter() - t0 < 5
    mine = tmp_path / "mine.yaml"  # a user's file, at its own default_batch_size: the error names the file
    mine.write_text(yaml.safe_dump({**read_yaml(ROOT / "workloads" / "rm1.yaml"), "default_batch_size": 128000}))
    with pytest.raises(InputError, match=rf"^{re.escape(str(mine))}: detailed run of 128000 samples .*lower batch_size"):
        simulate(workload=str(mine))
    spec = read_yaml(mine)  # given as data, there is no file to name: the workload's name instead
    with pytest.raises(InputError, match=r"^workload rm1: detailed run of 128000 samples"):
        simulate(workload=spec)
    monkeypatch.setenv("ACCELSIM_WORK_SCALE", "nope")
    with pytest.raises(InputError, match="ACCELSIM_WORK_SCALE: expected a positive number"):
        simulate(batch_size=2, fidelity="analytic", functional=False)


def test_schema_version_true_is_not_version_1(tmp_path):
    trace = tmp_path / "t.trace"
    shutil.copytree(ROOT / "workloads" / "traces" / "rm1.trace", trace)
    meta = json.loads((trace / "meta.json").read_text())
    (trace / "meta.json").write_text(json.dumps({**meta, "schema_version": True}))
    with pytest.raises(InputError, match="meta.json: schema_version"):
        open_trace(trace)


def test_an_npz_where_an_npy_belongs_is_named(tmp_path):
    trace = tmp_path / "t.trace"
    shutil.copytree(ROOT / "workloads" / "traces" / "rm1.trace", trace)
    target = trace / "chunk_00000.offsets.npy"
    a = np.load(target)
    with open(target, "wb") as fh:
        np.savez(fh, a=a)
    with pytest.raises(InputError, match=f"{target}: expected an .npy array, got NpzFile"):
        open_trace(trace).batch(0)


def test_nul_bytes_in_a_text_trace_are_refused(tmp_path):
    f = tmp_path / "ids.txt"
    f.write_bytes(b"1, 2\x00, 3")
    with pytest.raises(InputError, match=f"{f}: character 4: NUL byte in a text trace"):
        import_dlrm_text(f, tmp_path / "t.trace", rows=10, batch_size=1)
    assert not (tmp_path / "t.trace").exists()


class _Evil:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/accelsim_pwned_by_test"),))


@pytest.mark.parametrize("obj, message", [
    ((torch.sparse_coo_tensor(torch.tensor([[0, 1]]), torch.tensor([1, 2]), (3,)), torch.tensor([0, 2]),
      torch.tensor([[2]])), "indices must be a 1-D dense integer tensor"),
    (_Evil(), "not a torch.save file"),
])
def test_dlrm_datasets_files_never_run_code_and_sparse_tensors_are_named(tmp_path, obj, message):
    buf = io.BytesIO()
    torch.save(obj, buf)
    f = tmp_path / "b.pt.gz"
    f.write_bytes(gzip.compress(buf.getvalue()))
    with pytest.raises(InputError, match=f"{f}: .*{message}"):
        import_dlrm_datasets(f, tmp_path / "t.trace", rows=10)
    assert not Path("/tmp/accelsim_pwned_by_test").exists()


def test_a_closed_pipe_ends_quietly(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "accelsim", "trace", "stats", "--json",
                             str(ROOT / "workloads" / "traces" / "rm1.trace")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # `| head` that has already left
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err and err == ""


def test_run_point_checks_a_resolved_point_too():
    point = {"hw": "harpv2_centaur", "workload": "rm1", "mapping": "centaur", "batch_size": 200000,
             "fidelity": "analytic"}
    with pytest.raises(InputError, match=r"workloads/rm1.yaml: analytic run of 200000 samples"):
        resolve_point(point)  # a workload named by file is checked as it resolves, naming the file
    resolved = resolve_point({**point, "workload": read_yaml(ROOT / "workloads" / "rm1.yaml")})
    with pytest.raises(InputError, match="workload rm1: analytic run of 200000 samples"):
        run_point(resolved)


def test_binary_config_files_and_nul_paths_are_one_line_errors(tmp_path):
    ini = tmp_path / "dram.ini"
    ini.write_bytes(b"\xfb\x00[dram_structure]")
    with pytest.raises(InputError, match=r"dram.ini: not a DRAMsim3 .ini file: byte 0 is not UTF-8 text"):
        load_dram(str(ini))
    hw = tmp_path / "hw.yaml"
    hw.write_bytes(b"name: \xfb\n")
    with pytest.raises(InputError, match=r"hw.yaml: byte 6 is not UTF-8 text"):
        load_system(str(hw))
    with pytest.raises(InputError, match=r"cannot read: embedded null byte"):
        load_system("a\x00.yaml")


def test_a_dram_of_more_banks_than_any_system_and_an_oversized_scalesim_array_name_their_files(tmp_path):
    from accelsim.workload.scalesim import read_scalesim_config
    hw = load_system("broadwell_cpu_only").model_dump(mode="json")
    hw["dram"]["bankgroups"] = 10**11  # used to ask for a per-bank array of terabytes (MemoryError)
    with pytest.raises(InputError, match=r"a.yaml: dram: .* = 3200000000000 banks; the limit is 65536"):
        load_system(str(_yaml(tmp_path, "a.yaml", hw)))
    cfg = tmp_path / "a.cfg"
    cfg.write_text("[architecture_presets]\nArrayHeight: 5000\nArrayWidth: 4\nIfmapSramSzkB: 1\nFilterSramSzkB: 1\n"
                   "OfmapSramSzkB: 1\nDataflow: ws\n")
    with pytest.raises(InputError, match=r"a.cfg: \[architecture_presets\] ArrayHeight: 5000 .* \(limit 4096\)"):
        read_scalesim_config(cfg)


def test_tables_larger_than_the_host_dram_name_the_workload_file(tmp_path):
    wl = read_yaml(ROOT / "workloads" / "rm1.yaml")
    wl["tables"][0]["rows"] = 10**11
    f = _yaml(tmp_path, "big.yaml", wl)
    with pytest.raises(InputError, match=rf"^{re.escape(str(f))}: tables: workload 'rm1' needs .* GiB for its "
                                         r"tables, host DRAM of harpv2_centaur holds 64.0 GiB"):
        resolve_point({"hw": "harpv2_centaur", "workload": str(f), "mapping": "centaur"})


def test_a_chunk_renamed_in_meta_json_names_the_field(tmp_path):
    trace = tmp_path / "t.trace"
    shutil.copytree(ROOT / "workloads" / "traces" / "rm1.trace", trace)
    meta = json.loads((trace / "meta.json").read_text())
    meta["chunks"][0]["name"] = "renamed"
    (trace / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"renamed.indices.npy: missing \(named by meta.json chunks.0.name\)"):
        list(open_trace(trace))


def test_links_that_share_no_request_size_are_refused_at_the_field(tmp_path):
    hw = load_system("harpv2_centaur").model_dump(mode="json")
    hw["links"]["channels"][2]["line_bytes"] = 48  # 48/96/192 B requests: none is also a 64/128/256 B one
    with pytest.raises(InputError, match=r"a.yaml: links: Value error, channels: the channels share no request"):
        load_system(str(_yaml(tmp_path, "a.yaml", hw)))
    assert load_system("harpv2_centaur").links.shared_request_bytes == (64, 128, 256)


def test_links_that_cannot_carry_the_sparse_engines_requests_are_refused_at_load(tmp_path):
    d = yaml.safe_load((Path(__file__).parents[2] / "hwconfigs" / "spr_hbm_ucie_chiplet.yaml").read_text())
    d["links"]["channels"][0]["line_bytes"] = 160  # the engine's 64-byte lines no longer fit (fuzz run 2026-12-02)
    f = tmp_path / "hw.yaml"
    f.write_text(yaml.safe_dump(d))
    with pytest.raises(InputError, match=rf"^{re.escape(str(f))}: .*accelerator.sparse_engine.line_bytes: the sparse "
                                         r"engine sends requests of \[64, 128, 256\] bytes .* carry only \[160, 320, 640\]"):
        load_system(str(f))
