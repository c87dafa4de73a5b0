"""Typed, immutable configuration loaded from YAML; unknown keys and bad values are rejected."""

from accelsim.config.base import Model, load_yaml, parse_model

__all__ = ["Model", "load_yaml", "parse_model"]
