"""Shared setup of the sign-in tests: a workspace whose apps grant roles to named people, and APIs started
in oidc, proxy or local mode against a real nats-server."""

from __future__ import annotations

import json
from pathlib import Path

from .oidc_issuer import Issuer
from .servers import Api, NatsServer, api

LAB_ACCESS = {
    "use": ["user:alice", "user:bob", "group:staff"],
    "edit": ["user:eve@example.com"],
    "own": ["user:olga"],
}
ADMIN = {"X-Forwarded-User": "root", "X-Forwarded-Groups": "admins,ops"}


def person(name: str, groups: str = "", email: str = "") -> dict[str, str]:
    """Proxy headers naming a person (accepted only from a trusted proxy address)."""
    return {"X-Forwarded-User": name, "X-Forwarded-Groups": groups, "X-Forwarded-Email": email}


def grant(workspace: Path, app: str, access: dict[str, list[str]]) -> None:
    """Write ``access`` into the app's properties.json."""
    file = workspace / app / "properties.json"
    properties = json.loads(file.read_text())
    properties["access"] = access
    file.write_text(json.dumps(properties, indent=2) + "\n")


def start_api(workspace: Path, nats: NatsServer, logs: Path, **settings: str) -> Api:
    """An API whose public URL is its own loopback address; started and healthy."""
    server = api(workspace, nats, logs, **settings)
    server.env["APPYARD_API_PUBLIC_URL"] = server.url
    server.start()
    return server


def oidc_api(workspace: Path, nats: NatsServer, logs: Path, issuer: Issuer, **settings: str) -> Api:
    """An API in oidc mode trusting ``issuer`` (plain-HTTP cookies on loopback); group "admins" are workspace
    admins."""
    return start_api(
        workspace,
        nats,
        logs,
        auth="oidc",
        oidc_issuer=issuer.url,
        oidc_client_id=issuer.client_id,
        session_secret="test-secret-" + "x" * 32,
        cookie_secure="false",
        admin_groups=json.dumps(["admins"]),
        **settings,
    )


def proxy_api(workspace: Path, nats: NatsServer, logs: Path, trusted: str = "127.0.0.0/8", **settings: str) -> Api:
    """An API in proxy mode trusting ``trusted``; group "admins" are workspace admins."""
    return start_api(
        workspace,
        nats,
        logs,
        auth="proxy",
        trusted_proxies=json.dumps([trusted]),
        admin_groups=json.dumps(["admins"]),
        **settings,
    )
