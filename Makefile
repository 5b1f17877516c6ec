# daskburst: run the same Dask workloads on a laptop, SLURM or Kubernetes.
# `make` (or `make help`) lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Versions the project is tested with; the image installs exactly these too.
CONSTRAINTS ?= requirements/constraints.txt
ARTIFACTS ?= $(CURDIR)/artifacts
# Extras `make lock` pins: all of pyproject.toml's optional-dependencies.
LOCK_EXTRAS ?= test,bench
PYTEST_ARGS ?=

##@ Getting started

.PHONY: help
# Help texts may name variables, e.g. $(BENCH_OUT): they are shown with their values.
HELP_VARS := BENCH_OUT

help: ## Show this help
	@$(foreach v,$(HELP_VARS),$(v)='$($(v))') awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
	  function expand(text,  name) { \
	    while (match(text, /\$$\([A-Za-z_]+\)/)) { \
	      name = substr(text, RSTART + 2, RLENGTH - 3); \
	      text = substr(text, 1, RSTART - 1) ENVIRON[name] substr(text, RSTART + RLENGTH) } \
	    return text } \
	  /^[a-zA-Z0-9_.-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, expand($$2) } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

# localk8s (scripts/cluster), the single-node cluster's tooling, is a distribution of its own
# (daskburst-localk8s): installed here, never in the daskburst wheel. The editable install
# compiles the bag's scanner (hatch_build.py) next to its C source, so it runs again when
# that source changes.
$(BIN)/daskburst: pyproject.toml scripts/cluster/pyproject.toml $(CONSTRAINTS) hatch_build.py \
		src/daskburst/workloads/_scan.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test]' -e scripts/cluster
	@touch $@

.PHONY: venv
venv: $(BIN)/daskburst ## Create .venv and install daskburst (and localk8s) with its test tools

.PHONY: demo
demo: venv ## Run all five workloads on a local cluster at demo sizes
	$(BIN)/daskburst demo

.PHONY: test
test: venv ## Run the test suite (unit + every integration the machine supports)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

.PHONY: unit
unit: venv ## Run the unit tests: no SLURM, podman or cluster needed (about 4 min on 2 cores)
	$(BIN)/python -m pytest tests/unit tests/localk8s $(PYTEST_ARGS)

##@ Performance

BENCH_OUT ?= bench-out
BENCH_ARGS ?= --quick

.PHONY: bench
bench: venv ## Benchmark every workload (writes $(BENCH_OUT)/bench.json, summary.md, charts)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,bench]'
	$(BIN)/daskburst bench $(BENCH_ARGS) --out $(BENCH_OUT)

##@ Quality

.PHONY: lint
lint: venv ## Run ruff and mypy
	$(BIN)/ruff check hatch_build.py src tests scripts examples
	$(BIN)/ruff format --check hatch_build.py src tests scripts examples
	$(BIN)/mypy

.PHONY: format
format: venv ## Reformat the code with ruff
	$(BIN)/ruff format hatch_build.py src tests scripts examples
	$(BIN)/ruff check --fix hatch_build.py src tests scripts examples

.PHONY: lock
lock: ## Re-resolve requirements/constraints.txt (every extra) from pyproject.toml in a scratch venv
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet --upgrade pip
	build/lock-venv/bin/pip install --quiet '.[$(LOCK_EXTRAS)]'
	build/lock-venv/bin/pip freeze --exclude daskburst | LC_ALL=C sort > $(CONSTRAINTS).tmp
	mv $(CONSTRAINTS).tmp $(CONSTRAINTS)
	rm -rf build/lock-venv

.PHONY: clean
clean: ## Remove build output, caches and artifacts (keeps .venv)
	rm -rf build dist artifacts bench-out .pytest_cache .mypy_cache .ruff_cache

# Each area keeps its targets in its own file.
include $(sort $(wildcard mk/*.mk))
