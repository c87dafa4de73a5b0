import os

import pytest

from accelsim.atomic import atomic_path, write_text_atomic


def test_written_file_has_default_permissions_and_no_temp_left(tmp_path):
    write_text_atomic(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "d", is_dir=True) as tmp:
            (tmp / "f").write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_directory_replaces_an_old_one(tmp_path):
    for text in ("old", "new"):
        with atomic_path(tmp_path / "d", is_dir=True) as tmp:
            (tmp / "f").write_text(text)
    assert (tmp_path / "d" / "f").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]
