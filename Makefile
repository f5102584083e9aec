# Appyard — every workflow is a target here; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
WORKSPACE ?= workspace
# Workspaces whose generated files are committed: the samples and the test fixtures.
GENERATED_WORKSPACES := $(WORKSPACE) tests/fixtures/lab tests/fixtures/shop
PY_PACKAGES := sdk api runner-image operator
PY_SOURCES := sdk/appyard api/appyard_api runner-image/appyard_runner operator/appyard_operator tests bench workspace

.PHONY: help setup chromium postgresql tools dev test lint typecheck unit gen verify bench clean dist images

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

WEB_SOURCES := $(shell find web/src web/index.html web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-fund --no-audit --loglevel=error
	@touch $@

web/dist/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run build --silent

# Debian's Chromium, for the browser tests (Playwright cannot download its own browser here).
chromium:
	@command -v chromium >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# Debian's PostgreSQL, for the data-source tests, the PostgreSQL sample and the benchmarks (the tests start private
# servers as the postgres user; nothing of the machine's own cluster is used).
postgresql:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql; }

# The Kubernetes control plane for the operator tests (etcd, kube-apiserver, kube-controller-manager, kubectl) and helm,
# built from Go modules pinned in tests/controlplane/go.mod. The first build takes minutes; later ones reuse Go's
# caches, and a binary already in .tools/bin is not rebuilt.
TOOLS := .tools/bin
CONTROLPLANE := $(TOOLS)/etcd $(TOOLS)/kube-apiserver $(TOOLS)/kube-controller-manager $(TOOLS)/kubectl
HELM_VERSION := v3.19.0

$(TOOLS)/etcd: tests/controlplane/go.mod
	cd tests/controlplane && go build -trimpath -o ../../$@ go.etcd.io/etcd/server/v3
# The binaries report the pinned Kubernetes version (a plain `go build` says v0.0.0, which no chart's kubeVersion accepts).
KUBE_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" {print $$2}' tests/controlplane/go.mod)
KUBE_VERSION_FLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 2,$(subst ., ,$(KUBE_VERSION:v%=x.%))) \
	-X k8s.io/component-base/version.gitMinor=$(word 3,$(subst ., ,$(KUBE_VERSION:v%=x.%))) \
	-X k8s.io/component-base/version.gitTreeState=clean
$(TOOLS)/kube-apiserver $(TOOLS)/kube-controller-manager $(TOOLS)/kubectl: tests/controlplane/go.mod
	cd tests/controlplane && go build -trimpath -ldflags "$(KUBE_VERSION_FLAGS)" -o ../../$@.new k8s.io/kubernetes/cmd/$(notdir $@)
	mv $@.new $@
$(TOOLS)/helm:
	GOBIN=$(CURDIR)/$(TOOLS) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

tools: $(CONTROLPLANE) $(TOOLS)/helm ## Build the test control plane (etcd, kube-apiserver, kube-controller-manager, kubectl) and helm

setup: $(VENV)/.installed web/dist/index.html chromium postgresql ## Install everything (.venv, npm packages, the web build, Chromium, PostgreSQL); idempotent

dev: setup ## Run Appyard on http://127.0.0.1:8000 with the sample workspace (Ctrl-C stops it)
	$(BIN)/appyard dev $(WORKSPACE)

lint: setup ## ruff: lint and formatting
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)

typecheck: setup ## mypy --strict on every Python package, the tests and the sample apps; tsc on the web client
	$(BIN)/mypy $(PY_SOURCES)
	cd web && npm run typecheck --silent

gen: $(VENV)/.installed web/node_modules/.installed ## Regenerate every generated file (page models, docs/components.md, web types, CRDs)
	for ws in $(GENERATED_WORKSPACES); do $(BIN)/appyard gen $$ws || exit 1; done
	$(BIN)/python -m appyard.reference docs/components.md
	$(BIN)/python -m appyard.schemas web/src/generated/properties.schema.json
	$(BIN)/python -m appyard.crds crds charts/appyard/files/crds
	$(BIN)/python -m appyard.crds --docs docs/crds.md
	$(BIN)/python -m appyard_api.openapi web/src/generated/openapi.json
	cd web && npm run gen --silent

verify: $(VENV)/.installed web/node_modules/.installed ## Fail when any generated file is stale
	for ws in $(GENERATED_WORKSPACES); do $(BIN)/appyard gen --check $$ws || exit 1; done
	$(BIN)/python -m appyard.reference --check docs/components.md
	$(BIN)/python -m appyard.schemas --check web/src/generated/properties.schema.json
	$(BIN)/python -m appyard.crds --check crds charts/appyard/files/crds
	$(BIN)/python -m appyard.crds --check --docs docs/crds.md
	$(BIN)/python -m appyard_api.openapi --check web/src/generated/openapi.json
	cd web && npm run verify --silent

unit: setup ## Run the unit tests
	$(BIN)/pytest tests/unit

test: setup tools lint typecheck verify ## Install everything and run every test tier
	$(BIN)/appyard validate $(WORKSPACE)
	cd web && npm test --silent
	$(BIN)/pytest tests

bench: setup tools ## Measure performance; record the numbers in docs/benchmarks.md
	$(BIN)/python -m bench.codegen
	$(BIN)/python -m bench.runs
	$(BIN)/python -m bench.web
	$(BIN)/python -m bench.operator

clean: ## Remove the virtualenv, node modules, the web build, the wheels and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache web/node_modules web/dist dist

# The wheels of the four packages; the API's carries the built web client (api/setup.py copies web/dist in).
# Built with the venv's setuptools (no download); build/ folders go first so no stale module reaches a wheel.
dist: $(VENV)/.installed web/dist/index.html ## Build the wheels (the API's with the web client) into dist/
	rm -rf dist $(addsuffix /build,$(PY_PACKAGES))
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist $(addprefix ./,$(PY_PACKAGES))
	@$(BIN)/python -c "import glob, sys, zipfile; wheel = zipfile.ZipFile(glob.glob('dist/appyard_api-*.whl')[0]); \
		sys.exit(0 if 'appyard_api/web/index.html' in wheel.namelist() else 'make dist: the API wheel has no web client')"
	@ls -l dist

REGISTRY ?= ghcr.io/appyard
TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' api/pyproject.toml)
# The targets of the root Dockerfile, each tagged $(REGISTRY)/<target>:$(TAG).
IMAGES := api operator runner

images: ## Build the api, operator and runner images (docker or buildah; REGISTRY, TAG)
	@if docker info >/dev/null 2>&1; then builder="docker build"; \
	elif command -v buildah >/dev/null && buildah info >/dev/null 2>&1; then builder="buildah bud"; \
	else echo "make images: no image builder works here: start a Docker daemon (docker info fails) or install buildah" >&2; \
		exit 1; fi; \
	echo "building with $$builder"; \
	for image in $(IMAGES); do \
		$$builder --target $$image -t $(REGISTRY)/$$image:$(TAG) . || exit 1; \
	done
