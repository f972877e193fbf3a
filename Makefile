# rnnkit developer commands. `make install` then `make test` is all the set-up a fresh clone needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch requirement installed before everything else. This machine serves torch==2.13.0 as a
# CPU wheel; a GPU user overrides it, e.g. `make install TORCH_SPEC="torch==2.13.0 --index-url ..."`.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
ARGS ?=

.PHONY: install test test-full lint format bench train tensorboard clean

install:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH_SPEC)
	$(BIN)/python -m pip install -e ".[dev]"

test:
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-full:
	$(BIN)/python -m pytest -q -m "slow or not slow" $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

format:
	$(BIN)/ruff check --fix src tests scripts
	$(BIN)/ruff format src tests scripts

bench:
	$(BIN)/python scripts/bench_cells.py

# The default experiment (built-in sentiment data, offline). Extra overrides: make train ARGS="cell=gru"
train:
	$(BIN)/rnnkit-train experiment=sentiment $(ARGS)

tensorboard:
	$(BIN)/tensorboard --logdir logs

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
