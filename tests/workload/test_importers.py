import gzip
import io
import os

import numpy as np
import pytest
import torch

from accelsim.atomic import MARKER
from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError
from accelsim.workload.importers import (export_dlrm_datasets, export_dlrm_text, import_dlrm_datasets,
                                         import_dlrm_text)
from accelsim.workload.trace import Batch, TableBags, TraceWriter, open_trace

T, B, ROWS = 3, 4, 50


def spec(count=T, rows=ROWS):
    return parse_model(ModelSpec, dict(name="imp", source="test", embedding_dim=4,
                                       tables=[{"rows": rows, "lookups_per_sample": 3, "count": count}],
                                       bottom_mlp=[3, 4], top_mlp=[1], default_batch_size=2))


def dataset_tuple(seed, t=T, b=B):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 5, (t, b))
    offsets = np.concatenate([[0], np.cumsum(lengths.reshape(-1))])
    indices = rng.integers(0, ROWS, offsets[-1])
    return tuple(torch.from_numpy(a.astype(np.int64)) for a in (indices, offsets, lengths))


def save_gz(path, obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    with gzip.open(path, "wb") as f:
        f.write(buf.getvalue())
    return path


def load_gz(path):
    with gzip.open(path, "rb") as f:
        return torch.load(io.BytesIO(f.read()))


def test_dlrm_datasets_import_export_round_trip(tmp_path):
    originals = [dataset_tuple(s) for s in range(3)]
    files = [save_gz(tmp_path / f"f{i}.pt.gz", o) for i, o in enumerate(originals)]
    trace = import_dlrm_datasets(files, tmp_path / "t.trace", spec=spec())
    r = open_trace(trace)
    assert len(r) == 3 and r.meta.source == "import:dlrm-datasets" and r.meta.workload == "imp"
    indices, offsets, lengths = (a.numpy() for a in originals[1])
    for t, bags in enumerate(r.batch(1).tables):  # table-major: offsets[t*B + b]
        off = offsets[t * B:(t + 1) * B + 1]
        np.testing.assert_array_equal(bags.indices, indices[off[0]:off[-1]])
        np.testing.assert_array_equal(np.diff(bags.offsets), lengths[t])
    out = export_dlrm_datasets(trace, tmp_path / "exp")
    exported = sorted(p for p in os.listdir(out) if p != MARKER)
    assert exported == ["batch_00000.pt.gz", "batch_00001.pt.gz", "batch_00002.pt.gz"]
    for name, orig in zip(exported, originals):
        back = load_gz(out / name)
        assert len(back) == 3 and all(torch.equal(x, y) for x, y in zip(back, orig))


def test_rows_option_applies_to_every_table(tmp_path):
    f = save_gz(tmp_path / "f.pt.gz", dataset_tuple(0))
    assert open_trace(import_dlrm_datasets(f, tmp_path / "t.trace", rows=ROWS)).meta.table_rows == (ROWS,) * T


def _bad_offsets_len(t):
    i, o, l_ = t
    return i, o[:-1], l_


def _bad_lengths(t):
    i, o, l_ = t
    l_ = l_.clone()
    l_[1, 2] += 1
    return i, o, l_


@pytest.mark.parametrize("make,kw,needle", [
    (_bad_offsets_len, dict(rows=ROWS),
     "offsets has 12 entries, expected T*B + 1 = 13 for lengths of shape (T, B) = (3, 4)"),
    (_bad_lengths, dict(rows=ROWS), "table 1, bag 2: offsets give length"),
    (lambda t: t, dict(rows=ROWS - 45), "table 0, index position"),
    (lambda t: t, dict(spec=spec(count=2)), "file has 3 tables, workload imp has 2"),
    (lambda t: t, dict(), "give exactly one of a workload"),
    (lambda t: t[:2], dict(rows=ROWS), "expected a tuple of 3 tensors"),
    (lambda t: (t[0].float(), t[1], t[2]), dict(rows=ROWS), "indices must be a 1-D dense integer tensor"),
])
def test_dlrm_datasets_checks(tmp_path, make, kw, needle):
    f = save_gz(tmp_path / "f.pt.gz", make(dataset_tuple(0)))
    out = tmp_path / "out.trace"
    with pytest.raises(InputError) as err:
        import_dlrm_datasets(f, out, **kw)
    assert str(f) in str(err.value) and needle in str(err.value)
    assert sorted(os.listdir(tmp_path)) == ["f.pt.gz"]


def test_not_gzip_or_not_torch(tmp_path):
    plain = tmp_path / "plain.pt"
    plain.write_bytes(b"hello")
    with pytest.raises(InputError, match="plain.pt: not a readable gzip file"):
        import_dlrm_datasets(plain, tmp_path / "o.trace", rows=10)
    junk = tmp_path / "junk.pt.gz"
    with gzip.open(junk, "wb") as f:
        f.write(b"not a torch file")
    with pytest.raises(InputError, match="junk.pt.gz: not a torch.save file"):
        import_dlrm_datasets(junk, tmp_path / "o.trace", rows=10)
    with pytest.raises(InputError, match="missing.pt.gz: not found"):
        import_dlrm_datasets(tmp_path / "missing.pt.gz", tmp_path / "o.trace", rows=10)


def test_export_refuses_to_drop_weights_silently(tmp_path):
    with TraceWriter(tmp_path / "w.trace", source="test", table_rows=[10]) as w:
        w.write(Batch((TableBags(np.array([1, 2]), np.array([0, 2]), np.array([0.5, 2.0], np.float32)),)))
    with pytest.raises(InputError, match="per-sample weights"):
        export_dlrm_datasets(tmp_path / "w.trace", tmp_path / "exp")
    assert not (tmp_path / "exp").exists()
    export_dlrm_datasets(tmp_path / "w.trace", tmp_path / "exp", drop_weights=True)
    assert torch.equal(load_gz(tmp_path / "exp" / "batch_00000.pt.gz")[0], torch.tensor([1, 2]))


def dlrm_write_trace_to_file(path, trace):
    """facebookresearch/dlrm write_trace_to_file, text mode."""
    s = str(list(trace))
    path.write_text(s[1:len(s) - 1])


def test_dlrm_text_import_export_round_trip(tmp_path):
    ids = np.random.default_rng(0).integers(0, 1000, 103).tolist()
    src = tmp_path / "trace.log"
    dlrm_write_trace_to_file(src, ids)
    trace = import_dlrm_text(src, tmp_path / "t.trace", rows=1000, batch_size=5, bag_size=4)
    r = open_trace(trace)
    assert len(r) == 6  # 103 ids -> 26 bags of <= 4 -> batches of 5 bags (the last holds one short bag)
    assert r.batch(0).tables[0].offsets.tolist() == [0, 4, 8, 12, 16, 20]
    assert r.batch(5).tables[0].offsets.tolist() == [0, 3]
    assert np.concatenate([b.tables[0].indices for b in r]).tolist() == ids
    out = export_dlrm_text(trace, tmp_path / "back.log")
    assert out.read_text() == src.read_text()
    # and dlrm's reader (line.split(", ")) parses it back
    assert [int(x) for x in out.read_text().split(", ")] == ids


def test_dlrm_text_streams_blocks_and_uses_workload_defaults(tmp_path):
    from accelsim.workload import importers

    ids = list(range(40))
    src = tmp_path / "trace.log"
    dlrm_write_trace_to_file(src, ids)
    blocks = list(importers.read_dlrm_text(src, block_chars=7))
    assert len(blocks) > 5 and np.concatenate(blocks).tolist() == ids
    r = open_trace(import_dlrm_text(src, tmp_path / "t.trace", spec=spec(count=1)))
    assert r.meta.extra["bag_size"] == 3 and r.batch(0).tables[0].offsets.tolist() == [0, 3, 6]


@pytest.mark.parametrize("text,kw,needle", [
    ("1, 2, x, 4", dict(rows=10, batch_size=2), "index position 2: 'x' is not an int64 row id"),
    ("1, 2, 3,", dict(rows=10, batch_size=2), "index position 3: '' is not an int64"),
    ("1, 2, 30", dict(rows=10, batch_size=2), "index position 2: row 30 out of range [0, 10)"),
    ("", dict(rows=10, batch_size=2), "holds no row ids"),
    ("1, 2", dict(rows=10), "needs --batch-size"),
    ("1, 2", dict(spec=spec()), "file has 1 tables, workload imp has 3"),
])
def test_dlrm_text_errors(tmp_path, text, kw, needle):
    src = tmp_path / "trace.log"
    src.write_text(text)
    with pytest.raises(InputError) as err:
        import_dlrm_text(src, tmp_path / "t.trace", **kw)
    assert str(src) in str(err.value) and needle in str(err.value)
    assert os.listdir(tmp_path) == ["trace.log"]


def test_text_export_of_several_tables_needs_a_table(tmp_path):
    f = save_gz(tmp_path / "f.pt.gz", dataset_tuple(0))
    trace = import_dlrm_datasets(f, tmp_path / "t.trace", rows=ROWS)
    with pytest.raises(InputError, match="has 3 tables; a text trace holds one"):
        export_dlrm_text(trace, tmp_path / "x.log")
    out = export_dlrm_text(trace, tmp_path / "x.log", table=2)
    assert [int(x) for x in out.read_text().split(", ")] == open_trace(trace).batch(0).tables[2].indices.tolist()
