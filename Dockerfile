# The three images, one target each; build from the repository root (or `make images`):
#   docker build --target api -t ghcr.io/appyard/api:<tag> .            the API server with the built web client
#   docker build --target operator -t ghcr.io/appyard/operator:<tag> .  the operator, with git
#   docker build --target runner -t ghcr.io/appyard/runner:<tag> .      the runner base image
#
# Bases are pinned by digest (tag kept for people): a rebuild gets the same bases until someone moves the pin. Each
# digest is written once, as the default of the two ARGs below. To refresh one, read the tag's current digest, e.g.
# `docker buildx imagetools inspect python:3.11-slim-bookworm` (or `crane digest python:3.11-slim-bookworm`), and
# replace its sha256 there; tests/unit/test_dockerfiles.py checks that every base stays pinned, once.
# A build argument overrides a base, e.g. `--build-arg PYTHON_BASE=appyard.test/python:3.11-bookworm`: the cluster
# tests build on bases made on the machine from Debian packages, where no registry can be pulled from
# (tests/cluster/images.py).
ARG PYTHON_BASE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
ARG NODE_BASE=node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0
FROM ${PYTHON_BASE} AS python
FROM ${NODE_BASE} AS node

# The web client (web/dist), for the API's wheel.
FROM node AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-fund --no-audit --loglevel=error
COPY web/ ./
RUN npm run build

# The wheels of every package (the API's carrying the web client: api/setup.py copies web/dist in) and of their
# dependencies at the pinned versions, resolved together once. Each image installs its own package from them, so
# it gets that package and its dependencies only.
FROM python AS wheels
WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
COPY sdk sdk
COPY api api
COPY operator operator
COPY runner-image runner-image
COPY --from=web /src/web/dist web/dist
RUN pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /wheels \
        -c requirements/constraints.txt ./sdk ./api ./operator ./runner-image

# What every image starts from: Python and the user 10001, no compiler, no node, no sources. HOME and every cache
# are under /tmp (an emptyDir in the chart), so the root filesystem can be read-only. The images install their
# wheels as root, mounted for the install and never copied (no layer keeps them), then run as 10001.
FROM python AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp appyard
WORKDIR /tmp

# ghcr.io/appyard/api: the API server with the built web client, listening on 0.0.0.0:8000.
FROM runtime AS api
ENV APPYARD_API_HOST=0.0.0.0 \
    APPYARD_API_PORT=8000 \
    APPYARD_API_CACHE_DIR=/tmp/appyard-cache
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels appyard-api
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["python", "-m", "appyard_api"]

# ghcr.io/appyard/operator: syncs Workspaces from git (so git is installed; it clones into a temporary folder under
# /tmp), builds runner images with Jobs, runs the runners. Push webhook on 8080, liveness /healthz on 8081.
FROM runtime AS operator
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels appyard-operator
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["python", "-m", "appyard_operator"]

# ghcr.io/appyard/runner: the runner base image, Python, the Appyard SDK and the runner. Apps without a
# requirements.txt run on it as is. For an app with one, the operator's build Job makes the app's image FROM this
# one, adding the app's requirements as one layer of its own (`USER root`, `pip install -r requirements.txt`, back
# to `USER 10001`: operator/appyard_operator/app_objects.py DOCKERFILE), so pip stays in this image and apps with
# the same requirements share that layer. See docs/kubernetes.md. The code of the app arrives at run time
# (APPYARD_RUNNER_BUNDLE, the App's code ConfigMap), so the root filesystem can be, and in the operator's
# Deployment is, read-only.
FROM runtime AS runner
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels appyard-runner
USER 10001:10001
ENTRYPOINT ["python", "-m", "appyard_runner"]
