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


# --- never over a user's files: claim_output / mark_output, and every writing command of the CLI ---

import gzip  # noqa: E402
import io  # noqa: E402

import torch  # noqa: E402
import yaml  # noqa: E402

from accelsim.atomic import MARKER, claim_output, output_kind, overwrite_allowed, sidecar  # noqa: E402
from accelsim.cli import main  # noqa: E402
from accelsim.errors import InputError  # noqa: E402

TINY = {"name": "tiny", "source": "test", "embedding_dim": 4, "interaction": "cat",
        "tables": [{"rows": 100, "lookups_per_sample": 3}], "bottom_mlp": [4], "top_mlp": [8, 1],
        "default_batch_size": 8}


def test_a_directory_of_someone_else_is_refused_until_forced(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"d: exists and is not an accelsim trace output \(it holds notes.txt\); "
                                         r"choose another path, or pass --force"):
        with atomic_path(d, is_dir=True, kind="trace"):
            pytest.fail("the block must not run")
    assert (d / "notes.txt").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    with overwrite_allowed():
        with atomic_path(d, is_dir=True, kind="trace") as tmp:
            (tmp / "meta.json").write_text("{}")
    assert sorted(p.name for p in d.iterdir()) == [MARKER, "meta.json"] and output_kind(d) == "trace"


def test_a_previous_output_of_the_same_kind_is_replaced_but_not_one_of_another_kind(tmp_path):
    d = tmp_path / "d"
    for text in ("old", "new"):
        with atomic_path(d, is_dir=True, kind="run") as tmp:
            (tmp / "summary.json").write_text(text)
    assert (d / "summary.json").read_text() == "new"
    with pytest.raises(InputError, match="holds an accelsim run output, not a trace"):
        claim_output(d, "trace")
    (d / "notes.txt").write_text("added later by the user")
    with pytest.raises(InputError, match=r"holds files accelsim did not write there \(notes.txt\)"):
        claim_output(d, "run")
    assert claim_output(tmp_path / "empty", "run") and claim_output(d, "run", force=True)


