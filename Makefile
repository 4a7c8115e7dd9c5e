# Set-up, the main job and the tests. `make test` and `make simulate` set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch, installed before everything else: an unpinned torch pulls a
# multi-GB CUDA build. GPU machines: make setup TORCH_SPEC="torch==2.13.0 --index-url ..."
TORCH_SPEC ?= torch==2.13.0
# Exact versions of every other dependency: the ones the tests ran with (constraints.txt).
CONSTRAINTS := constraints.txt
# `make lock` resolves afresh in this throwaway venv, so nothing left in .venv leaks in.
LOCK_VENV ?= /tmp/recloop-lock
# Named datasets (movielens-100k/) are looked up here first; fetched to it when missing.
RECLOOP_DATA_DIR ?= $(abspath ../shared/datasets)
export RECLOOP_DATA_DIR

.PHONY: setup test simulate lint lock bench clean

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS) -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

test: setup
	$(BIN)/python -m pytest

simulate: setup
	$(BIN)/recloop simulate movielens-100k

# Refresh constraints.txt after changing pyproject.toml's dependencies, or to move to newer
# releases: the newest versions pyproject.toml allows, resolved in a fresh venv, frozen without
# recloop itself and without torch and its CUDA wheels (installed first, from an index of
# their own). Then run `make test` (it reinstalls .venv from the new file) and commit
# constraints.txt with the change that needed it:
#   make lock && make test
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet $(TORCH_SPEC)
	$(LOCK_VENV)/bin/python -m pip install --quiet -e '.[dev]'
	$(LOCK_VENV)/bin/python -m pip check
	grep '^#' $(CONSTRAINTS) > $(CONSTRAINTS).new
	$(LOCK_VENV)/bin/python -m pip freeze --exclude-editable \
		| grep -Ev '^(torch|triton|nvidia-[A-Za-z0-9_.-]+)==' >> $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf $(LOCK_VENV)

lint: setup
	$(BIN)/ruff check src tests flows benchmarks
	$(BIN)/ruff format --check src tests flows benchmarks
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf .recloop .pytest_cache
