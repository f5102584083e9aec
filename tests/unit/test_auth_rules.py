"""Sign-in rules without I/O: settings that must refuse to start, roles from access, signed cookies, redirects."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.datastructures import Headers

from appyard.properties import Access
from appyard_api.auth.origin import CrossSiteGuard, host_name, origin_of
from appyard_api.auth.sessions import Signer, safe_next
from appyard_api.identity import Identity, TokenScope, roles_on
from appyard_api.settings import ApiSettings


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mode": "cluster"}, "APPYARD_API_AUTH=local treats every caller as an admin"),
        ({"auth": "oidc"}, "APPYARD_API_AUTH=oidc needs APPYARD_API_OIDC_ISSUER"),
        ({"auth": "proxy"}, "needs APPYARD_API_TRUSTED_PROXIES"),
        ({"oidc_algorithms": ["HS256"]}, "refused: ['HS256']"),
        ({"oidc_algorithms": ["none"]}, "refused: ['none']"),
    ],
)
def test_settings_that_refuse_to_start(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ApiSettings.model_validate(settings)


def test_local_mode_needs_no_setup() -> None:
    assert ApiSettings().auth == "local"


ACCESS = Access.model_validate({"use": ["*"], "edit": ["group:ops", "user:eve@example.com"], "own": ["user:olga"]})


@pytest.mark.parametrize(
    ("identity", "roles"),
    [
        (Identity(name="anyone", via="proxy"), ["use"]),
        (Identity(name="sam", groups=frozenset({"ops"}), via="proxy"), ["use", "edit"]),
        (Identity(name="eve", email="eve@example.com", via="oidc"), ["use", "edit"]),
        (Identity(name="olga", via="session"), ["use", "edit", "own"]),
        (Identity(name="root", admin=True, via="proxy"), ["use", "edit", "own"]),
        (Identity(name="olga", via="token", scope=TokenScope(apps=["lab"], role="use")), ["use"]),
        (Identity(name="olga", via="token", scope=TokenScope(apps=["other"], role="own")), []),
        (Identity(name="root", admin=True, via="token", scope=TokenScope(apps=["*"], role="edit")), ["use", "edit"]),
    ],
)
def test_roles_from_access(identity: Identity, roles: list[str]) -> None:
    assert roles_on(identity, "lab", ACCESS) == roles


def test_nothing_is_open_by_default() -> None:
    assert roles_on(Identity(name="anyone", via="proxy"), "lab", Access()) == []


def test_signed_values_cannot_be_altered_or_reused_for_another_purpose() -> None:
    session = Signer(b"secret", "session")
    value = session.sign({"name": "alice"}, 60)
    assert session.unsign(value) == {"name": "alice"}
    data, _, mac = value.partition(".")
    assert session.unsign(f"{data}x.{mac}") is None
    assert session.unsign(value + "x") is None
    assert Signer(b"secret", "sign-in").unsign(value) is None
    assert Signer(b"other", "session").unsign(value) is None
    assert session.unsign(session.sign({"name": "alice"}, -1)) is None  # already expired


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/apps/lab?x=1", "/apps/lab?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
        (None, "/"),
    ],
)
def test_only_local_paths_are_returned_to(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe


def test_origins_and_hosts_are_compared_normalised() -> None:
    assert origin_of("HTTPS://Example.com:443/path") == "https://example.com"
    assert origin_of("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert host_name("[::1]:8000") == "::1"
    assert host_name("LocalHost:80") == "localhost"


def _refusal(settings: dict[str, object], method: str, headers: dict[str, str]) -> int | None:
    async def app(*_: object) -> None:  # pragma: no cover — never reached by refusal()
        return None

    guard = CrossSiteGuard(app, ApiSettings.model_validate(settings))
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    scope = {"type": "http", "method": method, "headers": raw, "scheme": "http"}
    refused = guard.refusal(scope, Headers(scope=scope))
    return refused[0] if refused else None


PROXY = {"auth": "proxy", "trusted_proxies": ["10.0.0.0/8"]}


@pytest.mark.parametrize(
    ("settings", "method", "headers", "status"),
    [
        ({}, "GET", {"host": "127.0.0.1:8000"}, None),
        ({}, "GET", {"host": "localhost"}, None),
        ({}, "GET", {"host": "[::1]:8000"}, None),
        ({}, "GET", {"host": "rebind.attacker.example:8000"}, 403),
        ({}, "POST", {"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:8000"}, None),
        ({}, "POST", {"host": "127.0.0.1:8000", "origin": "http://evil.example"}, 403),
        ({}, "DELETE", {"host": "127.0.0.1:8000", "origin": "null"}, 403),
        ({}, "GET", {"host": "127.0.0.1:8000", "origin": "http://evil.example"}, None),  # reads: roles decide
        ({}, "POST", {"host": "localhost", "content-type": "text/plain", "content-length": "2"}, 415),
        (
            {},
            "POST",
            {"host": "localhost", "content-type": "application/json; charset=utf-8", "content-length": "2"},
            None,
        ),
        ({}, "POST", {"host": "localhost", "content-length": "0"}, None),
        (PROXY, "GET", {"host": "appyard.example.com"}, None),  # no Host rule outside local mode
        (PROXY, "PUT", {"host": "appyard.example.com", "origin": "https://appyard.example.com"}, None),
        (PROXY, "PUT", {"host": "appyard.example.com", "origin": "https://appyard.example.com.evil.example"}, 403),
        (
            {**PROXY, "allowed_origins": ["https://portal.example.com"]},
            "PUT",
            {"host": "a", "origin": "https://portal.example.com"},
            None,
        ),
        (
            {**PROXY, "public_url": "https://appyard.example.com"},
            "POST",
            {"host": "10.1.2.3:8000", "origin": "https://appyard.example.com"},
            None,
        ),
    ],
)
def test_cross_site_rules(
    settings: dict[str, object], method: str, headers: dict[str, str], status: int | None
) -> None:
    assert _refusal(settings, method, headers) == status
