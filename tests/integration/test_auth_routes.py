"""Every route of the API is guarded: anonymous callers get 401, signed-in callers without the role get 403.

The routes are read from the application itself (``app.routes``: every HTTP route, the SSE route and the
websocket), so a route added without a line in ``NEEDS`` — and so without a decision about who may call it —
fails this test. The checks run against a real API process in proxy mode with a real nats-server.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from appyard_api.app import create_app
from appyard_api.settings import ApiSettings

from .auth_setup import ADMIN, grant, person, proxy_api
from .conftest import FIXTURES
from .servers import Api, NatsServer

pytestmark = pytest.mark.integration

# What each route needs. public: anyone (probes, sign-in, the API's own docs); signed_in: any signed-in
# person; use/edit/own: that role on the app named in the path (runs: on the run's app; reading or cancelling
# another person's run needs edit); admin: a workspace admin.
NEEDS: dict[tuple[str, str], str] = {
    ("GET", "/api/health"): "public",
    ("GET", "/api/auth/login"): "public",
    ("GET", "/api/auth/callback"): "public",
    ("POST", "/api/auth/logout"): "public",
    ("GET", "/openapi.json"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/docs/oauth2-redirect"): "public",
    ("GET", "/redoc"): "public",
    ("GET", "/"): "signed_in",
    ("GET", "/api/me"): "signed_in",
    ("GET", "/api/components"): "signed_in",
    ("GET", "/api/apps"): "signed_in",
    ("GET", "/api/tokens"): "signed_in",
    ("POST", "/api/tokens"): "signed_in",
    ("DELETE", "/api/tokens/{token_id}"): "owner_of_token",
    ("GET", "/api/metrics"): "admin",
    ("POST", "/api/apps"): "admin",
    ("GET", "/api/apps/{app}"): "use",
    ("GET", "/api/apps/{app}/pages/{page}"): "use",
    ("POST", "/api/apps/{app}/pages/{page}/runs"): "use",
    ("POST", "/api/apps/{app}/pages"): "edit",
    ("PUT", "/api/apps/{app}/pages/{page}/properties"): "edit",
    ("GET", "/api/apps/{app}/pages/{page}/scripts/{name}"): "edit",
    ("PUT", "/api/apps/{app}/pages/{page}/scripts/{name}"): "edit",
    ("GET", "/api/runs/{run_id}"): "edit",
    ("DELETE", "/api/runs/{run_id}"): "edit",
    ("GET", "/api/runs/{run_id}/events"): "edit",
    ("PUT", "/api/apps/{app}/access"): "own",
    ("GET", "/api/audit"): "own",  # without ?app: the entries of the apps the caller owns; admins: all
    ("WS", "/api/lsp/{app}/{page}"): "edit",
}

GRANT = {"use": ["user:uma"], "edit": ["user:ed"], "own": ["user:oz"]}

# Bodies that pass validation, so that the role check (which runs after it) decides.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/apps"): {"name": "probe_app"},
    ("POST", "/api/apps/{app}/pages"): {"name": "probe_page"},
    ("PUT", "/api/apps/{app}/pages/{page}/scripts/{name}"): {"source": "def probe(state, context):\n    pass\n"},
    ("PUT", "/api/apps/{app}/access"): GRANT,  # an owner's allowed call must not take the others' roles away
    ("POST", "/api/tokens"): {"apps": ["lab"], "role": "use", "expires_in_days": 1},
    ("POST", "/api/apps/{app}/pages/{page}/runs"): {"function": "echo", "state": {}},
    ("PUT", "/api/apps/{app}/pages/{page}/properties"): [],  # checked after the role: 422, never saved
}

RANK = {"use": 1, "edit": 2, "own": 3, "admin": 4}


def routes() -> list[tuple[str, str]]:
    """Every (method, path) the application serves, the websocket as method "WS"."""
    app = create_app(ApiSettings.model_validate({"auth": "proxy", "trusted_proxies": ["127.0.0.0/8"]}))
    found: list[tuple[str, str]] = []
    for context in iter_route_contexts(app.routes):  # routers included in the app are flattened here
        route, path = context.original_route, context.path
        assert path is not None, f"a route without a path: {route!r}; teach this test about it"
        if isinstance(route, APIWebSocketRoute):
            found.append(("WS", path))
        elif context.methods:
            found += [(method, path) for method in sorted(context.methods) if method != "HEAD"]
        else:
            raise AssertionError(f"a route of an unknown kind: {route!r}; teach this test about it")
    return found


ROUTES = routes()


def test_every_route_has_a_decision_and_the_openapi_schema_is_covered() -> None:
    undecided = [route for route in ROUTES if route not in NEEDS]
    assert not undecided, f"routes without a line in NEEDS (who may call them?): {undecided}"
    schema = create_app(ApiSettings()).openapi()
    documented = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert documented <= set(ROUTES)
    assert ("GET", "/api/runs/{run_id}/events") in ROUTES
    assert ("WS", "/api/lsp/{app}/{page}") in ROUTES


class Fixture:
    """The API, and the ids the paths need (a run started by the admin, a token of the admin)."""

    def __init__(self, server: Api) -> None:
        self.server = server
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
            run = client.post("/api/apps/lab/pages/main/runs?wait=false", json={"function": "echo", "state": {}})
            assert run.status_code == 202, run.text
            self.run_id = run.json()["run_id"]
            token = client.post("/api/tokens", json={"apps": ["lab"], "role": "use", "expires_in_days": 1})
            assert token.status_code == 201, token.text
            self.token_id = token.json()["id"]

    def url(self, path: str) -> str:
        values = {"app": "lab", "page": "main", "name": "probe", "run_id": self.run_id, "token_id": self.token_id}
        return re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], path)

    def call(self, method: str, path: str, headers: dict[str, str]) -> int:
        if method == "WS":
            url = self.server.url.replace("http://", "ws://") + self.url(path)
            try:
                with connect(url, additional_headers=headers, open_timeout=30):
                    return 101
            except InvalidStatus as refused:
                return refused.response.status_code
        body = BODIES.get((method, path))
        content = json.dumps(body).encode() if body is not None else None
        extra = {"Content-Type": "application/json"} if content is not None else {}
        with (
            httpx.Client(base_url=self.server.url, headers=headers, timeout=30) as client,
            client.stream(method, self.url(path), content=content, headers=extra) as response,
        ):
            return response.status_code  # without reading the body: an event stream lasts as long as its run


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, lab_module: Path) -> Iterator[Fixture]:
    folder = tmp_path_factory.mktemp("enumeration")
    nats = NatsServer(store=folder / "nats")
    nats.start()
    (folder / "logs").mkdir()
    # No runner serves lab here: a run waits run_wait_seconds and answers 202 (its role check came first).
    server = proxy_api(lab_module, nats, folder / "logs", run_wait_seconds="2")
    try:
        yield Fixture(server)
    finally:
        server.stop()
        nats.stop()


@pytest.fixture(scope="module")
def lab_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("lab") / "lab-workspace"
    shutil.copytree(FIXTURES / "lab", target, ignore=shutil.ignore_patterns("__pycache__"))
    grant(target, "lab", GRANT)
    return target


def _guarded(route: tuple[str, str]) -> bool:
    return NEEDS[route] != "public"


@pytest.mark.parametrize("route", [r for r in ROUTES if r in NEEDS and _guarded(r)], ids=" ".join)
def test_anonymous_callers_get_401(guarded: Fixture, route: tuple[str, str]) -> None:
    assert guarded.call(*route, headers={}) == 401


@pytest.mark.parametrize("route", [r for r in ROUTES if r in NEEDS and _guarded(r)], ids=" ".join)
def test_a_wrong_bearer_token_is_refused_not_ignored(guarded: Fixture, route: tuple[str, str]) -> None:
    status = guarded.call(*route, headers={**person("stranger"), "Authorization": "Bearer not-a-token"})
    assert status == 401, "a wrong credential must be refused, never fall back to the proxy headers"


@pytest.mark.parametrize(
    ("who", "rank"), [("stranger", 0), ("uma", RANK["use"]), ("ed", RANK["edit"]), ("oz", RANK["own"])]
)
def test_callers_without_the_role_get_403(guarded: Fixture, who: str, rank: int) -> None:
    refused, allowed = [], []
    for route in ROUTES:
        need = NEEDS[route]
        if need in ("public", "signed_in"):
            continue
        if need == "owner_of_token":  # the admin's token: nobody else may revoke it
            need = "admin"
        status = guarded.call(*route, headers=person(who))
        if RANK[need] > rank:
            if status != 403:
                refused.append((route, status))
        elif status in (401, 403):
            allowed.append((route, status))
    assert not refused, f"{who} should get 403 on: {refused}"
    assert not allowed, f"{who} holds the role but was refused: {allowed}"


def test_signed_in_routes_answer_signed_in_callers(guarded: Fixture) -> None:
    for route in ROUTES:
        if NEEDS[route] == "signed_in":
            assert guarded.call(*route, headers=person("stranger")) < 400, route


def test_public_routes_answer_everyone_and_health_tells_nothing(guarded: Fixture) -> None:
    health = httpx.get(f"{guarded.server.url}/api/health").json()
    assert health == {"status": "ok", "nats": "connected", "apps": None, "problems": None, "version": None}
    assert httpx.get(f"{guarded.server.url}/api/health", headers=ADMIN).json()["apps"] == 1
    for route in ROUTES:
        if NEEDS[route] == "public" and route[0] == "GET" and "auth" not in route[1]:
            assert guarded.call(*route, headers={}) == 200, route
