import importlib.util
import json
import os

import numpy as np
import pytest

from accelsim.cli import main
from accelsim.workload.stackdist import read_distribution
from accelsim.workload.trace import open_trace

WORKLOAD_YAML = """\
name: clitiny
source: test
embedding_dim: 4
tables:
  - {rows: 5000, lookups_per_sample: 4, count: 2}
bottom_mlp: [3, 4]
top_mlp: [1]
"""


@pytest.fixture
def wl(tmp_path):
    path = tmp_path / "clitiny.yaml"
    path.write_text(WORKLOAD_YAML)
    return str(path)


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_synth_stats_profile_stackdist_export_import(tmp_path, wl, capsys):
    z = tmp_path / "z.trace"
    assert run(capsys, "trace", "synth", "--workload", wl, "--dist", "zipf", "--alpha", "1.2", "--reuse", "0.1",
               "--batches", "3", "--batch-size", "16", "--seed", "4", "-o", str(z))[0] == 0
    meta = open_trace(z).meta
    assert meta.source == "synth:zipf" and meta.seed == 4 and meta.workload == "clitiny"
    assert meta.extra["alpha"] == 1.2 and meta.extra["reuse"] == 0.1

    rc, out, _ = run(capsys, "trace", "stats", str(z))
    assert rc == 0 and "top0.1%" in out and "gathered MB" in out and out.count("\n") >= 4
    rc, out, _ = run(capsys, "trace", "stats", str(z), "--json")
    stats = json.loads(out)
    assert rc == 0 and stats["overall"]["lookups"] == meta.num_lookups
    assert stats["overall"]["gathered_bytes"] == meta.num_lookups * 16

    rc, _, err = run(capsys, "trace", "profile", str(z), "-o", str(tmp_path / "d.log"))
    assert rc == 2 and "has 2 tables" in err and not (tmp_path / "d.log").exists()
    assert run(capsys, "trace", "profile", str(z), "-o", str(tmp_path / "d{table}.log"))[0] == 0
    unique, _, _ = read_distribution(tmp_path / "d1.log")
    assert set(unique.tolist()) == set(np.concatenate([b.tables[1].indices for b in open_trace(z)]).tolist())

    s = tmp_path / "s.trace"
    assert run(capsys, "trace", "synth", "--workload", wl, "--dist", "stackdist", "--stackdist-file",
               str(tmp_path / "d{table}.log"), "--batches", "2", "--batch-size", "8", "--seed", "1",
               "-o", str(s))[0] == 0
    assert open_trace(s).meta.source == "synth:stackdist"

    exp = tmp_path / "exp"
    assert run(capsys, "trace", "export", "--format", "dlrm-datasets", str(z), "-o", str(exp))[0] == 0
    files = sorted(str(p) for p in exp.glob("*.pt.gz"))  # not the output marker
    back = tmp_path / "back.trace"
    assert run(capsys, "trace", "import", "--format", "dlrm-datasets", *files, "--workload", wl,
               "-o", str(back))[0] == 0
    for a, b in zip(open_trace(z), open_trace(back)):
        for x, y in zip(a.tables, b.tables):
            assert np.array_equal(x.indices, y.indices) and np.array_equal(x.offsets, y.offsets)

    txt = tmp_path / "t1.log"
    assert run(capsys, "trace", "export", "--format", "dlrm-text", str(z), "--table", "1", "-o", str(txt))[0] == 0
    t1 = tmp_path / "t1.trace"
    assert run(capsys, "trace", "import", "--format", "dlrm-text", str(txt), "--rows", "5000", "--batch-size",
               "16", "--bag-size", "4", "-o", str(t1))[0] == 0
    assert np.array_equal(np.concatenate([b.tables[0].indices for b in open_trace(t1)]),
                          np.concatenate([b.tables[1].indices for b in open_trace(z)]))


def leftovers(d):
    return sorted(os.listdir(d))


