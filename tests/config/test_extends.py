import pytest

from accelsim.config.system import load_system
from accelsim.errors import InputError


def test_extends_follows_a_base_that_itself_extends(tmp_path):
    # harpv2_centaur extends broadwell_cpu_only: both levels must reach the result.
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: harpv2_centaur\nname: mine\naccelerator: {sparse_engine: {gather_units: 3}}\n")
    s, centaur = load_system(str(mine)), load_system("harpv2_centaur")
    assert s.name == "mine" and s.accelerator.sparse_engine.gather_units == 3
    assert s.cpu == centaur.cpu and s.dram == centaur.dram and s.links == centaur.links
    assert s.accelerator.dense_engine == centaur.accelerator.dense_engine


def test_an_extends_cycle_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "a.yaml").write_text(f"extends: {tmp_path / 'b.yaml'}\nname: a\n")
    (tmp_path / "b.yaml").write_text(f"extends: {tmp_path / 'a.yaml'}\nname: b\n")
    with pytest.raises(InputError, match=r"a\.yaml.*cycle"):
        load_system(str(tmp_path / "a.yaml"))


def test_a_relative_extends_is_taken_from_the_including_files_folder(tmp_path, monkeypatch):
    # sub/mine.yaml extends base.yaml beside it, which extends a shipped name: run from elsewhere.
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "base.yaml").write_text("extends: harpv2_centaur\nname: base\n"
                                                "accelerator: {sparse_engine: {gather_units: 5}}\n")
    (tmp_path / "sub" / "mine.yaml").write_text("extends: base.yaml\nname: mine\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "base.yaml").write_text("extends: broadwell_cpu_only\nname: wrong\n")
    monkeypatch.chdir(tmp_path / "elsewhere")  # a cwd-relative lookup would find the wrong base.yaml
    s = load_system(str(tmp_path / "sub" / "mine.yaml"))
    assert s.name == "mine" and s.accelerator.sparse_engine.gather_units == 5


def test_a_relative_extends_that_exists_nowhere_names_the_field(tmp_path):
    (tmp_path / "mine.yaml").write_text("extends: nope/base.yaml\nname: mine\n")
    with pytest.raises(InputError, match=r"mine\.yaml.*extends.*nope/base\.yaml"):
        load_system(str(tmp_path / "mine.yaml"))
