"""Sweep YAML schema: a base point, axes (grid, zip, explicit points, random samples) and filters."""

from __future__ import annotations

import importlib
import importlib.metadata
import math
import operator
import re
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

import yaml
from pydantic import Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from accelsim.config.base import Model, load_yaml, parse_model
from accelsim.errors import InputError

PATH_RE = re.compile(r"^[A-Za-z_]\w*(\.[\w-]+)*$")
REF_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
PLUGIN_RE = re.compile(r"^[A-Za-z_][\w.-]*$")
DEFAULT_RUNNER = "accelsim.sim.api:run_point"
DEFAULT_RESOLVER = "accelsim.sim.api:resolve_point"
# A sweep file is data: it may name accelsim's own runner and resolver, or plugins that installed packages
# register under these entry-point groups (by entry-point name or by their module:function); any other code
# only with allow_code (`accelsim sweep --allow-code`).
BUILTIN_REFS = {"runner": (DEFAULT_RUNNER,), "resolver": (DEFAULT_RESOLVER,)}
PLUGIN_GROUPS = {"runner": "accelsim.runners", "resolver": "accelsim.resolvers"}

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">=": operator.ge,
    ">": operator.gt, "in": lambda a, b: a in b, "not in": lambda a, b: a not in b,
}
# `path OP value`; the value is read as YAML, so `64`, `1.5`, `rm1`, `'rm1'` and `[1, 2]` all work.
_FILTER_CMP_RE = re.compile(r"^\s*(?P<path>[\w.-]+)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>.+?)\s*$")
_FILTER_IN_RE = re.compile(r"^\s*(?P<path>[\w.-]+)\s+(?P<op>not\s+in|in)\s+(?P<value>.+?)\s*$")

NonEmptyList = Annotated[list[Any], Field(min_length=1)]


def _check_paths(paths) -> None:
    bad = [p for p in paths if not PATH_RE.match(p)]
    if bad:
        raise ValueError(f"not a dotted path: {', '.join(map(repr, bad))}")


class RandomParam(Model):
    """One randomly sampled parameter: uniform or log-uniform in [low, high], or a choice among values."""

    dist: Literal["uniform", "loguniform", "choice"]
    low: float | None = None
    high: float | None = None
    integer: bool = Field(False, description="round each sample to the nearest integer")
    values: list[Any] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "RandomParam":
        if self.dist == "choice":
            if not self.values or self.low is not None or self.high is not None:
                raise ValueError("choice needs a non-empty `values` list and no low/high")
            return self
        if self.low is None or self.high is None or self.values is not None:
            raise ValueError(f"{self.dist} needs `low` and `high` (and no `values`)")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"need finite low < high, got low={self.low}, high={self.high}")
        if self.dist == "loguniform" and self.low <= 0:
            raise ValueError(f"loguniform needs low > 0, got {self.low}")
        return self


class RandomAxes(Model):
    """`samples` points, each parameter drawn independently from a generator seeded with `seed`."""

    samples: PositiveInt
    seed: NonNegativeInt = 0
    params: dict[str, RandomParam] = Field(min_length=1)

    @field_validator("params")
    @classmethod
    def _paths(cls, v: dict) -> dict:
        _check_paths(v)
        return v


class Axis(Model):
    """Exactly one of: a grid (Cartesian product), a zip (lists walked together), explicit points, random."""

    grid: dict[str, NonEmptyList] | None = None
    zip: dict[str, NonEmptyList] | None = None
    points: Annotated[list[dict[str, Any]], Field(min_length=1)] | None = None
    random: RandomAxes | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "Axis":
        kinds = [k for k in ("grid", "zip", "points", "random") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"an axis needs exactly one of grid, zip, points, random (got {kinds or 'none'})")
        for mapping in (self.grid, self.zip, *(self.points or ())):
            if mapping is not None:
                if not mapping:
                    raise ValueError(f"{kinds[0]}: needs at least one path")
                _check_paths(mapping)
        if self.zip is not None:
            lengths = {p: len(v) for p, v in self.zip.items()}
            if len(set(lengths.values())) > 1:
                sizes = ", ".join(f"{p} has {n}" for p, n in lengths.items())
                raise ValueError(f"zip: lists differ in length: {sizes}")
        return self

    @property
    def paths(self) -> list[str]:
        """Every dotted path this axis sets."""
        if self.random is not None:
            return list(self.random.params)
        if self.points is not None:
            return list(dict.fromkeys(p for point in self.points for p in point))
        return list(self.grid or self.zip)


