"""Errors of signing in (they map to HTTP through the API's one handler: see appyard_api.errors)."""

from __future__ import annotations

from ..errors import ApiError, Unauthenticated


class TokenInvalid(Unauthenticated):
    """A bearer token, session or API token that does not hold: forged, expired, revoked or for someone else."""


class SignInFailed(ApiError):
    """The browser sign-in could not finish (the issuer refused, the sign-in cookie expired, state mismatch)."""

    status = 400
    code = "sign_in_failed"
