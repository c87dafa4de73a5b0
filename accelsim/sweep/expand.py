"""Turn a sweep spec into its ordered list of resolved, hashed points."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from accelsim.errors import InputError
from accelsim.sweep.hashing import canonical_json, point_hash
from accelsim.sweep.spec import Axis, RandomAxes, SweepSpec, load_callable, vetted_ref

Resolver = Callable[[dict], dict]


@dataclass(frozen=True)
class Point:
    """One point of a sweep. When the resolver rejected it, `config` is the unvalidated point and `error_*` say why."""

    params: dict[str, Any]  # swept dotted path -> value
    config: dict
    hash: str
    error_type: str | None = None
    error_message: str | None = None


class PathError(InputError):
    """A dotted path that does not exist in the point (a typo must never create a key)."""


def _step(container: Any, key: str, path: str, walked: str) -> Any:
    where = walked or "the point"
    if isinstance(container, dict):
        if key not in container:
            have = ", ".join(map(str, container)) or "nothing"
            raise PathError(f"path {path}: no key {key!r} in {where} (it has: {have})")
        return key
    if isinstance(container, list):
        if not key.isdigit() or int(key) >= len(container):
            raise PathError(f"path {path}: {where} is a list of {len(container)}; {key!r} is not an index into it")
        return int(key)
    raise PathError(f"path {path}: {where} is the value {container!r}, not a section")


def get_path(obj: Any, path: str) -> Any:
    """The value at a dotted path (`hw.links.channels.0.bandwidth_gbps`); PathError if it does not exist."""
    walked = ""
    for key in path.split("."):
        obj = obj[_step(obj, key, path, walked)]
        walked = f"{walked}.{key}" if walked else key
    return obj


def with_path(obj: Any, path: str, value: Any) -> Any:
    """A copy of `obj` with the existing dotted path set to `value`; only the containers on the path are copied."""
    head, _, rest = path.partition(".")
    return _with_path(obj, head, rest, value, path, "")


def _with_path(obj: Any, key: str, rest: str, value: Any, path: str, walked: str) -> Any:
    k = _step(obj, key, path, walked)
    out = dict(obj) if isinstance(obj, dict) else list(obj)
    if rest:
        head, _, tail = rest.partition(".")
        out[k] = _with_path(obj[k], head, tail, value, path, f"{walked}.{key}" if walked else key)
    else:
        out[k] = value
    return out


def _python_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _random_overrides(r: RandomAxes) -> list[dict]:
    rng = np.random.default_rng(r.seed)
    out = []
    for _ in range(r.samples):
        sample = {}
        for path, p in r.params.items():
            if p.dist == "choice":
                v = p.values[int(rng.integers(len(p.values)))]
            elif p.dist == "uniform":
                v = float(rng.uniform(p.low, p.high))
            else:
                v = float(math.exp(rng.uniform(math.log(p.low), math.log(p.high))))
            sample[path] = int(round(v)) if p.integer and p.dist != "choice" else _python_scalar(v)
        out.append(sample)
    return out


def axis_overrides(axis: Axis) -> list[dict]:
    """The override dicts one axis contributes, in order."""
    if axis.grid is not None:
        paths = list(axis.grid)
        return [dict(zip(paths, combo)) for combo in itertools.product(*axis.grid.values())]
    if axis.zip is not None:
        paths = list(axis.zip)
        return [dict(zip(paths, combo)) for combo in zip(*axis.zip.values())]
    if axis.points is not None:
        return [dict(p) for p in axis.points]
    return _random_overrides(axis.random)


def _resolved_section(base: dict, path: str, value: Any, resolver: Resolver, sections: dict) -> Any:
    """`value` (a name or partial section replacing the section at `path`) resolved once per sweep.

    Resolving names reads files (tens of ms); a sweep over `workload: [rm1, rm3]` x thousands of points
    resolves each name once. Assumes a section resolves the same whatever the rest of the point is; the
    whole point is resolved again afterwards, so a value that only resolves in context still gets checked.
    """
    key = (path, canonical_json(value))
    if key not in sections:
        try:
            sections[key] = get_path(resolver(with_path(base, path, value)), path)
        except Exception:  # noqa: BLE001 - left as given; resolving the whole point reports the problem
            sections[key] = value
    return sections[key]


def apply_overrides(base: dict, overrides: dict, resolver: Resolver, sections: dict | None = None) -> dict:
    """Set each override in the resolved base, shallowest first.

    A value replacing a whole section (`hw: harpv2_cpu`, `hw.dram: {preset: ddr5_4800}`) is resolved first,
    so that deeper paths (`hw.cpu.cores`, `hw.dram.channels`) find their keys. `sections` caches those
    resolutions across the points of a sweep.
    """
    sections = {} if sections is None else sections
    point = base
    for path, value in sorted(overrides.items(), key=lambda kv: kv[0].count(".")):
        if isinstance(value, (str, dict)) and isinstance(get_path(point, path), dict):
            value = _resolved_section(point, path, value, resolver, sections)
        point = with_path(point, path, value)
    return point


def expand(spec: SweepSpec, *, source: str = "<sweep spec>", resolver: Resolver | None = None,
           allow_code: bool = False) -> list[Point]:
    """Every point of the sweep in a fixed order (axes multiplied first-outermost), filtered and de-duplicated.

    A path or filter that does not fit the point is an InputError for the whole spec; a point that the
    resolver rejects (an invalid combination, a design that does not fit) is kept with its error.
    The spec's resolver must be accelsim's or a registered plugin unless `allow_code` (see `vetted_ref`).
    """
    field = f"{source}: resolver"
    resolver = resolver or load_callable(vetted_ref(spec.resolver, "resolver", allow_code=allow_code, field=field),
                                         field=field)
    try:
        base = resolver(dict(spec.base))
    except InputError as err:
        raise InputError(f"base: {err}", source=source) from None
    points: dict[str, Point] = {}
    sections: dict = {}
    for combo in itertools.product(*(axis_overrides(a) for a in spec.axes)):
        params = {k: v for part in combo for k, v in part.items()}
        # A filter on a swept value runs before the point is built, so it can drop combinations that would not build.
        early = [f for f in spec.filters if f.path in params]
        late = [f for f in spec.filters if f.path not in params]
        try:
            if not all(f.keeps(params[f.path]) for f in early):
                continue
            raw = apply_overrides(base, params, resolver, sections)
        except InputError as err:
            raise InputError(f"{err} (point {params})", source=source) from None
        try:
            config, error_type, error_message = resolver(raw), None, None
        except Exception as err:  # noqa: BLE001 - any rejection is recorded with the point, not fatal
            config, error_type, error_message = raw, type(err).__name__, str(err)
        try:
            if not all(f.keeps(get_path(config, f.path)) for f in late):
                continue
        except InputError as err:
            raise InputError(f"filter: {err}", source=source) from None
        h = point_hash(config)
        points.setdefault(h, Point(params, config, h, error_type, error_message))
    return list(points.values())
