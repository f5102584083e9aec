# Appyard — every workflow is a target here; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
WORKSPACE ?= workspace
# Workspaces whose generated files are committed: the samples and the test fixtures.
GENERATED_WORKSPACES := $(WORKSPACE) tests/fixtures/lab
PY_PACKAGES := sdk api runner-image
PY_SOURCES := sdk/appyard api/appyard_api runner-image/appyard_runner tests bench workspace

.PHONY: help setup dev test lint typecheck unit gen verify bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

APP_REQUIREMENTS := $(wildcard $(WORKSPACE)/*/requirements.txt)

# The sample apps' own requirements are installed too, so `appyard run` and `make dev` can import them.
$(VENV)/.installed: $(BIN)/python requirements/constraints.txt requirements/dev.txt $(addsuffix /pyproject.toml,$(PY_PACKAGES)) $(APP_REQUIREMENTS)
	$(BIN)/pip install --quiet -c requirements/constraints.txt -r requirements/dev.txt $(addprefix -e ,$(PY_PACKAGES)) \
		$(addprefix -r ,$(APP_REQUIREMENTS))
	@touch $@

setup: $(VENV)/.installed ## Install everything into .venv (idempotent)

dev: setup ## Run Appyard on http://127.0.0.1:8000 with the sample workspace (Ctrl-C stops it)
	$(BIN)/appyard dev $(WORKSPACE)

lint: setup ## ruff: lint and formatting
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)

typecheck: setup ## mypy --strict on every Python package, the tests and the sample apps
	$(BIN)/mypy $(PY_SOURCES)

gen: setup ## Regenerate every generated file (State/Context models, docs/components.md)
	for ws in $(GENERATED_WORKSPACES); do $(BIN)/appyard gen $$ws || exit 1; done
	$(BIN)/python -m appyard.reference docs/components.md

verify: setup ## Fail when any generated file is stale
	for ws in $(GENERATED_WORKSPACES); do $(BIN)/appyard gen --check $$ws || exit 1; done
	$(BIN)/python -m appyard.reference --check docs/components.md

unit: setup ## Run the unit tests
	$(BIN)/pytest tests/unit

test: setup lint typecheck verify ## Install everything and run every test tier
	$(BIN)/appyard validate $(WORKSPACE)
	$(BIN)/pytest tests

bench: setup ## Measure performance; record the numbers in docs/benchmarks.md
	$(BIN)/python -m bench.codegen
	$(BIN)/python -m bench.runs

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
