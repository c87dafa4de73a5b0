"""Results store of a sweep: one directory per finished point, named by its hash and written atomically.

Layout: DIR/sweep.yaml (the spec), DIR/provenance.json (the code that computed the points),
DIR/points/<hash>/ {config.json, meta.json, and for a point that ran: summary.json,
stages/counters/energy.parquet}. A point directory exists only once complete (temp directory + rename);
entries starting with "." are leftovers of an interrupted write and are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import yaml

import accelsim
from accelsim.atomic import atomic_path, claim_output, mark_output, write_text_atomic
from accelsim.errors import InputError
from accelsim.results import Result
from accelsim.sweep.executors import Outcome, environment
from accelsim.sweep.expand import Point
from accelsim.sweep.hashing import canonical_json, source_digest

STATUS_OK, STATUS_ERROR = "ok", "error"
TABLE_FIRST = ("hash", "status")
TABLE_LAST = ("error_type", "error_message", "wall_time_s")
STORE_KIND, TABLE_KIND = "sweep-store", "results-table"  # output kinds (accelsim.atomic)
PROVENANCE = "provenance.json"


# The command-line layer builds specs (whose content the point hashes cover) and reports; the probes write
# configs (whose content the hashes cover), validation measures PyTorch, figures draw stored results: none of
# them computes a point, so editing one does not make every store stale (tests/sweep/test_store.py checks that
# no computing module imports them).
NOT_COMPUTING = ("cli", "figures", "probe", "validate")


def code_provenance() -> dict:
    """What computes a point besides its configuration: package versions and the digest of accelsim's source."""
    return {**environment(), "source_sha256": source_digest(Path(accelsim.__file__).parent, NOT_COMPUTING)}


def _differences(recorded: dict | None, current: dict) -> str:
    """'numba 0.59.0 -> 0.60.0, source_sha256 1a2b... -> 3c4d...' (or why there is no record)."""
    if recorded is None:
        return f"the store has no {PROVENANCE} (written before stores recorded their code, or damaged)"
    keys = dict.fromkeys([*current, *recorded])
    return ", ".join(f"{k} {recorded.get(k)} -> {current.get(k)}" for k in keys if recorded.get(k) != current.get(k))


