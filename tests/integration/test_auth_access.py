"""Proxy mode, API tokens, reading runs, and the cross-site rules, against real API, runner and nats-server
processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats as nats_client
import pytest
from nats.aio.client import RawCredentials
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from appyard_api.adapters.tokens import TOKENS_BUCKET
from appyard_api.auth.tokens import TokenRecord, _digest
from appyard_api.identity import TokenScope

from .auth_setup import ADMIN, LAB_ACCESS, grant, person, proxy_api
from .conftest import Stack, make_stack
from .servers import Api, NatsServer

pytestmark = pytest.mark.integration

ALICE = person("alice")
BOB = person("bob")
EVE = person("eve", email="eve@example.com")  # an editor through her email address


@pytest.fixture
def proxied(lab: Path, nats: NatsServer, logs: Path) -> Iterator[Api]:
    grant(lab, "lab", LAB_ACCESS)
    server = proxy_api(lab, nats, logs)
    yield server
    server.stop()


def test_proxy_headers_from_an_untrusted_address_are_ignored(lab: Path, nats: NatsServer, logs: Path) -> None:
    grant(lab, "lab", LAB_ACCESS)
    server = proxy_api(lab, nats, logs, trusted="10.255.0.0/16")
    try:
        spoofed = {**ADMIN, "X-Forwarded-For": "10.255.0.1", "X-Real-IP": "10.255.0.1"}
        response = httpx.get(f"{server.url}/api/apps", headers=spoofed)
        assert response.status_code == 401, response.text
        assert httpx.get(f"{server.url}/api/me", headers=ALICE).status_code == 401
    finally:
        server.stop()


def test_proxy_identity_and_roles(proxied: Api) -> None:
    alice = httpx.get(f"{proxied.url}/api/me", headers=ALICE).json()
    assert (alice["name"], alice["via"], alice["apps"]) == ("alice", "proxy", {"lab": ["use"]})
    assert alice["read_only"] is None
    eve = httpx.get(f"{proxied.url}/api/me", headers=EVE).json()
    assert eve["apps"] == {"lab": ["use", "edit"]}
    staff = httpx.get(f"{proxied.url}/api/me", headers=person("sam", groups="staff")).json()
    assert staff["apps"] == {"lab": ["use"]}
    nobody = httpx.get(f"{proxied.url}/api/apps", headers=person("mallory"))
    assert nobody.status_code == 200
    assert nobody.json() == []  # the list shows only apps the caller may use


def test_owners_change_access_and_it_takes_effect(proxied: Api) -> None:
    body = {"use": ["user:zed"], "edit": [], "own": ["user:olga"]}
    assert httpx.put(f"{proxied.url}/api/apps/lab/access", json=body, headers=EVE).status_code == 403
    changed = httpx.put(f"{proxied.url}/api/apps/lab/access", json=body, headers=person("olga"))
    assert changed.status_code == 200, changed.text
    assert changed.json()["properties"]["access"]["use"] == ["user:zed"]
    assert httpx.get(f"{proxied.url}/api/apps/lab", headers=person("zed")).status_code == 200
    assert httpx.get(f"{proxied.url}/api/apps/lab", headers=ALICE).status_code == 403


def new_token(api: Api, headers: dict[str, str], apps: list[str], role: str) -> dict[str, str]:
    created = httpx.post(
        f"{api.url}/api/tokens", json={"apps": apps, "role": role, "expires_in_days": 1}, headers=headers
    )
    assert created.status_code == 201, created.text
    body: dict[str, str] = created.json()
    assert body["token"].startswith(f"ayt_{body['id']}_")
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_acts_as_its_owner_capped_by_its_scope(proxied: Api) -> None:
    use_token = new_token(proxied, EVE, ["lab"], "use")["token"]
    page = httpx.get(f"{proxied.url}/api/apps/lab/pages/main", headers=bearer(use_token))
    assert page.status_code == 200, page.text
    properties = page.json()["properties"]
    capped = httpx.put(f"{proxied.url}/api/apps/lab/pages/main/properties", json=properties, headers=bearer(use_token))
    assert capped.status_code == 403  # eve may edit, but this token carries only use
    edit_token = new_token(proxied, EVE, ["*"], "edit")["token"]
    saved = httpx.put(f"{proxied.url}/api/apps/lab/pages/main/properties", json=properties, headers=bearer(edit_token))
    assert saved.status_code == 200, saved.text
    other_app = new_token(proxied, EVE, ["other"], "edit")["token"]
    assert httpx.get(f"{proxied.url}/api/apps/lab", headers=bearer(other_app)).status_code == 403
    never_more = new_token(proxied, ALICE, ["lab"], "own")["token"]  # alice only uses lab
    assert httpx.put(f"{proxied.url}/api/apps/lab/access", json={}, headers=bearer(never_more)).status_code == 403
    me = httpx.get(f"{proxied.url}/api/me", headers=bearer(edit_token)).json()
    assert (me["name"], me["via"]) == ("eve", "token")


def test_tokens_are_listed_to_their_owner_and_revoked(proxied: Api) -> None:
    created = new_token(proxied, ALICE, ["lab"], "use")
    token, token_id = created["token"], created["id"]
    assert [t["id"] for t in httpx.get(f"{proxied.url}/api/tokens", headers=ALICE).json()] == [token_id]
    assert httpx.get(f"{proxied.url}/api/tokens", headers=BOB).json() == []
    assert token_id in [t["id"] for t in httpx.get(f"{proxied.url}/api/tokens", headers=ADMIN).json()]
    assert "token" not in httpx.get(f"{proxied.url}/api/tokens", headers=ALICE).json()[0]
    assert httpx.delete(f"{proxied.url}/api/tokens/{token_id}", headers=BOB).status_code == 403
    # a token cannot mint or revoke tokens (a leaked one must not outlive its revocation)
    minted = httpx.post(f"{proxied.url}/api/tokens", json={"apps": ["lab"]}, headers=bearer(token))
    assert minted.status_code == 403
    assert httpx.get(f"{proxied.url}/api/apps/lab", headers=bearer(token)).status_code == 200
    revoked = httpx.delete(f"{proxied.url}/api/tokens/{token_id}", headers=ALICE)
    assert revoked.status_code == 200
    assert revoked.json()["revoked"] is True
    refused = httpx.get(f"{proxied.url}/api/apps/lab", headers=bearer(token))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["message"]
    wrong_secret = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert httpx.get(f"{proxied.url}/api/apps/lab", headers=bearer(wrong_secret)).status_code == 401


def test_an_expired_token_is_refused(proxied: Api, nats: NatsServer) -> None:
    secret = "s" * 43
    record = TokenRecord(
        id="0123456789abcdef",
        hash=_digest(secret),
        owner="alice",
        scope=TokenScope(apps=["lab"], role="use"),
        created_at=time.time() - 7200,
        expires_at=time.time() - 3600,
    )
    new_token(proxied, ALICE, ["lab"], "use")  # the API creates the bucket

    async def store() -> None:
        client = await nats_client.connect(nats.url, user_credentials=RawCredentials(nats.creds()))
        kv = await client.jetstream().key_value(TOKENS_BUCKET)
        await kv.put(f"local.{record.id}", record.model_dump_json().encode())  # keys are <namespace>.<id>
        await client.close()

    asyncio.run(store())
    response = httpx.get(f"{proxied.url}/api/apps/lab", headers=bearer(f"ayt_{record.id}_{secret}"))
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


@pytest.fixture
def run_stack(lab: Path, nats: NatsServer, logs: Path) -> Iterator[Stack]:
    grant(lab, "lab", LAB_ACCESS)
    stack = make_stack(
        lab,
        nats,
        logs,
        auth="proxy",
        trusted_proxies='["127.0.0.0/8"]',
        run_wait_seconds="20",
    )
    stack.start_runner("lab")
    yield stack
    stack.stop()


def test_users_read_their_own_runs_and_editors_read_every_run(run_stack: Stack) -> None:
    url = run_stack.api.url
    started = None
    for _ in range(3):  # the first run may wait for the runner to start
        started = httpx.post(
            f"{url}/api/apps/lab/pages/main/runs", json={"function": "echo", "state": {}}, headers=ALICE, timeout=60
        )
        if started.status_code == 200:
            break
    assert started is not None and started.status_code == 200, started.text if started else ""
    run_id = started.json()["run_id"]
    assert httpx.get(f"{url}/api/runs/{run_id}", headers=ALICE).status_code == 200
    assert httpx.get(f"{url}/api/runs/{run_id}", headers=BOB).status_code == 403
    assert httpx.get(f"{url}/api/runs/{run_id}/events", headers=BOB).status_code == 403
    assert httpx.delete(f"{url}/api/runs/{run_id}", headers=BOB).status_code == 403
    assert httpx.get(f"{url}/api/runs/{run_id}", headers=EVE).status_code == 200
    assert httpx.get(f"{url}/api/runs/{run_id}", headers=person("mallory")).status_code == 403
    # another user who learns the run id cannot make the run theirs by starting one with the same id
    reused = httpx.post(
        f"{url}/api/apps/lab/pages/main/runs",
        json={"function": "echo", "state": {}, "run_id": run_id},
        headers=BOB,
        timeout=60,
    )
    assert reused.status_code == 409, reused.text
    assert httpx.get(f"{url}/api/runs/{run_id}", headers=BOB).status_code == 403


# -- cross-site rules, in local mode (`appyard dev`) ------------------------------------------------------


@pytest.fixture
def local(lab: Path, nats: NatsServer, logs: Path) -> Iterator[Api]:
    stack = make_stack(lab, nats, logs)
    yield stack.api
    stack.stop()


def test_local_mode_answers_only_to_loopback_host_names(local: Api) -> None:
    assert httpx.get(f"{local.url}/api/apps").status_code == 200
    assert httpx.get(f"{local.url}/api/apps", headers={"Host": f"localhost:{local.port}"}).status_code == 200
    rebound = httpx.get(f"{local.url}/api/apps", headers={"Host": f"attacker.example:{local.port}"})
    assert rebound.status_code == 403
    assert "loopback" in rebound.json()["message"]


def test_cross_site_writes_are_refused(local: Api) -> None:
    run = {"function": "echo", "state": {}}
    cross = httpx.post(
        f"{local.url}/api/apps/lab/pages/main/runs?wait=false", json=run, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    null_origin = httpx.post(f"{local.url}/api/apps", json={"name": "x"}, headers={"Origin": "null"})
    assert null_origin.status_code == 403
    same = httpx.post(f"{local.url}/api/apps/lab/pages/main/runs?wait=false", json=run, headers={"Origin": local.url})
    assert same.status_code == 202, same.text


def test_a_text_plain_run_is_refused(local: Api) -> None:
    """A web page can send text/plain cross-site without a preflight; such a body never reaches the route."""
    response = httpx.post(
        f"{local.url}/api/apps/lab/pages/main/runs",
        content=b'{"function": "echo", "state": {}}',
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    form = httpx.put(
        f"{local.url}/api/apps/lab/pages/main/scripts/behave", data={"source": "x"}
    )  # application/x-www-form-urlencoded
    assert form.status_code == 415


def test_the_editor_websocket_checks_origin(local: Api) -> None:
    url = local.url.replace("http://", "ws://") + "/api/lsp/lab/main"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"Origin": "https://evil.example"}, open_timeout=30)
    assert refused.value.response.status_code == 403
    with connect(url, additional_headers={"Origin": local.url}, open_timeout=30) as socket:
        assert socket.protocol.state.name == "OPEN"
