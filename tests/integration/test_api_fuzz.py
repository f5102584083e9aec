"""Property-based: schemathesis walks every operation of the API's OpenAPI schema against a real API process,
real runners and a real nats-server (local mode: the caller is the local developer).

For every operation it sends a bounded number of generated requests (valid and invalid parameters and bodies,
deterministic: the same requests every run) and checks that the API never answers with a server error, and
that every status, content type and body it answers is the one its schema documents.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ..conftest import REPO, SAMPLES
from .conftest import Stack, make_stack
from .servers import NatsServer

pytestmark = pytest.mark.integration

EXAMPLES = 25
OPENAPI = REPO / "web" / "src" / "generated" / "openapi.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The samples served by the API and one runner per app (runs that find no runner give up after 2 s)."""
    root = tmp_path_factory.mktemp("fuzz")
    workspace = root / "workspace"
    shutil.copytree(SAMPLES, workspace, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "logs").mkdir()
    nats = NatsServer(store=root / "nats")
    nats.start()
    stack = make_stack(workspace, nats, root / "logs", run_wait_seconds="2")
    for app in ("orders", "ops"):
        stack.start_runner(app)
    yield stack
    stack.stop()
    nats.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed: Stack) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed.api.url}/openapi.json", wait_for_schema=30)


# Every operation of the schema the API serves (`make verify` keeps the committed copy identical to it).
OPERATIONS = [
    (method.upper(), path)
    for path, operations in json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"].items()
    for method in operations
]
# A real app, page and script of the samples: part of the requests go to them, the rest to generated names.
REAL = {"app": "orders", "page": "orders", "name": "orders"}
# A run that succeeds (generated function names never exist); its id stands in for generated ones too.
RUN: dict[str, Any] = {"function": "compute_hash", "state": {"hash": {"text": "fuzz"}}}
RUN_PAGE = {"app": "ops", "page": "hashing"}


@pytest.fixture(scope="module")
def run_id(fuzzed: Stack) -> str:
    with fuzzed.client() as client:
        response = client.post("/api/apps/ops/pages/hashing/runs", json=RUN)
    assert response.status_code == 200, response.text + fuzzed.diagnostics()
    found: str = response.json()["run_id"]
    return found


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{method} {path}" for method, path in OPERATIONS])
def test_the_api_answers_as_documented(api_schema: BaseSchema, run_id: str, method: str, path: str) -> None:
    operation = api_schema[path][method]
    real = {name: value for name, value in {**REAL, "run_id": run_id}.items() if f"{{{name}}}" in path}
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(mode) for mode in modes]
    if real:
        strategies += [operation.as_strategy(mode, path_parameters=real) for mode in modes]
    if path.endswith("/runs"):
        strategies.append(
            st.builds(lambda: operation.Case(path_parameters=RUN_PAGE, body=RUN, media_type="application/json"))
        )

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints the request as it was
    )
    def answers_as_documented(case: Case[Any]) -> None:
        case.call_and_validate(checks=CHECKS, timeout=60)

    answers_as_documented()