class Filter(Model):
    """Keep a point only if `<value at path> <op> <value>`; also written as a string `"batch_size <= 64"`."""

    path: str
    op: Literal["<", "<=", "==", "!=", ">=", ">", "in", "not in"]
    value: Any

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        m = _FILTER_CMP_RE.match(data) or _FILTER_IN_RE.match(data)
        if m is None:
            raise ValueError(f"cannot read filter {data!r}; expected `path OP value` with OP one of {', '.join(OPS)}")
        try:
            value = yaml.safe_load(m["value"])
        except yaml.YAMLError:
            raise ValueError(f"filter {data!r}: cannot read the value {m['value']!r}") from None
        return {"path": m["path"], "op": " ".join(m["op"].split()), "value": value}

    @model_validator(mode="after")
    def _valid(self) -> "Filter":
        _check_paths([self.path])
        if self.op in ("in", "not in") and not isinstance(self.value, list):
            raise ValueError(f"filter on {self.path}: `{self.op}` needs a list value")
        return self

    def keeps(self, actual: Any) -> bool:
        """Whether a point whose value at `path` is `actual` passes."""
        try:
            return bool(OPS[self.op](actual, self.value))
        except TypeError:
            raise InputError(f"filter `{self.path} {self.op} {self.value!r}`: cannot compare with {actual!r}") from None


class SweepSpec(Model):
    """A sweep: every combination of the axes (multiplied in order), applied to `base`, minus filtered points."""

    name: str
    description: str = ""
    base: dict[str, Any] = Field(description="a point: hw, workload, mapping, batch_size, fidelity, seed, ...")
    axes: list[Axis] = []
    filters: list[Filter] = []
    runner: str = Field(DEFAULT_RUNNER, description="module:function taking a resolved point, returning a Result")
    resolver: str = Field(DEFAULT_RESOLVER, description="module:function completing and validating a point")

    @field_validator("runner", "resolver")
    @classmethod
    def _ref(cls, v: str) -> str:
        if not (REF_RE.match(v) or PLUGIN_RE.match(v)):
            raise ValueError(f"expected 'module:function' or a plugin name, got {v!r}")
        return v

    @model_validator(mode="after")
    def _disjoint_axes(self) -> "SweepSpec":
        owner: dict[str, int] = {}
        for i, axis in enumerate(self.axes):
            for p in axis.paths:
                if p in owner:
                    raise ValueError(f"axes.{i}: path {p} is already swept by axes.{owner[p]}")
                owner[p] = i
        return self


def load_spec(spec: "str | Path | dict | SweepSpec") -> tuple[SweepSpec, str]:
    """A validated spec and a label for error messages, from a YAML path, a plain dict or a spec object."""
    if isinstance(spec, SweepSpec):
        return spec, f"<sweep {spec.name}>"
    if isinstance(spec, dict):
        return parse_model(SweepSpec, spec, source="<sweep spec>"), "<sweep spec>"
    return load_yaml(SweepSpec, spec), str(spec)


def spec_yaml(spec: SweepSpec) -> str:
    """The spec as YAML that `load_spec` reads back into an equal spec."""
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=True), sort_keys=False)


def plugins(role: Literal["runner", "resolver"]) -> dict[str, str]:
    """Registered plugins of a role: entry-point name -> module:function."""
    return {ep.name: ep.value.replace(" ", "") for ep in importlib.metadata.entry_points(group=PLUGIN_GROUPS[role])}


def vetted_ref(ref: str, role: Literal["runner", "resolver"], *, allow_code: bool, field: str) -> str:
    """The module:function a spec's runner or resolver may run; InputError for code the user did not allow."""
    registered = plugins(role)
    if ref in registered:
        return registered[ref]
    if ref in BUILTIN_REFS[role] or ref in registered.values() or (allow_code and REF_RE.match(ref)):
        return ref
    if not REF_RE.match(ref):
        known = ", ".join(sorted(registered)) or "none installed"
        raise InputError(f"{field}: no {role} plugin named {ref!r} (entry points {PLUGIN_GROUPS[role]}: {known})")
    raise InputError(f"{field}: {ref!r} is neither accelsim's {role} nor a registered plugin (entry point group "
                     f"{PLUGIN_GROUPS[role]}); a sweep file runs other code only with --allow-code")


def load_callable(ref: str, *, field: str) -> Callable:
    """Import `module:function`; an unimportable reference is an InputError naming the spec field."""
    module_name, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise InputError(f"{field}: cannot import {ref!r} ({err})") from None
    if not callable(obj):
        raise InputError(f"{field}: {ref!r} is not callable")
    return obj
