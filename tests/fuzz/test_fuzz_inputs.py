"""A fast, fixed subset of benchmarks/fuzz_inputs.py: every surface, a few cases, no finding allowed."""

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "fuzz_inputs", Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_inputs.py")
fuzz_inputs = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(fuzz_inputs)


@pytest.mark.parametrize("surface", sorted(fuzz_inputs.SURFACES))
def test_no_traceback_hang_or_unnamed_error(surface):
    fz = fuzz_inputs.fuzz_all(12, 20.0, only=[surface], derandomize=True)
    assert sum(fz.counts[surface].values()) == 12
    assert fz.findings() == {}, fz.report()
