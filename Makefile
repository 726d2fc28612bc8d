# The two commands: `make run` (the three servers on embedded defaults) and
# `make test` (ruff, mypy, buf lint, pytest). Each sets everything up first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BUF := node_modules/.bin/buf
# The Node.js client's dependencies; its tests run its examples against the servers.
NODE_CLIENT := clients/node/node_modules/.package-lock.json

.PHONY: setup system-packages run test lint gen bench clean release-contracts

setup: system-packages $(STAMP) $(BUF) $(NODE_CLIENT)

# promtool and prometheus (Debian's `prometheus`) for the monitoring tests: apt-get
# as root, else it prints what to install. Never leaves their service running.
system-packages:
	bash scripts/system_packages.sh

# Reinstalls when the dependency pins change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[models,stores,dev]'
	touch $@

$(BUF): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(NODE_CLIENT): clients/node/package.json clients/node/package-lock.json
	cd clients/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/python -m stack

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BUF) lint
	$(BUF) breaking --against contracts/released.binpb

test: lint
	$(BIN)/pytest

# Regenerates the committed stubs under imaging/ and the Node.js client's
# TypeScript types under clients/node/generated/ from protos/.
gen: setup
	$(BIN)/python -m tools.gen_protos
	cd clients/node && npm run --silent gen

clean:
	rm -rf $(VENV) node_modules clients/node/node_modules .mypy_cache .ruff_cache .pytest_cache

# Records protos/ as the released contracts that `make lint` checks every later
# change against (buf breaking, FILE rules): run it when a release ships.
release-contracts: $(BUF)
	$(BUF) build -o contracts/released.binpb
