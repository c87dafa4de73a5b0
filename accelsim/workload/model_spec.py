"""The workload spec of a PyTorch model: tables from its captured lookups, MLPs and interaction from its modules.

A model is DLRM-like when it has a bottom and a top MLP under one of the names DLRM implementations use
(facebookresearch/dlrm `bot_l` / `top_l`, accelsim's `bottom` / `top`, `bottom_mlp` / `top_mlp`, torchrec's
`dense_arch` / `over_arch`): their nn.Linear layers, in order, give the widths. The interaction is the model's
`arch_interaction_op` or `interaction` attribute when it has one, else whichever of dot and cat gives the top
MLP's input width; a `cross` module with `w_kernels` / `v_kernels` (torchrec LowRankCrossNet) makes it DCNv2.
For any other model the dense part (bottom_mlp, top_mlp, interaction) is given by the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from torch import nn

from accelsim.config.base import parse_model
from accelsim.config.workload import ModelSpec
from accelsim.errors import InputError

BOTTOM_NAMES = ("bot_l", "bottom", "bottom_mlp", "dense_arch")
TOP_NAMES = ("top_l", "top", "top_mlp", "over_arch")
INTERACTION_ATTRS = ("arch_interaction_op", "interaction")
_DTYPES = {"fp32", "fp16", "bf16", "int8", "int4"}


@dataclass(frozen=True)
class DenseParts:
    """Names of a model's dense submodules (None where it has none) and its declared interaction."""

    bottom: str | None
    top: str | None
    cross: str | None
    interaction: str | None

    @property
    def dlrm_like(self) -> bool:
        return self.bottom is not None and self.top is not None


def _named(model: nn.Module, names: Sequence[str]) -> str | None:
    return next((n for n in names if isinstance(getattr(model, n, None), nn.Module)
                 and any(isinstance(m, nn.Linear) for m in getattr(model, n).modules())), None)


def cross_kernels(cross: nn.Module) -> tuple[Any, Any, Any]:
    w = getattr(cross, "w_kernels", None) or getattr(cross, "W_kernels", None)
    v = getattr(cross, "v_kernels", None) or getattr(cross, "V_kernels", None)
    return w, v, getattr(cross, "bias", None)


def find_dense_parts(model: nn.Module) -> DenseParts:
    """The bottom MLP, top MLP, DCNv2 cross net and interaction of a DLRM-like model, by the names above."""
    cross = getattr(model, "cross", None)
    has_cross = isinstance(cross, nn.Module) and all(k is not None for k in cross_kernels(cross))
    op = next((getattr(model, a) for a in INTERACTION_ATTRS if isinstance(getattr(model, a, None), str)), None)
    return DenseParts(bottom=_named(model, BOTTOM_NAMES), top=_named(model, TOP_NAMES),
                      cross="cross" if has_cross else None, interaction=op)


def linear_layers(model: nn.Module, name: str) -> list[nn.Linear]:
    """The nn.Linear layers of submodule `name`, in order, checked to form one chain."""
    layers = [m for m in getattr(model, name).modules() if isinstance(m, nn.Linear)]
    for a, b in zip(layers, layers[1:]):
        if b.in_features != a.out_features:
            raise InputError(f"module {name}: a Linear of {a.out_features} outputs feeds one of {b.in_features} "
                             "inputs; not one MLP chain (give --bottom-mlp / --top-mlp)")
    return layers


def _dense_part(model: nn.Module, parts: DenseParts) -> dict[str, Any]:
    bottom, top = linear_layers(model, parts.bottom), linear_layers(model, parts.top)
    out: dict[str, Any] = {"bottom_mlp": [bottom[0].in_features, *(m.out_features for m in bottom)],
                           "top_mlp": [m.out_features for m in top], "top_input": top[0].in_features}
    if parts.cross is not None:
        w, v, _ = cross_kernels(getattr(model, parts.cross))
        out["dcnv2"] = {"layers": len(w), "rank": int(v[0].shape[0])}
        out["interaction"] = "dcnv2"
    elif parts.interaction is not None:
        out["interaction"] = parts.interaction
    return out


def _groups(features: Sequence[Any]) -> list[dict[str, Any]]:
    """One table group per captured feature; a second feature of one table reads the first's rows."""
    groups: list[dict[str, Any]] = []
    first: dict[str, str] = {}
    for f in features:
        sizes = sorted(f.bag_sizes)
        g: dict[str, Any] = {"name": f.table if f.table not in first else f"{f.table}#{f.call}",
                             "lookups_per_sample": max(sizes[-1] if sizes else 1, 1),
                             "bag_size_dist": "fixed" if len(sizes) <= 1 else "uniform",
                             # an unpooled lookup (nn.Embedding) gathers what a sum of the same rows gathers
                             "pooling": "sum" if f.pooling == "none" else f.pooling}
        if f.dtype not in _DTYPES:
            raise InputError(f"module {f.module} (table {f.table}): weights of type {f.dtype}; the simulator "
                             f"models {', '.join(sorted(_DTYPES))}")
        if f.table in first:
            g["shared_with"] = first[f.table]
        else:
            g.update(rows=f.rows, dim=f.dim, dtype=f.dtype)
            if f.compression is not None:  # a recognised compressed module (capture: qr, md)
                g["compression"] = f.compression
            first[f.table] = g["name"]
        groups.append(g)
    return groups


def build_spec(features: Sequence[Any], model: nn.Module, *, name: str, source: str,
               dense: dict[str, Any] | None = None, default_batch_size: int = 128) -> ModelSpec:
    """The ModelSpec of `model`: its captured `features` (capture.Feature) and its dense part, found in the
    model when DLRM-like, else from `dense` (bottom_mlp, top_mlp, interaction[, dcnv2]), which also overrides."""
    parts = find_dense_parts(model)
    found = _dense_part(model, parts) if parts.dlrm_like else {}
    given = {k: v for k, v in (dense or {}).items() if v is not None}
    part = {**found, **given}
    missing = [k for k in ("bottom_mlp", "top_mlp") if k not in part]
    if missing:
        raise InputError(f"{type(model).__name__} is not DLRM-like (no bottom and top MLP named "
                         f"{'/'.join(BOTTOM_NAMES)} and {'/'.join(TOP_NAMES)}): give its dense part "
                         f"({', '.join(missing)}; --bottom-mlp, --top-mlp, --interaction)")
    top_input = part.pop("top_input", None)
    if "top_mlp" in given:
        top_input = None  # the user's dense part stands for the model's (a QR embedding's tables combine first)
    groups = _groups(features)
    base = dict(name=name, source=source, embedding_dim=part["bottom_mlp"][-1], tables=groups,
                bottom_mlp=part["bottom_mlp"], top_mlp=part["top_mlp"], default_batch_size=default_batch_size,
                **{k: part[k] for k in ("dcnv2",) if k in part})
    choices = [part["interaction"]] if "interaction" in part else ["dot", "cat"]
    errors = []
    for op in choices:
        try:
            spec = parse_model(ModelSpec, {**base, "interaction": op}, source=f"workload spec of {name}")
        except InputError as err:
            errors.append(f"{op}: {err}")
            continue
        if top_input is None or spec.top_input_width == top_input:
            return spec
        errors.append(f"{op} gives the top MLP {spec.top_input_width} inputs, module {parts.top} takes {top_input}")
    raise InputError(f"{type(model).__name__}: no interaction fits: " + "; ".join(errors))
