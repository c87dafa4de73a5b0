"""A DRAMsim3 .ini describes a DRAM: the DDR4-2400 file gives the shipped preset's timing."""

import numpy as np
import pytest

from accelsim.config.dram import DramConfig, load_dram
from accelsim.config.system import SystemConfig, load_system
from accelsim.config.base import to_yaml
from accelsim.errors import InputError
from accelsim.hw.dram import Dram

# DRAMsim3 configs/DDR4_8Gb_x8_2400.ini, as that file writes it (keys that do not describe timing or
# organisation kept too, since users' files have them)
DDR4_2400_INI = """[dram_structure]
protocol = DDR4
bankgroups = 4
banks_per_group = 4
rows = 65536
columns = 1024
device_width = 8
BL = 8

[timing]
tCK = 0.83
AL = 0
CL = 17
CWL = 12
tRCD = 17
tRP = 17
tRAS = 39
tRFC = 420
tRFC2 = 312
tRFC4 = 192
tREFI = 9360
tRPRE = 1
tWPRE = 1
tRRD_S = 4
tRRD_L = 6
tWTR_S = 3
tWTR_L = 9
tFAW = 26
tWR = 18
tWR2 = 19
tRTP = 9
tCCD_S = 4
tCCD_L = 6
tCKE = 6
tCKESR = 7
tXS = 432
tXP = 8
tRTRS = 1

[power]
VDD = 1.2
IDD0 = 48

[system]
channel_size = 16384
channels = 1
bus_width = 64
address_mapping = rochrababgco
queue_structure = PER_BANK
refresh_policy = RANK_LEVEL_STAGGERED
row_buf_policy = OPEN_PAGE ; a comment
cmd_queue_size = 8
trans_queue_size = 16

[other]
epoch_period = 1204819
output_level = 1
"""
TIMING_AND_ORG = [f for f in DramConfig.model_fields if f.startswith("t") and f not in ("tck_ns", "tRFCsb", "tREFIsb")]
TIMING_AND_ORG += ["channels", "ranks", "bankgroups", "banks_per_group", "rows", "columns", "device_width_bits",
                   "bus_width_bits", "burst_length"]


@pytest.fixture
def ini(tmp_path):
    p = tmp_path / "DDR4_8Gb_x8_2400.ini"
    p.write_text(DDR4_2400_INI)
    return p


def test_dramsim3_ddr4_2400_ini_gives_the_preset_timing(ini):
    from_ini, preset = load_dram(str(ini)), load_dram("DDR4-2400")
    for f in TIMING_AND_ORG:
        assert getattr(from_ini, f) == getattr(preset, f), f
    assert from_ini.tck_ns == pytest.approx(preset.tck_ns, rel=0.005)  # DRAMsim3 writes tCK rounded: 0.83
    assert from_ini.address_mapping == "rochrababgco" and from_ini.queue_depth == 16
    assert from_ini.queue_structure == "per_bank" and from_ini.command_queue_depth == 8
    assert from_ini.sources["tCL"].endswith("[timing] CL=17")
    # the same requests take the same number of cycles
    same = load_dram(str(ini), address_mapping=preset.address_mapping, queue_depth=preset.queue_depth,
                     queue_structure=preset.queue_structure)
    rng = np.random.default_rng(0)
    addr = rng.integers(0, preset.capacity_bytes // 64, 3000) * 64
    cyc = np.cumsum(rng.integers(0, 8, 3000))
    w = rng.random(3000) < 0.3
    a = Dram(same).simulate(cyc * same.tck_ns, addr, w).completion_ns / same.tck_ns
    b = Dram(preset).simulate(cyc * preset.tck_ns, addr, w).completion_ns / preset.tck_ns
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_hbm2_ini_columns_are_doubled_and_missing_keys_take_dramsim3_defaults(tmp_path):
    p = tmp_path / "hbm.ini"
    p.write_text("[dram_structure]\nprotocol = HBM\nbankgroups = 4\nbanks_per_group = 4\nrows = 32768\n"
                 "columns = 64\ndevice_width = 128\nBL = 4\n[timing]\ntCK = 1\nCL = 14\nCWL = 4\ntRCDRD = 14\n"
                 "tRP = 14\ntRAS = 34\ntRFC = 260\ntREFI = 3900\ntFAW = 30\n[system]\nchannel_size = 1024\n"
                 "channels = 8\nbus_width = 128\naddress_mapping = rorabgbachco\n")
    cfg = load_dram(str(p))
    assert cfg.columns == 128 and cfg.row_bytes == 2048 and cfg.ranks == 1 and cfg.tRCD == 14
    assert cfg.tRTRS == 2 and cfg.sources["tRTRS"] == "DRAMsim3 default tRTRS=2"
    assert (cfg.queue_structure, cfg.command_queue_depth, cfg.queue_depth) == ("per_bank", 16, 32)


def test_older_ini_names_the_command_queue_size_queue_size(tmp_path):
    # DRAMsim3's files of 2018 (e.g. DDR4_8Gb_x8_2400.ini at commit 7985fa0) write `queue_size`; its later
    # code reads `cmd_queue_size`, which wins when a file has both
    p = tmp_path / "old.ini"
    p.write_text("[system]\nqueue_structure = PER_RANK\nqueue_size = 12\n")
    cfg = load_dram(str(p))
    assert (cfg.queue_structure, cfg.command_queue_depth) == ("per_rank", 12)
    assert cfg.sources["command_queue_depth"] == "old.ini [system] queue_size=12"
    p.write_text("[system]\nqueue_size = 12\ncmd_queue_size = 4\n")
    assert load_dram(str(p)).command_queue_depth == 4


def test_hardware_yaml_takes_a_dram_ini(ini, tmp_path):
    hw = load_system("broadwell_cpu_only").model_dump(mode="json")
    hw["dram"] = {"ini": str(ini), "channels": 4}
    cfg = SystemConfig.model_validate(hw)
    assert cfg.dram.tCL == 17 and cfg.dram.channels == 4 and cfg.dram.ranks == 2
    assert "DDR4_8Gb_x8_2400.ini" in cfg.dram.sources["tCL"]
    (tmp_path / "hw.yaml").write_text(to_yaml(cfg))
    assert load_system(str(tmp_path / "hw.yaml")).dram == cfg.dram


def test_a_relative_ini_is_read_from_the_folder_of_the_file_naming_it(ini, tmp_path, monkeypatch):
    import shutil
    folder = tmp_path / "machines"
    folder.mkdir()
    shutil.copy(ini, folder / "mine.ini")
    hw = load_system("broadwell_cpu_only").model_dump(mode="json")
    hw["dram"] = {"ini": "mine.ini", "channels": 2}
    (folder / "hw.yaml").write_text(__import__("yaml").safe_dump(hw))
    monkeypatch.chdir(tmp_path)  # not the file's folder: the path is not found from here
    assert load_system(str(folder / "hw.yaml")).dram.tCL == 17


@pytest.mark.parametrize("text,match", [("[timing]\nCL = seventeen\n", r"\[timing\] CL: expected an integer"),
                                        ("CL = 17\n", "not a DRAMsim3 .ini file"),
                                        ("[system]\nrow_buf_policy = SOMETIMES\n", "row_buf_policy"),
                                        ("[system]\nqueue_structure = PER_CHANNEL\n", "queue_structure")])
def test_bad_ini_names_file_and_key(tmp_path, text, match):
    p = tmp_path / "bad.ini"
    p.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        load_dram(str(p))
    assert str(p) in str(err.value)
