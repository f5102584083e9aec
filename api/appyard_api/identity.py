"""Who is calling, and what they may do.

Every route depends on :func:`current_identity` and checks a permission, so real authentication (an OIDC
proxy header, a token) plugs in by replacing the :class:`IdentityProvider` on ``app.state`` — no route
changes. ``appyard dev`` uses :class:`LocalDeveloper`: the person at the keyboard may do everything.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel
from starlette.requests import HTTPConnection

from appyard.properties import AppProperties

from .errors import Forbidden

Permission = Literal["use", "edit", "own"]


class Identity(BaseModel):
    """A caller: a name, roles, and whether they are a developer (who may edit every app)."""

    name: str
    roles: frozenset[str] = frozenset()
    developer: bool = False


class IdentityProvider(Protocol):
    """Finds out who sent a request (or opened a websocket)."""

    async def identify(self, connection: HTTPConnection) -> Identity: ...


class LocalDeveloper:
    """Local mode: every request comes from the developer running `appyard dev`."""

    def __init__(self, name: str) -> None:
        self.identity = Identity(name=name, developer=True)

    async def identify(self, connection: HTTPConnection) -> Identity:  # noqa: ARG002 — always the developer
        return self.identity


def allowed(identity: Identity, permission: Permission, app: AppProperties) -> bool:
    """Developers may do everything; others need a principal the app grants the role to."""
    if identity.developer:
        return True
    return bool(identity.roles & set(app.access.granted(permission)))


def authorize(identity: Identity, permission: Permission, app_name: str, app: AppProperties) -> None:
    """Raise Forbidden unless ``identity`` has ``permission`` on the app."""
    if not allowed(identity, permission, app):
        raise Forbidden(f"{identity.name} may not {permission} app {app_name!r}")
