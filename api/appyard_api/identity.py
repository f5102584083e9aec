"""Who is calling, and which roles they hold on an app.

An :class:`Identity` comes from one of the providers in :mod:`appyard_api.auth` (local, OIDC bearer token,
browser session, trusted proxy, API token). Roles come from the app's ``access`` (``appyard.properties.Access``):
principals ``user:<name or email>``, ``group:<group>`` and ``*`` (every signed-in person); roles are cumulative
(own ⊇ edit ⊇ use). Workspace admins hold every role on every app; an API token's scope caps what its owner's
roles allow through it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from appyard.properties import ROLES, Access, AppProperties, Role

from .errors import Forbidden

Permission = Role
"""What a route needs on an app: ``use``, ``edit`` or ``own``."""

Via = Literal["local", "oidc", "session", "proxy", "token"]


class TokenScope(BaseModel):
    """What an API token may do: a role on some apps (``["*"]`` = every app), never more than its owner."""

    apps: list[str] = Field(description='App names, or ["*"] for every app the owner can reach.')
    role: Role = Field(description="The highest role the token carries on those apps.")

    def cap(self, app_name: str) -> Role | None:
        """The highest role the token allows on ``app_name`` (None: the app is outside the scope)."""
        return self.role if "*" in self.apps or app_name in self.apps else None


class Identity(BaseModel):
    """A signed-in caller."""

    name: str = Field(description="User name (the username claim, proxy user, or the local developer).")
    email: str | None = Field(None, description="Email address, when the identity provider gives one.")
    groups: frozenset[str] = Field(frozenset(), description="Groups, from the groups claim or proxy header.")
    admin: bool = Field(False, description="Workspace admin: owns every app and may create apps.")
    via: Via = Field(description="How the caller was identified.")
    scope: TokenScope | None = Field(None, description="An API token's scope, which caps the owner's roles.")
    token_id: str | None = Field(None, description="The API token used, if any.")

    def principals(self) -> set[str]:
        """The principals of ``access`` lists that name this caller."""
        found = {"*", f"user:{self.name}", *(f"group:{group}" for group in self.groups)}
        if self.email:
            found.add(f"user:{self.email}")
        return found


def roles_on(identity: Identity, app_name: str, access: Access) -> list[Role]:
    """The caller's roles on an app, lowest first (e.g. ``["use", "edit"]``)."""
    if identity.admin:
        held = list(ROLES)
    else:
        mine = identity.principals()
        held = [role for role in ROLES if mine & set(access.granted(role))]
    if identity.scope is not None:
        cap = identity.scope.cap(app_name)
        held = [] if cap is None else [role for role in held if ROLES.index(role) <= ROLES.index(cap)]
    return held


def allowed(identity: Identity, permission: Permission, app_name: str, app: AppProperties) -> bool:
    """Whether ``identity`` holds ``permission`` on the app."""
    return permission in roles_on(identity, app_name, app.access)


def authorize(identity: Identity, permission: Permission, app_name: str, app_properties: AppProperties) -> None:
    """Raise Forbidden unless ``identity`` holds ``permission`` on the app."""
    if not allowed(identity, permission, app_name, app_properties):
        raise Forbidden(
            f"{identity.name} may not {permission} app {app_name!r}",
            {"app": app_name, "needs": permission, "has": roles_on(identity, app_name, app_properties.access)},
        )


def require_admin(identity: Identity, what: str) -> None:
    """Raise Forbidden unless the caller is a workspace admin (and not through a token scoped below own)."""
    if not identity.admin or (
        identity.scope is not None and (identity.scope.role != "own" or "*" not in identity.scope.apps)
    ):
        raise Forbidden(f"{identity.name} may not {what}: only workspace admins may")
