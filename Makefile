# Appyard — every workflow is a target here; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
WORKSPACE ?= workspace
PY_PACKAGES := sdk
PY_SOURCES := sdk/appyard tests bench workspace

.PHONY: help setup dev test lint typecheck unit gen verify bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements/constraints.txt requirements/dev.txt $(addsuffix /pyproject.toml,$(PY_PACKAGES))
	$(BIN)/pip install --quiet -c requirements/constraints.txt -r requirements/dev.txt $(addprefix -e ,$(PY_PACKAGES))
	@touch $@

setup: $(VENV)/.installed ## Install everything into .venv (idempotent)

dev: setup ## Run Appyard on http://127.0.0.1:8000 with the sample workspace
	@echo "The run path (API, NATS, runners) is not built yet: validating and generating the sample workspace instead."
	$(BIN)/appyard validate $(WORKSPACE)
	$(BIN)/appyard gen $(WORKSPACE)

lint: setup ## ruff: lint and formatting
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)

typecheck: setup ## mypy --strict on every Python package
	$(BIN)/mypy sdk/appyard tests bench

gen: setup ## Regenerate every generated file (State/Context models, docs/components.md)
	$(BIN)/appyard gen $(WORKSPACE)
	$(BIN)/python -m appyard.reference docs/components.md

verify: setup ## Fail when any generated file is stale
	$(BIN)/appyard gen --check $(WORKSPACE)
	$(BIN)/python -m appyard.reference --check docs/components.md

unit: setup ## Run the unit tests
	$(BIN)/pytest tests/unit

test: setup lint typecheck verify ## Install everything and run every test tier
	$(BIN)/appyard validate $(WORKSPACE)
	$(BIN)/pytest tests

bench: setup ## Measure performance; see docs/benchmarks.md
	$(BIN)/python -m bench.codegen

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
