# Appyard — every workflow is a target here; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
WORKSPACE ?= workspace
# Workspaces whose generated files are committed: the samples and the test fixtures.
GENERATED_WORKSPACES := $(WORKSPACE) tests/fixtures/lab tests/fixtures/shop tests/fixtures/pods
PY_PACKAGES := sdk api runner-image operator
PY_SOURCES := sdk/appyard api/appyard_api runner-image/appyard_runner operator/appyard_operator tests bench workspace

.PHONY: help setup chromium postgresql cluster-packages test-cluster tools dev dev-postgres dev-postgres-stop test lint typecheck unit gen verify bench clean dist images

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

# What the cluster tier runs beside our own binaries (Debian's): the container runtime, CNI plugins, image tools, the
# registry, packet filtering for kube-proxy and the policy controller, and static busybox for test pods.
CLUSTER_PACKAGES := containerd runc containernetworking-plugins mmdebstrap buildah skopeo umoci docker-registry \
	iptables ipset conntrack fuse-overlayfs uidmap busybox-static
cluster-packages:
	@missing=$$(for p in $(CLUSTER_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; fi

# The Kubernetes control plane for the operator tests (etcd, kube-apiserver, kube-controller-manager, kubectl) and helm,
# built from Go modules pinned in tests/controlplane/go.mod. The first build takes minutes; later ones reuse Go's
# caches, and a binary already in .tools/bin is not rebuilt.
TOOLS := .tools/bin
CONTROLPLANE := $(TOOLS)/etcd $(TOOLS)/kube-apiserver $(TOOLS)/kube-controller-manager $(TOOLS)/kubectl
# The node of the cluster tier (tests/cluster): a real kubelet, scheduler and kube-proxy from the same pinned module.
NODE := $(TOOLS)/kubelet $(TOOLS)/kube-scheduler $(TOOLS)/kube-proxy
HELM_VERSION := v3.19.0

$(TOOLS)/etcd: tests/controlplane/go.mod
	cd tests/controlplane && go build -trimpath -o ../../$@ go.etcd.io/etcd/server/v3
# The binaries report the pinned Kubernetes version (a plain `go build` says v0.0.0, which no chart's kubeVersion accepts).
KUBE_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" {print $$2}' tests/controlplane/go.mod)
KUBE_VERSION_FLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 2,$(subst ., ,$(KUBE_VERSION:v%=x.%))) \
	-X k8s.io/component-base/version.gitMinor=$(word 3,$(subst ., ,$(KUBE_VERSION:v%=x.%))) \
	-X k8s.io/component-base/version.gitTreeState=clean
$(TOOLS)/kube-apiserver $(TOOLS)/kube-controller-manager $(TOOLS)/kubectl $(NODE): tests/controlplane/go.mod
	cd tests/controlplane && go build -trimpath -ldflags "$(KUBE_VERSION_FLAGS)" -o ../../$@.new k8s.io/kubernetes/cmd/$(notdir $@)
	mv $@.new $@
$(TOOLS)/helm:
	GOBIN=$(CURDIR)/$(TOOLS) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
# CoreDNS for the cluster tier's node (a host process on the node IP): its own module, since it pins its own client-go.
$(TOOLS)/coredns: tests/node/go.mod
	cd tests/node && go build -trimpath -o ../../$@.new github.com/coredns/coredns
	mv $@.new $@
# The cluster tier's edge: kube-router's firewall enforces NetworkPolicy, Traefik serves Ingress (tests/cluster).
$(TOOLS)/kube-router: tests/kuberouter/go.mod
	cd tests/kuberouter && go build -trimpath -o ../../$@.new github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
	mv $@.new $@
$(TOOLS)/traefik: tests/traefik/go.mod
	cd tests/traefik && go build -trimpath -o ../../$@.new github.com/traefik/traefik/v3/cmd/traefik
	mv $@.new $@
# kaniko's executor, the per-app image builder of the cluster tier (tests/cluster/images.py packs it as an image):
# static (the image has no libc) and reporting its pinned version, as upstream's Makefile builds it.
KANIKO_VERSION := $(shell awk '$$1 == "require" && $$2 == "github.com/GoogleContainerTools/kaniko" {print $$3}' tests/kaniko/go.mod)
$(TOOLS)/kaniko-executor: tests/kaniko/go.mod
	cd tests/kaniko && CGO_ENABLED=0 go build -trimpath \
		-ldflags "-s -w -X github.com/GoogleContainerTools/kaniko/pkg/version.version=$(KANIKO_VERSION)" \
		-o ../../$@.new github.com/GoogleContainerTools/kaniko/cmd/executor
	mv $@.new $@
CLUSTER_TOOLS := $(TOOLS)/coredns $(TOOLS)/kube-router $(TOOLS)/traefik $(TOOLS)/kaniko-executor

tools: $(CONTROLPLANE) $(NODE) $(CLUSTER_TOOLS) $(TOOLS)/helm ## Build the test control plane (etcd, kube-apiserver, kube-controller-manager, kubectl), the node (kubelet, kube-scheduler, kube-proxy, CoreDNS), kube-router, Traefik, kaniko's executor and helm

setup: $(VENV)/.installed web/dist/index.html chromium postgresql ## Install everything (.venv, npm packages, the web build, Chromium, PostgreSQL); idempotent

dev: setup ## Run Appyard on http://127.0.0.1:8000 with the sample workspace (Ctrl-C stops it)
	$(BIN)/appyard dev $(WORKSPACE)

# A throw-away PostgreSQL for the samples (the inventory app's `shop` source), kept in .dev/postgres (git-ignored).
# Like tests/postgres.py: Debian's server binaries, run as the postgres user when we are root, a private socket
# directory, loopback only, a generated password. Seeded once; `workspace/.env` gets APPYARD_DB_SHOP.
DEV_PG ?= $(CURDIR)/.dev/postgres
DEV_PG_PORT ?= 55432
DEV_PG_ENV := $(WORKSPACE)/.env
DEV_PG_SHELL = bin=$$(dirname "$$(ls -d /usr/lib/postgresql/*/bin/postgres | sort -V | tail -n 1)"); \
	as=""; [ "$$(id -u)" = 0 ] && as="runuser -u postgres --"; \
	psql="$$as $$bin/psql -h $(DEV_PG)/sockets -p $(DEV_PG_PORT) -U appyard -X -q -v ON_ERROR_STOP=1"

dev-postgres: postgresql ## Start a throw-away PostgreSQL for the samples, seed it, write workspace/.env (idempotent)
	@set -euo pipefail; $(DEV_PG_SHELL); \
	mkdir -p $(DEV_PG)/sockets; \
	if [ ! -s $(DEV_PG)/password ]; then \
		od -An -N18 -tx1 /dev/urandom | tr -d ' \n' > $(DEV_PG)/password; fi; \
	[ "$$(id -u)" = 0 ] && chown -R postgres:postgres $(DEV_PG); chmod 700 $(DEV_PG); \
	$$as test -x $(DEV_PG) || { echo "dev-postgres: the postgres user cannot reach $(DEV_PG) (a parent folder" \
		"is private); choose another folder: make dev-postgres DEV_PG=/var/tmp/appyard-postgres" >&2; exit 1; }; \
	if [ ! -f $(DEV_PG)/data/PG_VERSION ]; then \
		echo "dev-postgres: creating a cluster in $(DEV_PG)/data"; \
		$$as $$bin/initdb -D $(DEV_PG)/data -U appyard --pwfile $(DEV_PG)/password -A scram-sha-256 \
			--auth-local trust -E UTF8 --locale C.UTF-8 --no-sync >/dev/null; fi; \
	if $$bin/pg_isready -q -h $(DEV_PG)/sockets -p $(DEV_PG_PORT); then \
		echo "dev-postgres: already running on 127.0.0.1:$(DEV_PG_PORT)"; \
	else \
		$$as $$bin/pg_ctl -D $(DEV_PG)/data -l $(DEV_PG)/server.log -w -s start \
			-o "-p $(DEV_PG_PORT) -k $(DEV_PG)/sockets -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" \
			|| { tail -n 20 $(DEV_PG)/server.log; exit 1; }; \
		echo "dev-postgres: started on 127.0.0.1:$(DEV_PG_PORT) (log: $(DEV_PG)/server.log)"; fi; \
	if [ "$$($$psql -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = 'shop'")" != 1 ]; then \
		echo "dev-postgres: seeding database shop from workspace/inventory/seed.sql (100,000 products; under a minute)"; \
		$$psql -d postgres -c "CREATE DATABASE shop_seeding"; \
		$$psql -d shop_seeding < $(WORKSPACE)/inventory/seed.sql >/dev/null; \
		$$psql -d postgres -c "ALTER DATABASE shop_seeding RENAME TO shop"; \
	else echo "dev-postgres: database shop exists (seeded)"; fi; \
	url="postgresql+psycopg://appyard:$$(cat $(DEV_PG)/password)@127.0.0.1:$(DEV_PG_PORT)/shop"; \
	touch $(DEV_PG_ENV); chmod 600 $(DEV_PG_ENV); \
	{ grep -v '^APPYARD_DB_SHOP=' $(DEV_PG_ENV) || true; echo "APPYARD_DB_SHOP=$$url"; } > $(DEV_PG_ENV).new; \
	mv $(DEV_PG_ENV).new $(DEV_PG_ENV); \
	echo "dev-postgres: wrote APPYARD_DB_SHOP to $(DEV_PG_ENV) (git-ignored); \`make dev\` reads it"; \
	echo "dev-postgres: psql: $$psql -d shop    stop: make dev-postgres-stop"

dev-postgres-stop: ## Stop the samples' PostgreSQL (its data stays in .dev/postgres; delete that folder to start over)
	@set -euo pipefail; $(DEV_PG_SHELL); \
	if [ -f $(DEV_PG)/data/postmaster.pid ]; then \
		$$as $$bin/pg_ctl -D $(DEV_PG)/data -w -s -m fast stop && echo "dev-postgres: stopped"; \
	else echo "dev-postgres: not running"; fi

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

test: setup tools cluster-packages lint typecheck verify ## Install everything and run every test tier
	$(BIN)/appyard validate $(WORKSPACE)
	cd web && npm test --silent
	$(BIN)/pytest tests --ignore=tests/cluster
	$(BIN)/pytest tests/cluster

# The cluster tier: a real single-node Kubernetes (containerd, kubelet, CNI) with images built here; see tests/cluster.
test-cluster: setup tools cluster-packages ## Run the cluster tier: helm install, git push, a click served by a real pod
	$(BIN)/pytest tests/cluster

# The HTTP load generator of bench/load.py (Go, standard library only; git-ignored).
bench/loadgen/loadgen: bench/loadgen/main.go bench/loadgen/go.mod
	cd bench/loadgen && go build -trimpath -o loadgen .

bench: setup tools cluster-packages bench/loadgen/loadgen ## Measure performance; record the numbers in docs/benchmarks.md
	$(BIN)/python -m bench.codegen
	$(BIN)/python -m bench.runs
	$(BIN)/python -m bench.profile
	$(BIN)/python -m bench.web
	$(BIN)/python -m bench.operator
	$(BIN)/python -m bench.sql
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.logs
	$(BIN)/python -m bench.pods

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
