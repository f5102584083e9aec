"""Finds out who sent a request or opened a websocket, in the configured mode.

In order: an ``Authorization: Bearer`` header (an API token ``ayt_…`` in every mode; an OIDC access token in
oidc mode), the session cookie (oidc mode; writes must echo its CSRF token), a trusted proxy's headers (proxy
mode), the developer at the keyboard (local mode). A credential that is present but wrong is refused (401)
rather than ignored, so a mistyped token never silently acts as someone else.
"""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from ..errors import Forbidden, Unauthenticated
from ..identity import Identity
from ..settings import ApiSettings
from .errors import TokenInvalid
from .oidc import OidcProvider
from .proxy import proxy_identity
from .sessions import CSRF_HEADER, SESSION_COOKIE, Cookies
from .tokens import TokenService, looks_like_token

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_PATH = "/api/auth/login"
LOGOUT_PATH = "/api/auth/logout"


def bearer(connection: HTTPConnection) -> str | None:
    """The bearer token of the Authorization header, if it has one."""
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class Authenticator:
    """One per process (``app.state.authenticator``)."""

    def __init__(self, settings: ApiSettings, tokens: TokenService) -> None:
        self.settings = settings
        self.tokens = tokens
        self.oidc = OidcProvider(settings) if settings.auth == "oidc" else None
        secret = settings.session_secret
        self.cookies = (
            Cookies(secret.get_secret_value().encode(), settings.session_max_age_seconds, settings.cookie_secure)
            if settings.auth == "oidc" and secret is not None
            else None
        )

    @property
    def login_url(self) -> str | None:
        """Where a browser signs in (oidc mode; the proxy handles it in proxy mode)."""
        return LOGIN_PATH if self.oidc is not None else None

    @property
    def logout_url(self) -> str | None:
        return LOGOUT_PATH if self.oidc is not None else None

    def _admin(self, groups: frozenset[str] | list[str]) -> bool:
        return bool(set(groups) & set(self.settings.admin_groups))

    async def identify(self, connection: HTTPConnection) -> Identity:
        """The caller, or Unauthenticated (401) with the sign-in URL in its details."""
        found = await self.find(connection)
        if found is None:
            raise Unauthenticated("sign in first, or send an API token", {"login_url": self.login_url})
        return found

    async def find(self, connection: HTTPConnection) -> Identity | None:
        """The caller, or None when the request carries no credential this mode accepts."""
        token = bearer(connection)
        if token is not None:
            return await self._bearer(token)
        if self.cookies is not None and (value := connection.cookies.get(SESSION_COOKIE)):
            session = self.cookies.session(value)
            if session is not None:
                # A browser sends cookies on cross-site requests too; only our own pages can read the CSRF cookie.
                if connection.scope["type"] == "http" and connection.scope["method"] in UNSAFE_METHODS:
                    echoed = connection.headers.get(CSRF_HEADER, "")
                    if not hmac.compare_digest(echoed.encode(), session.csrf.encode()):
                        raise Forbidden(f"a write from a browser session needs the {CSRF_HEADER} header")
                groups = frozenset(session.groups)
                return Identity(
                    name=session.name, email=session.email, groups=groups, admin=self._admin(groups), via="session"
                )
        if self.settings.auth == "proxy" and (identity := proxy_identity(connection, self.settings)) is not None:
            return identity.model_copy(update={"admin": self._admin(identity.groups)})
        if self.settings.auth == "local":
            return Identity(name=self.settings.developer, admin=True, via="local")
        return None

    async def _bearer(self, token: str) -> Identity:
        if looks_like_token(token):
            record = await self.tokens.check(token)
            return Identity(
                name=record.owner,
                email=record.owner_email,
                groups=frozenset(record.owner_groups),
                admin=self.settings.auth == "local" or self._admin(record.owner_groups),
                via="token",
                scope=record.scope,
                token_id=record.id,
            )
        if self.oidc is None:
            raise TokenInvalid("this API accepts only API tokens (ayt_…) as bearer tokens")
        assert self.settings.audience is not None
        identity = self.oidc.identity(await self.oidc.verify(token, self.settings.audience), "oidc")
        return identity.model_copy(update={"admin": self._admin(identity.groups)})
