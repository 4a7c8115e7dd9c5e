# Set-up, the main job and the tests. `make test` and `make simulate` set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch, installed before everything else: an unpinned torch pulls a
# multi-GB CUDA build. GPU machines: make setup TORCH_SPEC="torch==2.13.0 --index-url ..."
TORCH_SPEC ?= torch==2.13.0
# Named datasets (movielens-100k/) are looked up here first; fetched to it when missing.
RECLOOP_DATA_DIR ?= $(abspath ../shared/datasets)
export RECLOOP_DATA_DIR

.PHONY: setup test simulate lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

test: setup
	$(BIN)/python -m pytest

simulate: setup
	$(BIN)/recloop simulate movielens-100k

lint: setup
	$(BIN)/ruff check src tests flows benchmarks
	$(BIN)/ruff format --check src tests flows benchmarks

clean:
	rm -rf .recloop .pytest_cache
