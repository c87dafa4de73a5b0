"""SystemConfig: one machine (CPU, DRAM, CPU-accelerator links, accelerator chiplet, energy table) from YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationInfo, model_validator

from accelsim.config.accel import AcceleratorConfig
from accelsim.config.base import Model, load_yaml, read_yaml, resolve_named
from accelsim.config.cache import CacheConfig
from accelsim.config.cpu import CpuConfig
from accelsim.config.dram import DramConfig, resolve_dram_path
from accelsim.config.energy import EnergyConfig
from accelsim.config.link import LinksConfig
from accelsim.errors import InputError

HWCONFIGS_DIR = Path(__file__).resolve().parents[2] / "hwconfigs"


class SystemConfig(Model):
    """A CPU-only server (no links, no accelerator) or a CPU + accelerator package."""

    name: str
    description: str
    cpu: CpuConfig
    dram: DramConfig
    links: LinksConfig | None = None
    link_cache: CacheConfig | None = None  # accelerator-side cache in front of the links (HARPv2 CCI-P cache)
    accelerator: AcceleratorConfig | None = None
    energy: EnergyConfig

    @model_validator(mode="before")
    @classmethod
    def _expand_references(cls, data: Any, info: ValidationInfo) -> Any:
        # `extends: harpv2_centaur` starts from another config and deep-merges this one over it; the base may
        # itself extend another, so the chain is followed to its root. A relative path is taken from the
        # folder of the file that names it (then as a shipped name, then from the cwd).
        seen: list[str] = []
        base_dir = top_dir = (info.context or {}).get("base_dir")
        while isinstance(data, dict) and "extends" in data:
            data = dict(data)
            ref = data.pop("extends")
            base = _referenced(ref, lambda name: resolve_hw_path(name, base_dir), "extends")
            path = resolve_hw_path(ref, base_dir)
            key = str(path.resolve())
            if key in seen:
                raise ValueError(f"extends: {ref} is extended twice in one chain (a cycle)")
            seen.append(key)
            base_dir = path.parent  # the base's own `extends:` is relative to the base
            data = _deep_merge(base, data)
        # `dram: {preset: ddr4_2400, channels: 4}` reads the preset file and applies the overrides, so the
        # resolved config (what a run saves) always holds every DRAM number.
        if isinstance(data, dict) and isinstance(data.get("dram"), dict) and "preset" in data["dram"]:
            dram = dict(data["dram"])
            preset = _referenced(dram.pop("preset"), resolve_dram_path, "dram.preset")
            if not isinstance(dram.get("sources", {}), dict):
                raise ValueError("dram.sources: expected a mapping of field: citation")
            sources = {**preset.get("sources", {}), **dram.pop("sources", {})}
            data = {**data, "dram": {**preset, **dram, "sources": sources}}
        # `dram: {ini: FILE.ini, channels: 4}` reads a DRAMsim3 .ini the same way; a relative path is taken from
        # the folder of the file that names it, then from the cwd.
        if isinstance(data, dict) and isinstance(data.get("dram"), dict) and "ini" in data["dram"]:
            from accelsim.config.dram import dram_from_ini
            dram = dict(data["dram"])
            ini = Path(str(dram.pop("ini")))
            if top_dir is not None and not ini.is_absolute() and (Path(top_dir) / ini).is_file():
                ini = Path(top_dir) / ini
            base = dram_from_ini(str(ini))
            sources = {**base.pop("sources"), **dram.pop("sources", {})}
            data = {**data, "dram": {**base, **dram, "sources": sources}}
        return data

    @model_validator(mode="after")
    def _accelerator_needs_links(self) -> "SystemConfig":
        if (self.accelerator is None) != (self.links is None):
            raise ValueError("links: an accelerator needs links to the host, and links need an accelerator")
        if self.link_cache is not None and self.accelerator is None:
            raise ValueError("link_cache: only meaningful with an accelerator")
        if self.link_cache is not None and self.link_cache.core_read_gbps is not None:
            raise ValueError("link_cache.core_read_gbps: a core's read bandwidth belongs to cpu.caches, not to the "
                             "accelerator's link cache")
        eng = self.accelerator.sparse_engine if self.accelerator is not None else None
        if eng is not None and self.links is not None:  # the engine's requests must be sizes the links carry
            sent = sorted(n * eng.line_bytes for n in (1, 2, 4) if n <= eng.request_lines)
            if not set(sent) <= set(self.links.shared_request_bytes):
                raise ValueError(f"accelerator.sparse_engine.line_bytes: the sparse engine sends requests of {sent} "
                                 f"bytes (request_lines x line_bytes), the links carry only "
                                 f"{list(self.links.shared_request_bytes)} (links.channels.*.line_bytes)")
        n_levels = len(self.cpu.caches)
        if len(self.energy.cache_access_pj_per_line) != n_levels:
            raise ValueError(f"energy.cache_access_pj_per_line: needs one entry per CPU cache level ({n_levels})")
        if self.cpu.private_cache_levels >= n_levels:
            raise ValueError("cpu.private_cache_levels: the last cache level must be the shared LLC")
        return self


def _referenced(name: Any, resolve: Any, field: str) -> dict:
    """The YAML a reference field (`extends`, `dram.preset`) names; a bad one is an error naming the field."""
    if not isinstance(name, str):
        raise ValueError(f"{field}: expected the name or path of a config, got {name!r}")
    try:
        return read_yaml(resolve(name))
    except InputError as err:
        raise ValueError(f"{field}: {err}") from None


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve_hw_path(name_or_path: str, base_dir: Path | None = None) -> Path:
    """A shipped hardware config name (`harpv2_centaur`) or a path to a YAML file (relative: to `base_dir`)."""
    return resolve_named(name_or_path, HWCONFIGS_DIR, "hardware config", base_dir)


def load_system(name_or_path: str) -> SystemConfig:
    """Load a SystemConfig by shipped name or path."""
    return load_yaml(SystemConfig, resolve_hw_path(name_or_path))
