"""Content hash of a resolved point: the same configuration has the same hash in every process."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

HASH_HEX_CHARS = 16  # 64 bits: a collision among a million points has probability ~3e-8


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars and arrays, which configs built in code may contain."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot hash a value of type {type(value).__name__}: {value!r}")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal contents give equal text whatever the key order."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_plain)


def point_hash(config: dict) -> str:
    """Short hex sha256 of a resolved point's canonical JSON."""
    return hashlib.sha256(canonical_json(config).encode("ascii")).hexdigest()[:HASH_HEX_CHARS]


def source_digest(package_dir: str | Path, exclude: tuple[str, ...] = ()) -> str:
    """Short hex sha256 of every .py file under `package_dir` (relative path and bytes), but for the
    top-level subpackages in `exclude`: the identity of the code.

    A point's hash covers its configuration, not the code that computed it; a store records this digest so
    that points computed by other code are never taken for this code's (see Store.prepare).
    """
    root = Path(package_dir)
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        if f.relative_to(root).parts[0] in exclude:
            continue
        data = f.read_bytes()
        # Length-prefixed, so that no two different file sets can give the same byte stream.
        h.update(f"{f.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:HASH_HEX_CHARS]
