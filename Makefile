# The two commands: `make run` (the three servers on embedded defaults) and
# `make test` (ruff, mypy, buf lint, pytest). Each sets everything up first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BUF := node_modules/.bin/buf

.PHONY: setup run test lint gen bench clean

setup: $(STAMP) $(BUF)

# Reinstalls when the dependency pins change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[models,stores,dev]'
	touch $@

$(BUF): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/python -m stack

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BUF) lint

test: lint
	$(BIN)/pytest

# Regenerates the committed stubs under imaging/ from protos/.
gen: setup
	$(BIN)/python -m tools.gen_protos

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
