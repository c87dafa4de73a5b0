# Quick start: `make run` (main job on the shipped default) and `make test` (the test suite).
# Both create .venv and install what they need on a fresh machine with Python 3.11 and pip.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
# The tested torch, pinned here (pyproject's extra is a range): an unpinned torch pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0
export NUMBA_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: setup run test bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip >/dev/null
	$(BIN)/pip install '$(TORCH)'
	$(BIN)/pip install -e '.[dev]'
	touch $@

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/accelsim main

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