@pytest.mark.parametrize("argv,needle", [
    (["synth", "--dist", "zipf", "--batches", "0", "--batch-size", "4", "--seed", "1"], "must be >= 1"),
    (["synth", "--dist", "stackdist", "--batches", "1", "--batch-size", "4", "--seed", "1"],
     "needs a distribution file"),
    (["synth", "--dist", "stackdist", "--stackdist-file", "nope.log", "--batches", "1", "--batch-size", "4",
      "--seed", "1"], "nope.log: cannot read"),
    (["synth", "--dist", "uniform", "--reuse", "2", "--batches", "1", "--batch-size", "4", "--seed", "1"],
     "reuse must be a fraction"),
    (["import", "--format", "dlrm-text", "{bad_text}", "--rows", "10", "--batch-size", "2"],
     "index position 2: row 99 out of range [0, 10)"),
    (["import", "--format", "dlrm-datasets", "{bad_text}", "--rows", "10"], "not a readable gzip file"),
    (["import", "--format", "dlrm-text", "{bad_text}", "--workload", "{wl}"],
     "file has 1 tables, workload clitiny has 2"),
])
def test_errors_exit_2_and_leave_nothing(tmp_path, wl, capsys, argv, needle):
    bad = tmp_path / "bad.log"
    bad.write_text("1, 2, 99, 3")
    out = tmp_path / "out" / "x.trace"
    out.parent.mkdir()
    argv = [a.format(bad_text=bad, wl=wl) for a in argv]
    if argv[0] == "synth":
        argv += ["--workload", wl]
    rc, stdout, err = run(capsys, "trace", *argv, "-o", str(out))
    assert rc == 2 and needle in err and err.count("\n") == 1 and err.startswith("accelsim: error:")
    assert leftovers(out.parent) == []


def test_unknown_workload_and_missing_trace_exit_2(tmp_path, capsys):
    rc, _, err = run(capsys, "trace", "synth", "--workload", "no_such_model", "--dist", "zipf", "--batches", "1",
                     "--batch-size", "1", "--seed", "1", "-o", str(tmp_path / "x.trace"))
    assert rc == 2 and "unknown workload" in err and leftovers(tmp_path) == []
    rc, _, err = run(capsys, "trace", "stats", str(tmp_path / "missing.trace"))
    assert rc == 2 and "not a trace" in err


def test_shipped_workload_by_name(tmp_path, capsys):
    out = tmp_path / "rm1.trace"
    assert run(capsys, "trace", "synth", "--workload", "rm1", "--dist", "uniform", "--batches", "1",
               "--batch-size", "2", "--seed", "0", "-o", str(out))[0] == 0
    assert open_trace(out).meta.table_rows == (4_000_000,) * 8


@pytest.mark.skipif(importlib.util.find_spec("accelsim.workload.capture") is None,
                    reason="accelsim.workload.capture (another helper's module) is not there yet")
def test_capture_cli(tmp_path, wl, capsys):
    out = tmp_path / "c.trace"
    rc, _, err = run(capsys, "trace", "capture", "--workload", wl, "--batches", "2", "--batch-size", "4",
                     "--seed", "0", "-o", str(out))
    assert rc == 0, err
    r = open_trace(out)
    assert len(r) == 2 and r.meta.table_rows == (5000, 5000)
    rc, _, err = run(capsys, "trace", "capture", "--workload", wl, "--batches", "0", "--batch-size", "4",
                     "--seed", "0", "-o", str(tmp_path / "d.trace"))
    assert rc == 2 and not (tmp_path / "d.trace").exists()


def test_capture_memory_budget_is_a_cli_option(tmp_path, capsys):
    from accelsim.cli import main
    out = tmp_path / "c.trace"
    assert main(["trace", "capture", "--workload", "rm1", "--batches", "1", "--batch-size", "2", "--seed", "0",
                 "-o", str(out), "--memory-budget-gib", "0.5"]) == 2
    assert "--memory-budget-gib" in capsys.readouterr().err and not out.exists()
