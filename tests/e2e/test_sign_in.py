"""Real Chromium signs in through a real OIDC issuer (authorization code + PKCE) and sees only what its roles
allow: the app list holds the apps it may use, and the Studio link shows only to people who may edit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ..integration.auth_setup import grant, oidc_api
from ..integration.oidc_issuer import Issuer
from ..integration.servers import Api, NatsServer
from .conftest import WEB

pytestmark = pytest.mark.e2e


@pytest.fixture
def signed_in_api(workspace_copy: Path, tmp_path: Path, issuer: Issuer) -> Iterator[Api]:
    grant(workspace_copy, "ops", {"use": ["user:alice"], "edit": ["group:editors"]})
    grant(workspace_copy, "orders", {"own": ["user:olga"]})
    nats = NatsServer(store=tmp_path / "nats")
    nats.start()
    logs = tmp_path / "logs"
    logs.mkdir()
    server = oidc_api(workspace_copy, nats, logs, issuer, web_dir=str(WEB), cache_dir=str(tmp_path / "cache"))
    yield server
    server.stop()
    nats.stop()


def sign_in(page: Page, api: Api) -> None:
    page.goto(f"{api.url}/apps/ops/hashing")
    # The page's first API call answers 401; the client goes to the issuer and comes back signed in.
    page.wait_for_url(re.compile(re.escape(api.url) + r"/apps/ops/hashing$"), timeout=30_000)


def test_a_user_signs_in_and_sees_only_their_apps(signed_in_api: Api, page: Page) -> None:
    sign_in(page, signed_in_api)
    expect(page.locator(".topbar .signed-in")).to_have_text("alice", timeout=30_000)
    expect(page.get_by_role("link", name="Studio")).to_have_count(0)
    page.get_by_role("link", name="Appyard").click()
    expect(page.get_by_role("heading", name="Ops toolbox")).to_be_visible()
    expect(page.get_by_role("heading", name="Orders admin")).to_have_count(0)


def test_an_editor_sees_the_studio_and_signs_out(signed_in_api: Api, issuer: Issuer, page: Page) -> None:
    issuer.user = {**issuer.user, "preferred_username": "eve", "groups": ["editors"]}
    sign_in(page, signed_in_api)
    expect(page.get_by_role("link", name="Studio")).to_be_visible(timeout=30_000)
    # The API's answer first (a loaded CI machine once left the page where it was for 30 s: this says which step hung).
    with page.expect_response(lambda response: response.url.endswith("/api/auth/logout"), timeout=60_000) as answer:
        page.get_by_role("button", name="Sign out").click()
    assert answer.value.status == 200, answer.value.text()
    page.wait_for_url(f"{issuer.url}/logout", timeout=60_000)  # the issuer's end-session endpoint, from that answer
    assert not [cookie for cookie in page.context.cookies() if cookie["name"] == "appyard_session"]
