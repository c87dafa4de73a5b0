"""Base model for every config object, and YAML loading with errors that name the file and field path."""

from __future__ import annotations

import functools
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from accelsim.errors import InputError

if TYPE_CHECKING:
    import configparser

M = TypeVar("M", bound="Model")


# No count or size in any config reaches this (2^48 bytes is 256 TiB): a bigger integer is a typo or an attack,
# and would overflow the int64 arithmetic of the kernels. Fields that size allocations have tighter bounds.
MAX_INT = 2**48
# Nor does any float (a time in ns, an energy in pJ, a rate): 1e15 ns is eleven days. A bigger one is a typo,
# and sums of such times overflow to infinity deep inside a simulation, far from the field that caused it.
MAX_FLOAT = 1e15


def _number_kind(annotation: Any) -> str | None:
    """"int" or "float" if a field holds a number (or a tuple/list of them), else None. `int | bool` is not."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _number_kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {_number_kind(a) for a in typing.get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 and bool not in typing.get_args(annotation) else None
    if origin in (tuple, list):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return _number_kind(args[0]) if len(args) == 1 else None
    return {int: "int", float: "float"}.get(annotation)


@functools.cache
def _number_fields(cls: type) -> tuple[tuple[str, str], ...]:
    """(name, "int" or "float") of every numeric field of a model class: its annotations never change, and
    reading them (typing.get_origin per field) on every validation was most of a config's validation time."""
    return tuple((name, kind) for name, field in cls.model_fields.items()
                 if (kind := _number_kind(field.annotation)) is not None)


def _check_number(v: Any, kind: str) -> None:
    if isinstance(v, bool):
        raise ValueError(f"expected {'an integer' if kind == 'int' else 'a number'}, got a boolean ({v})")
    if kind == "int" and isinstance(v, int) and abs(v) > MAX_INT:
        raise ValueError(f"{v} is larger than any machine or model has (limit 2^48)")
    if kind == "float" and isinstance(v, (int, float)) and abs(v) > MAX_FLOAT:
        raise ValueError(f"{v:g} is larger than any machine or model has (limit {MAX_FLOAT:g})")


class Model(BaseModel):
    """Frozen, strict-keyed config object. Quantities carry their unit in the field name.

    Numbers are strict where YAML makes mistakes easy: a boolean is never a count or a size (`count: true`),
    infinities and NaN are rejected, and integers above MAX_INT and floats above MAX_FLOAT are refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _strict_numbers(cls, data: Any) -> Any:
        # a model-level check, not a field validator on "*": pydantic refuses field validators on the
        # discriminator of a tagged union (the compression schemes' `scheme`)
        if not isinstance(data, dict):
            return data
        errors = []
        for name, kind in _number_fields(cls):
            if name not in data:
                continue
            v = data[name]
            for item in (v if isinstance(v, (list, tuple)) else (v,)):
                try:
                    _check_number(item, kind)
                except ValueError as err:  # reported at the field, as a field validator's error would be
                    errors.append(InitErrorDetails(type=PydanticCustomError("value_error", f"Value error, {err}"),
                                                   loc=(name,), input=v))
                    break
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


class Sourced(Model):
    """A config section whose numbers cite where they came from: `sources: {field: citation}`."""

    sources: dict[str, str] = {}

    @model_validator(mode="after")
    def _sources_name_fields(self) -> "Sourced":
        unknown = sorted(set(self.sources) - set(type(self).model_fields) - {"*"})
        if unknown:
            raise ValueError(f"sources names fields that do not exist: {', '.join(unknown)}")
        return self


def _format_validation_error(err: ValidationError) -> str:
    parts = []
    errors = err.errors()
    failed = [tuple(e["loc"]) for e in errors]
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "too_short" and any(f[:len(loc)] == loc and f != loc for f in failed):
            continue  # "tables: at least 1 item" only because tables.0 itself failed: say that once
        path = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "missing required field"
        parts.append(f"{path}: {msg}")
    return "; ".join(parts)


def parse_model(cls: type[M], data: Any, *, source: str = "<config>", base_dir: Path | None = None) -> M:
    """Validate `data` into `cls`, turning validation errors into one-line InputErrors.

    `base_dir`: the folder of the file `data` came from, where its relative references (`extends:`) start.
    """
    try:
        return cls.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as err:
        raise InputError(_format_validation_error(err), source=source) from None


def read_yaml(path: str | Path) -> Any:
    """Read a YAML document, reporting a missing or malformed file as an InputError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", source=str(path)) from None
    except UnicodeDecodeError as err:
        raise InputError(f"byte {err.start} is not UTF-8 text (expected YAML)", source=str(path)) from None
    except ValueError as err:  # a NUL in the path
        raise InputError(f"cannot read: {err}", source=repr(str(path))) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise InputError(f"{where}invalid YAML ({getattr(err, 'problem', err)})", source=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("expected a mapping at the top level", source=str(path))
    return data


def resolve_named(name_or_path: str, folder: Path, what: str, base_dir: Path | None = None) -> Path:
    """A YAML path, or the name of a file shipped in `folder` (`DDR4-2400` finds ddr4_2400.yaml).

    A relative path that exists under `base_dir` (the folder of the file naming it) is taken from there.
    """
    p = Path(name_or_path)
    if base_dir is not None and not p.is_absolute() and (base_dir / p).is_file():
        return base_dir / p
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    cand = folder / f"{name_or_path.lower().replace('-', '_')}.yaml"
    if cand.exists():
        return cand
    known = ", ".join(sorted(x.stem for x in folder.glob("*.yaml")))
    raise InputError(f"unknown {what} {name_or_path!r}; shipped: {known}")


def load_yaml(cls: type[M], path: str | Path) -> M:
    """Load and validate a YAML file into `cls`."""
    return parse_model(cls, read_yaml(path), source=str(path), base_dir=Path(path).parent)


def to_yaml(model: Model) -> str:
    """Serialise a config so that load_yaml of the text reproduces it exactly."""
    return yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False)


def read_ini(path: Path, parser: "configparser.ConfigParser", what: str) -> None:
    """Read an INI-style file (a DRAMsim3 .ini, a SCALE-Sim .cfg) into `parser`; a bad one names the file."""
    import configparser

    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except OSError as err:
        raise InputError(f"cannot read {what}: {err.strerror}", source=str(path)) from None
    except UnicodeDecodeError as err:
        raise InputError(f"not {what}: byte {err.start} is not UTF-8 text", source=str(path)) from None
    except ValueError as err:  # a NUL in the path
        raise InputError(f"cannot read {what}: {err}", source=repr(str(path))) from None
    except configparser.Error as err:
        raise InputError(f"not {what}: {str(err).splitlines()[0]}", source=str(path)) from None