def _read_json(path: Path, want: type, keys: tuple[str, ...] = ()) -> Any:
    """A stored JSON file, or an InputError naming it (a store edited or damaged by hand)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("missing: the point directory is incomplete", source=str(path)) from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"unreadable or corrupt JSON ({err})", source=str(path)) from None
    if not isinstance(data, want):
        raise InputError(f"expected a JSON {want.__name__}, got {type(data).__name__}", source=str(path))
    missing = [k for k in keys if k not in data]
    if missing:
        raise InputError(f"missing field(s) {', '.join(missing)}", source=str(path))
    return data


def _meta(d: Path) -> dict:
    meta = _read_json(d / "meta.json", dict, ("status", "hash", "params", *TABLE_LAST))
    if meta["status"] not in (STATUS_OK, STATUS_ERROR) or not isinstance(meta["params"], dict):
        raise InputError(f"status: expected {STATUS_OK} or {STATUS_ERROR} and params a mapping",
                         source=str(d / "meta.json"))
    if not isinstance(meta["hash"], str):  # a list here reached pandas as an array cell (ambiguous truth value)
        raise InputError(f"hash: expected the point's hash (a string), got {type(meta['hash']).__name__}",
                         source=str(d / "meta.json"))
    return meta


def _json(obj) -> str:
    """Readable JSON of plain data; numpy scalars a resolver may leave in become plain numbers."""
    return json.dumps(json.loads(canonical_json(obj)), indent=1, sort_keys=True)


class Store:
    """A sweep's results directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.points_dir = self.root / "points"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store exclusively; a second sweep writing into the same directory is refused.

        The directory must be new, empty or a sweep store already: a sweep never writes into a user's folder.
        """
        claim_output(self.root, STORE_KIND)
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError("another sweep is writing to this store", source=str(self.root)) from None
            mark_output(self.root, STORE_KIND)
            yield  # the lock goes with the file descriptor, so a killed sweep never leaves it held

    def prepare(self, spec_yaml: str, *, rebuild: bool = False) -> int:
        """Write the spec copy, check the code, remove the leftovers of interrupted writes. Call under `lock()`.

        Points computed by other code (another accelsim source, numpy, numba or Python; `code_provenance`)
        are never reused: an InputError, or with `rebuild` they are deleted. Returns how many were deleted.
        """
        self.points_dir.mkdir(parents=True, exist_ok=True)
        for entry in self.points_dir.iterdir():
            if entry.name.startswith(".") and entry.is_dir():
                shutil.rmtree(entry)
            elif entry.name.startswith("."):
                entry.unlink()
        current, recorded = code_provenance(), self.provenance()
        stale = [] if recorded == current else list(self._point_dirs())
        if stale and not rebuild:
            raise InputError(f"its {len(stale)} points were computed by other code ({_differences(recorded, current)})"
                             "; use a new store directory, or rebuild this one (accelsim sweep --rebuild)",
                             source=str(self.root))
        if stale:
            # Provenance first: a kill part-way leaves old points and no record, which the next run rebuilds.
            (self.root / PROVENANCE).unlink(missing_ok=True)
            for d in stale:
                shutil.rmtree(d)
        write_text_atomic(self.root / PROVENANCE, json.dumps(current, indent=1, sort_keys=True) + "\n")
        write_text_atomic(self.root / "sweep.yaml", spec_yaml)
        mark_output(self.root, STORE_KIND)
        return len(stale)

    def provenance(self) -> dict | None:
        """The code that computed the stored points (`code_provenance` of the last run), None if unrecorded."""
        path = self.root / PROVENANCE
        return _read_json(path, dict) if path.exists() else None

    def spec_name(self) -> str | None:
        """The `name` of the spec last run into this store, None for a new store."""
        path = self.root / "sweep.yaml"
        if not path.exists():
            return None
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise InputError(f"unreadable spec copy ({err})", source=str(path)) from None
        return data.get("name") if isinstance(data, dict) else None

    def _point_dirs(self) -> Iterator[Path]:
        if self.points_dir.is_dir():
            yield from (d for d in self.points_dir.iterdir() if not d.name.startswith("."))

    def statuses(self) -> dict[str, str]:
        """hash -> status of every complete point in the store."""
        return {d.name: _meta(d)["status"] for d in self._point_dirs()}

    def write(self, point: Point, outcome: Outcome | None, runner: str) -> None:
        """Record a point: its Result, or its error (from the resolver when `outcome` is None, else the runner)."""
        if outcome is None:
            assert point.error_type is not None, "a point without an outcome must carry its resolver error"
            meta = {"status": STATUS_ERROR, "error_type": point.error_type, "error_message": point.error_message,
                    "error_traceback": None, "wall_time_s": 0.0, "versions": None}
        else:
            meta = {"status": STATUS_OK if outcome.ok else STATUS_ERROR, "error_type": outcome.error_type,
                    "error_message": outcome.error_message, "error_traceback": outcome.error_traceback,
                    "wall_time_s": outcome.wall_time_s, "versions": outcome.versions}
        meta.update(hash=point.hash, params=point.params, runner=runner)
        with atomic_path(self.points_dir / point.hash, is_dir=True) as tmp:
            if outcome is not None and outcome.ok:
                for name, data in outcome.files.items():  # frames, summary.json and the config the runner saw
                    (tmp / name).write_bytes(data)
            else:
                (tmp / "config.json").write_text(_json(point.config))
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))  # unsorted: params keep axis order

    def result(self, point_hash: str) -> Result:
        """The Result of a stored point that ran; InputError if it is missing or failed (naming its error)."""
        d = self.points_dir / point_hash
        meta = _meta(d)
        if meta["status"] != STATUS_OK:
            raise InputError(f"the point failed: {meta['error_type']}: {meta['error_message']}", source=str(d))
        try:
            return Result.load(d)
        except (OSError, ValueError) as err:  # pyarrow's errors are ValueErrors (ArrowInvalid) or OSErrors
            raise InputError(f"unreadable point ({type(err).__name__}: {err})", source=str(d)) from None

    def load_results(self) -> pd.DataFrame:
        """One row per point, sorted by hash: hash, status, swept paths, summary metrics, error, wall time.

        `df.attrs["param_columns"]` lists the swept-path columns.
        """
        rows, param_cols, metric_cols = [], {}, {}
        for d in sorted(self._point_dirs()):
            meta = _meta(d)
            params = {k: _scalar(v) for k, v in meta["params"].items()}
            summary = _read_json(d / "summary.json", dict) if meta["status"] == STATUS_OK else {}
            reserved = set(params) | set(TABLE_FIRST) | set(TABLE_LAST)
            metrics = {(f"summary.{k}" if k in reserved else k): _scalar(v) for k, v in summary.items()}
            param_cols.update(dict.fromkeys(params))
            metric_cols.update(dict.fromkeys(metrics))
            rows.append({"hash": meta["hash"], "status": meta["status"], **params, **metrics,
                         **{k: _scalar(meta[k]) for k in TABLE_LAST}})
        columns = [*TABLE_FIRST, *param_cols, *metric_cols, *TABLE_LAST]
        df = _parquet_safe(_rows_frame(rows, columns))
        df.attrs["param_columns"] = list(param_cols)
        return df


def _scalar(value):
    """Table cells are scalars; a section or list (a whole workload dict, say) becomes its canonical JSON."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else canonical_json(value)


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A column mixing text and numbers (`workload: rm1` next to a number) is stored as text."""
    for col in df.columns[df.dtypes == object]:
        kind = pd.api.types.infer_dtype(df[col], skipna=True)
        if kind.startswith("mixed"):
            df[col] = df[col].map(lambda v: v if v is None or pd.isna(v) else str(v))
    return df


def _rows_frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """Rows as a frame; a column of integers with holes (failed points have no metrics) stays integer
    (nullable Int64) instead of becoming float."""
    df = pd.DataFrame(rows, columns=columns)
    for col in df.columns[df.dtypes == float]:
        values = [r[col] for r in rows if r.get(col) is not None]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            df[col] = pd.array([r.get(col) for r in rows], dtype="Int64")
    return df


def load_results(root: str | Path) -> pd.DataFrame:
    """The merged results table of the store at `root`."""
    root = Path(root)
    if not (root / "points").is_dir():
        raise InputError("not a sweep results store (no points/ directory)", source=str(root))
    return Store(root).load_results()


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write a results table to Parquet atomically."""
    with atomic_path(path, kind=TABLE_KIND) as tmp:
        df.to_parquet(tmp, index=False)
