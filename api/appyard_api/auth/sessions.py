"""Signed cookies: the browser session after sign-in, and the short-lived sign-in state (PKCE verifier, state,
nonce) between /api/auth/login and /api/auth/callback.

A cookie's value is ``<base64url JSON>.<base64url HMAC-SHA256>``; the MAC covers a purpose label too, so a
sign-in cookie can never be replayed as a session. The JSON carries its own expiry (``exp``), checked on every
read, so a copied cookie stops working when the session ends even if the browser kept it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from pydantic import BaseModel, Field, ValidationError

SESSION_COOKIE = "appyard_session"
CSRF_COOKIE = "appyard_csrf"
SIGN_IN_COOKIE = "appyard_sign_in"
CSRF_HEADER = "X-CSRF-Token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and checks values for one purpose with the session secret."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        self._key = hashlib.sha256(b"appyard-cookie:" + purpose.encode() + b":" + secret).digest()

    def _mac(self, data: str) -> str:
        return _b64(hmac.new(self._key, data.encode(), hashlib.sha256).digest())

    def sign(self, payload: dict[str, Any], max_age_seconds: int) -> str:
        data = _b64(json.dumps({"p": payload, "exp": int(time.time()) + max_age_seconds}).encode())
        return f"{data}.{self._mac(data)}"

    def unsign(self, value: str) -> dict[str, Any] | None:
        """The payload, or None when the value is forged, damaged or expired."""
        data, _, mac = value.partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac(data)):
            return None
        try:
            wrapped = json.loads(_unb64(data))
        except ValueError:
            return None
        if not isinstance(wrapped, dict) or not isinstance(wrapped.get("exp"), int) or wrapped["exp"] < time.time():
            return None
        payload = wrapped.get("p")
        return payload if isinstance(payload, dict) else None


class Session(BaseModel):
    """Who signed in with this browser, and the CSRF token their writes must echo."""

    name: str
    email: str | None = None
    groups: list[str] = Field(default_factory=list)
    csrf: str = Field(default_factory=lambda: secrets.token_urlsafe(32))


class SignIn(BaseModel):
    """What /api/auth/callback needs to finish a sign-in this browser started."""

    state: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    nonce: str = Field(default_factory=lambda: secrets.token_urlsafe(32))
    verifier: str = Field(default_factory=lambda: secrets.token_urlsafe(64))
    next: str = "/"

    @property
    def challenge(self) -> str:
        """The PKCE S256 code challenge of the verifier."""
        return _b64(hashlib.sha256(self.verifier.encode()).digest())


class Cookies:
    """Reads and writes the session and sign-in cookies."""

    SIGN_IN_SECONDS = 600

    def __init__(self, secret: bytes, max_age_seconds: int, secure: bool) -> None:
        self._session = Signer(secret, "session")
        self._sign_in = Signer(secret, "sign-in")
        self.max_age = max_age_seconds
        self.secure = secure

    def session(self, value: str | None) -> Session | None:
        payload = self._session.unsign(value) if value else None
        try:
            return Session.model_validate(payload) if payload is not None else None
        except ValidationError:
            return None

    def session_value(self, session: Session) -> str:
        return self._session.sign(session.model_dump(), self.max_age)

    def sign_in(self, value: str | None) -> SignIn | None:
        payload = self._sign_in.unsign(value) if value else None
        try:
            return SignIn.model_validate(payload) if payload is not None else None
        except ValidationError:
            return None

    def sign_in_value(self, sign_in: SignIn) -> str:
        return self._sign_in.sign(sign_in.model_dump(), self.SIGN_IN_SECONDS)


def safe_next(value: str | None) -> str:
    """A local path to return to after sign-in; anything else (another site, ``//host``, ``/\\host``) is ``/``."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n\\"):
        return "/"
    return value
