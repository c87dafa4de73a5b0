"""Write outputs atomically, and never over something of the user's.

Atomic: `atomic_path` yields a temporary sibling and renames it onto the final path only if the block
succeeds, so a failure or a kill never leaves a half-written file or directory behind.

Nothing of the user's is lost: every output has a *kind* ("trace", "run", "sweep-store", ...). An output
path that exists and is not a previous accelsim output of the same kind is refused with an InputError (the
CLI prints one line and exits 2), unless the user asked for it (`--force`). accelsim recognises its own
outputs by a marker it writes with them:
- a directory output holds `.accelsim-output`, JSON `{"kind": ..., "entries": [names accelsim wrote]}`;
  a directory that also holds anything else (a user's `notes.txt` added later) is refused too;
- a file output `x.csv` gets a sidecar `.x.csv.accelsim-output` next to it, written after the rename
  (a kill between the two leaves an unmarked output, which is then refused: the safe direction).
An empty directory or a path that does not exist can always be written.

How a command adopts it (probe, replay, serve, ...):
- write through `atomic_path(path, is_dir=..., kind="my-kind")`: it calls `claim_output` on entry and
  marks the result; or call `claim_output(path, kind)` yourself, then `mark_output(path, kind)` once written;
- call `claim_output(args.out, kind)` first thing in the command, so a refused path fails before any work;
- give the subcommand `--force` with `accelsim.cli.add_force_flag(parser)`; `main()` then runs the command
  under `overwrite_allowed()`, which every `claim_output` below it honours (library callers can use
  `with overwrite_allowed(): ...` or pass `force=True`).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from accelsim.errors import InputError

MARKER = ".accelsim-output"
_FORCE: contextvars.ContextVar[bool] = contextvars.ContextVar("accelsim_overwrite_allowed", default=False)


@contextlib.contextmanager
def overwrite_allowed(allowed: bool = True) -> Iterator[None]:
    """Within the block, `claim_output` lets outputs replace whatever is at their path (the CLI's `--force`)."""
    token = _FORCE.set(allowed)
    try:
        yield
    finally:
        _FORCE.reset(token)


def sidecar(path: str | os.PathLike) -> Path:
    """The marker file that says a file output is accelsim's."""
    path = Path(path)
    return path.with_name(f".{path.name}{MARKER}")


def _read_marker(marker: Path) -> dict | None:
    try:
        data = json.loads(marker.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("kind"), str) else None


def output_kind(path: str | os.PathLike) -> str | None:
    """The kind of accelsim output at `path`, or None if it is not one (or does not exist)."""
    path = Path(path)
    mark = _read_marker(path / MARKER if path.is_dir() else sidecar(path))
    return None if mark is None else mark["kind"]


def _refuse(path: Path, why: str) -> InputError:
    return InputError(f"{why}; choose another path, or pass --force to replace it", source=str(path))


def claim_output(path: str | os.PathLike, kind: str, *, is_dir: bool = True, force: bool | None = None) -> Path:
    """Check that writing a `kind` output at `path` destroys nothing of the user's; InputError if it would."""
    path = Path(path)
    if "\x00" in str(path):  # the OS cannot name it: it would fail at the write, after all the work
        raise InputError("output path holds a NUL byte", source=repr(str(path)))
    if (_FORCE.get() if force is None else force) or not (path.exists() or path.is_symlink()):
        return path
    if is_dir:
        if not path.is_dir():
            raise _refuse(path, f"exists and is not a directory (a {kind} output is one)")
        entries = sorted(e.name for e in path.iterdir() if e.name != MARKER)
        if not entries:
            return path
        mark = _read_marker(path / MARKER)
        if mark is None:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise _refuse(path, f"exists and is not an accelsim {kind} output (it holds {shown})")
        if mark["kind"] != kind:
            raise _refuse(path, f"holds an accelsim {mark['kind']} output, not a {kind}")
        foreign = sorted(set(entries) - set(mark.get("entries") or ()))
        if foreign:
            raise _refuse(path, f"holds files accelsim did not write there ({', '.join(foreign[:3])})")
        return path
    if path.is_dir():
        raise _refuse(path, f"is a directory (a {kind} output is a file)")
    mark = _read_marker(sidecar(path))
    if mark is None:
        raise _refuse(path, f"exists and is not an accelsim {kind} output")
    if mark["kind"] != kind:
        raise _refuse(path, f"is an accelsim {mark['kind']} output, not a {kind}")
    return path


def mark_output(path: str | os.PathLike, kind: str) -> None:
    """Record that `path` (a directory: everything now in it; a file: the file) is accelsim's `kind` output."""
    path = Path(path)
    if path.is_dir():
        entries = sorted(e.name for e in path.iterdir() if e.name != MARKER)
        (path / MARKER).write_text(json.dumps({"kind": kind, "entries": entries}) + "\n")
    else:
        sidecar(path).write_text(json.dumps({"kind": kind}) + "\n")


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, *, is_dir: bool = False, kind: str | None = None) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto `final` only if the block succeeds.

    With `kind`, the path is claimed first (`claim_output`) and the result marked as that kind of output.
    """
    final = Path(final)
    if kind is not None:
        claim_output(final, kind, is_dir=is_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        tmp = Path(name)
    # mkstemp/mkdtemp create owner-only entries; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod((0o777 if is_dir else 0o666) & ~umask)
    try:
        yield tmp
        if is_dir and kind is not None:
            mark_output(tmp, kind)
        if is_dir and final.is_dir():
            # A directory cannot be renamed over a non-empty one; move the old one aside first.
            old = final.with_name(f".{final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if final.is_dir() and not final.is_symlink():  # only reachable when forced: a file replaces a directory
                shutil.rmtree(final)
            elif is_dir and (final.exists() or final.is_symlink()):  # forced: a directory replaces a file
                final.unlink()
            os.replace(tmp, final)
        if not is_dir and kind is not None:
            mark_output(final, kind)
    except BaseException:
        if is_dir:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


def write_text_atomic(final: str | os.PathLike, text: str, *, kind: str | None = None) -> None:
    """Write `text` to `final` atomically (claimed and marked as a `kind` output when given)."""
    with atomic_path(final, kind=kind) as tmp:
        tmp.write_text(text)