def test_a_file_output_needs_its_sidecar_to_be_replaced(tmp_path):
    f = tmp_path / "table.csv"
    f.write_text("user data")
    with pytest.raises(InputError, match="table.csv: exists and is not an accelsim centaur-table output"):
        write_text_atomic(f, "x", kind="centaur-table")
    assert f.read_text() == "user data"
    f.unlink()
    write_text_atomic(f, "1", kind="centaur-table")
    write_text_atomic(f, "2", kind="centaur-table")
    assert f.read_text() == "2" and sidecar(f).exists() and output_kind(f) == "centaur-table"
    with pytest.raises(InputError, match="is an accelsim centaur-table output, not a results-table"):
        claim_output(f, "results-table", is_dir=False)
    with pytest.raises(InputError, match="is a directory"):
        claim_output(tmp_path, "results-table", is_dir=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A workload, a trace of it, a dlrm_datasets file, a text trace, a sweep spec and a stored sweep."""
    root = tmp_path_factory.mktemp("inputs")
    wl = root / "tiny.yaml"
    wl.write_text(yaml.safe_dump(TINY))
    trace = root / "t.trace"
    assert main(["trace", "synth", "--workload", str(wl), "--dist", "zipf", "--batches", "2", "--batch-size", "8",
                 "--seed", "0", "-o", str(trace)]) == 0
    buf = io.BytesIO()
    torch.save((torch.tensor([1, 2, 3]), torch.tensor([0, 1, 3]), torch.tensor([[1, 2]])), buf)
    pt = root / "b.pt.gz"
    pt.write_bytes(gzip.compress(buf.getvalue()))
    text = root / "ids.txt"
    text.write_text("1, 2, 3, 4")
    spec = root / "sweep.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "base": {"hw": "harpv2_centaur", "workload": str(wl),
                                                          "mapping": "centaur", "fidelity": "analytic",
                                                          "functional": False, "batch_size": 8}}))
    store = root / "store"
    assert main(["sweep", str(spec), "-o", str(store), "--in-process"]) == 0
    return dict(wl=str(wl), trace=str(trace), pt=str(pt), text=str(text), spec=str(spec), store=str(store))


# Every command of this branch that writes: argv given the output path, and whether that output is a directory.
WRITERS = {
    "trace synth": (lambda i, o: ["trace", "synth", "--workload", i["wl"], "--dist", "uniform", "--batches", "1",
                                  "--batch-size", "4", "--seed", "0", "-o", o], True),
    "trace capture": (lambda i, o: ["trace", "capture", "--workload", i["wl"], "--batches", "1", "--batch-size",
                                    "4", "--seed", "0", "-o", o], True),
    "trace import dlrm-datasets": (lambda i, o: ["trace", "import", "--format", "dlrm-datasets", i["pt"],
                                                 "--rows", "10", "-o", o], True),
    "trace import dlrm-text": (lambda i, o: ["trace", "import", "--format", "dlrm-text", i["text"], "--rows", "10",
                                             "--batch-size", "2", "-o", o], True),
    "trace export dlrm-datasets": (lambda i, o: ["trace", "export", "--format", "dlrm-datasets", i["trace"],
                                                 "-o", o], True),
    "trace export dlrm-text": (lambda i, o: ["trace", "export", "--format", "dlrm-text", i["trace"], "-o", o], False),
    "trace profile": (lambda i, o: ["trace", "profile", i["trace"], "-o", o], False),
    "run": (lambda i, o: ["run", "--hw", "harpv2_centaur", "--workload", i["wl"], "--fidelity", "analytic",
                          "--no-functional", "-o", o], True),
    "sweep": (lambda i, o: ["sweep", i["spec"], "-o", o, "--in-process"], True),
    "results": (lambda i, o: ["results", i["store"], "-o", o], False),
    "figures": (lambda i, o: ["figures", "--models", "rm1", "--batch-sizes", "1", "-o", o], True),
    "main": (lambda i, o: ["main", "--batch-sizes", "1", "--fidelity", "analytic", "-o", o], False),
    "probe": (lambda i, o: ["probe", "-o", o], False),
    "validate": (lambda i, o: ["validate", "--hw", "broadwell_cpu_only", "-o", o], True),
    "replay": (lambda i, o: ["replay", i["trace"], "-o", o], False),
}


@pytest.mark.parametrize("name", WRITERS)
def test_a_users_notes_survive_every_writing_command(name, inputs, tmp_path, capsys):
    argv, is_dir = WRITERS[name]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    target = mine if is_dir else mine / "notes.txt"  # a directory output onto the folder, a file output onto the file
    capsys.readouterr()
    assert main(argv(inputs, str(target))) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"accelsim: error: {target}: ") and "--force" in err and err.count("\n") == 1, err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "my notes"


def test_force_replaces_and_a_second_run_replaces_its_own_output(inputs, tmp_path):
    argv, _ = WRITERS["trace synth"]
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("x")
    assert main(argv(inputs, str(out))) == 2
    assert main([*argv(inputs, str(out)), "--force"]) == 0
    assert not (out / "notes.txt").exists() and (out / "meta.json").exists()
    assert main(argv(inputs, str(out))) == 0  # its own output: replaced without --force
    table = tmp_path / "t.parquet"
    assert main(WRITERS["results"][0](inputs, str(table))) == 0
    assert main(WRITERS["results"][0](inputs, str(table))) == 0


def test_an_output_path_with_a_nul_byte_is_refused_before_any_work(tmp_path):
    with pytest.raises(InputError, match=r"output path holds a NUL byte"):
        claim_output(str(tmp_path / "a\x00b"), "trace")
    assert main(["gemm", "--topology", "x.csv", "--rows", "2", "--cols", "2", "--dataflow", "os", "-o", "a\x00"]) == 2
