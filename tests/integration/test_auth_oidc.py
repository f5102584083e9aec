"""OIDC mode against a real local issuer (tests/integration/oidc_issuer.py) with real RSA keys.

Bearer tokens that are expired, for another audience or issuer, badly signed, unsigned (``alg: none``),
HMAC-signed with the public key, or signed with an unknown key are refused; a key rotation is picked up
without a restart; the browser sign-in (authorization code + PKCE) gives a session whose writes need the
CSRF token.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from .auth_setup import grant
from .auth_setup import oidc_api as start_oidc_api
from .oidc_issuer import Issuer, new_key
from .servers import Api, NatsServer

pytestmark = pytest.mark.integration


@pytest.fixture
def oidc_api(lab: Path, nats: NatsServer, logs: Path, issuer: Issuer) -> Iterator[Api]:
    grant(lab, "lab", {"use": ["user:alice"], "edit": ["group:editors"]})
    # the rotation test signs with a new key at once
    server = start_oidc_api(lab, nats, logs, issuer, oidc_jwks_cooldown_seconds="0")
    yield server
    server.stop()


def me(api: Api, token: str) -> httpx.Response:
    return httpx.get(f"{api.url}/api/me", headers={"Authorization": f"Bearer {token}"})


def test_a_valid_token_signs_in_and_roles_come_from_access(oidc_api: Api, issuer: Issuer) -> None:
    response = me(oidc_api, issuer.token())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["email"], body["via"]) == ("alice", "alice@example.com", "oidc")
    assert body["apps"] == {"lab": ["use"]}
    assert body["admin"] is False


def bad_tokens(issuer: Issuer) -> dict[str, str]:
    now = int(time.time())
    public_pem = (
        issuer.keys[issuer.kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = issuer.claims()
    return {
        "expired": issuer.token(issuer.claims(exp=now - 3600, iat=now - 7200, nbf=now - 7200)),
        "not yet valid": issuer.token(issuer.claims(nbf=now + 3600)),
        "no expiry": issuer.token(drop=("exp",)),
        "wrong audience": issuer.token(issuer.claims(audience="someone-else")),
        "wrong issuer": issuer.token(issuer.claims(iss="http://127.0.0.1:1/other")),
        "bad signature": issuer.token(key=new_key()),
        "alg none": issuer.unsigned_token({"alg": "none", "typ": "JWT", "kid": issuer.kid}, claims, None),
        "HS256 with the public key": issuer.unsigned_token(
            {"alg": "HS256", "typ": "JWT", "kid": issuer.kid}, claims, public_pem
        ),
        "unknown kid": issuer.token(key=new_key(), kid="not-a-known-kid"),
        "not a JWT": "hello",
    }


CASES = [
    "expired",
    "not yet valid",
    "no expiry",
    "wrong audience",
    "wrong issuer",
    "bad signature",
    "alg none",
    "HS256 with the public key",
    "unknown kid",
    "not a JWT",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_tokens_are_refused(oidc_api: Api, issuer: Issuer, case: str) -> None:
    response = me(oidc_api, bad_tokens(issuer)[case])
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthenticated"


def test_anonymous_callers_are_told_where_to_sign_in(oidc_api: Api) -> None:
    response = httpx.get(f"{oidc_api.url}/api/apps")
    assert response.status_code == 401
    assert response.json()["details"] == {"login_url": "/api/auth/login"}


def test_a_key_rotation_is_picked_up_without_a_restart(oidc_api: Api, issuer: Issuer) -> None:
    assert me(oidc_api, issuer.token()).status_code == 200
    fetches = issuer.jwks_fetches
    issuer.rotate()
    response = me(oidc_api, issuer.token())
    assert response.status_code == 200, response.text
    assert issuer.jwks_fetches > fetches  # the unknown kid made the API fetch the keys again


def test_groups_make_editors_and_admins(oidc_api: Api, issuer: Issuer) -> None:
    editor = me(oidc_api, issuer.token(issuer.claims(preferred_username="ed", groups=["editors"]))).json()
    assert editor["apps"] == {"lab": ["use", "edit"]}
    admin = me(oidc_api, issuer.token(issuer.claims(preferred_username="root", groups=["admins"]))).json()
    assert admin["admin"] is True
    assert admin["apps"] == {"lab": ["use", "edit", "own"]}


def sign_in(api: Api, next_path: str = "/apps/lab") -> tuple[httpx.Client, httpx.Response]:
    """Follow the browser's sign-in with an HTTP client that keeps cookies: login → issuer → callback."""
    client = httpx.Client(base_url=api.url, timeout=30)
    login = client.get("/api/auth/login", params={"next": next_path})
    assert login.status_code == 302, login.text
    authorize = urlsplit(login.headers["location"])
    query = parse_qs(authorize.query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [f"{api.url}/api/auth/callback"]
    issued = client.get(login.headers["location"])
    assert issued.status_code == 302, issued.text
    callback = client.get(issued.headers["location"])
    return client, callback


def test_browser_sign_in_gives_a_session(oidc_api: Api) -> None:
    client, callback = sign_in(oidc_api)
    with contextlib.closing(client):
        assert callback.status_code == 302, callback.text
        assert callback.headers["location"] == "/apps/lab"
        cookies = callback.headers.get_list("set-cookie")
        session = next(cookie for cookie in cookies if cookie.startswith("appyard_session="))
        csrf = next(cookie for cookie in cookies if cookie.startswith("appyard_csrf="))
        assert "HttpOnly" in session
        assert "samesite=lax" in session.lower()
        assert "HttpOnly" not in csrf  # the web client reads it to echo it in X-CSRF-Token
        body = client.get("/api/me").json()
        assert (body["name"], body["via"], body["logout_url"]) == ("alice", "session", "/api/auth/logout")
        assert client.get("/api/apps/lab").status_code == 200


def test_a_session_write_needs_the_csrf_token(oidc_api: Api) -> None:
    client, _ = sign_in(oidc_api)
    token = {"apps": ["lab"], "role": "use", "expires_in_days": 1}
    with contextlib.closing(client):
        refused = client.post("/api/tokens", json=token)
        assert refused.status_code == 403, refused.text
        assert "X-CSRF-Token" in refused.json()["message"]
        forged = client.post("/api/tokens", json=token, headers={"X-CSRF-Token": "guess"})
        assert forged.status_code == 403
        csrf = client.cookies["appyard_csrf"]
        accepted = client.post("/api/tokens", json=token, headers={"X-CSRF-Token": csrf})
        assert accepted.status_code == 201, accepted.text
        cross_site = client.post(
            "/api/tokens", json=token, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
        )
        assert cross_site.status_code == 403


def test_logout_ends_the_session(oidc_api: Api) -> None:
    client, _ = sign_in(oidc_api)
    with contextlib.closing(client):
        assert client.get("/api/me").status_code == 200
        out = client.post("/api/auth/logout")
        assert out.status_code == 200
        assert out.json()["issuer_logout_url"].endswith("/logout")
        assert client.get("/api/me").status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_sign_in_returns_only_to_local_paths(oidc_api: Api, target: str) -> None:
    client, callback = sign_in(oidc_api, target)
    with contextlib.closing(client):
        assert callback.headers["location"] == "/"


def test_a_callback_without_the_sign_in_cookie_or_with_another_state_fails(oidc_api: Api, issuer: Issuer) -> None:
    client, _ = sign_in(oidc_api)
    with contextlib.closing(client):
        login = client.get("/api/auth/login")
        issued = client.get(login.headers["location"])
        code = parse_qs(urlsplit(issued.headers["location"]).query)["code"][0]
        wrong_state = client.get("/api/auth/callback", params={"code": code, "state": "forged"})
        assert wrong_state.status_code == 400
        assert wrong_state.json()["code"] == "sign_in_failed"
    stranger = httpx.get(f"{oidc_api.url}/api/auth/callback", params={"code": code, "state": "x"})
    assert stranger.status_code == 400


def test_the_issuer_refuses_a_code_without_the_pkce_verifier(issuer: Issuer) -> None:
    """The issuer of these tests checks PKCE for real (so the sign-in test proves the API sends it)."""
    query: dict[str, Any] = {
        "response_type": "code",
        "client_id": issuer.client_id,
        "redirect_uri": "http://127.0.0.1/cb",
        "state": "s",
        "nonce": "n",
        "code_challenge": "abc",
        "code_challenge_method": "S256",
    }
    issued = httpx.get(f"{issuer.url}/authorize", params=query)
    code = parse_qs(urlsplit(issued.headers["location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://127.0.0.1/cb",
        "client_id": issuer.client_id,
        "code_verifier": "wrong",
    }
    assert httpx.post(f"{issuer.url}/token", data=form).status_code == 400
