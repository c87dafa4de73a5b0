"""docs/configs.md names every field of every config model a user can write."""

from pathlib import Path

import pytest
from pydantic import BaseModel

from accelsim.config import accel, cache, cpu, dram, energy, link, software, system, workload

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configs.md").read_text()
DERIVED = {"Table"}  # built from a ModelSpec, never written by a user
MODELS = [obj for mod in (accel, cache, cpu, dram, energy, link, software, system, workload) for obj in vars(mod).values()
          if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == mod.__name__
          and obj.__name__ not in DERIVED]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_is_documented(model):
    missing = [f for f in model.model_fields if f"`{f}`" not in DOC]
    assert not missing, f"{model.__name__}: {missing}"
