"""Browser sign-in (oidc mode): /api/auth/login → the issuer → /api/auth/callback → session cookie; logout.

The sign-in state (PKCE verifier, state, nonce, where to return) lives in a short-lived signed HttpOnly
cookie scoped to /api/auth, so the API keeps no per-browser state and any replica can finish a sign-in.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Cookie, Query
from fastapi.responses import JSONResponse, RedirectResponse, Response

from ..auth.errors import SignInFailed
from ..auth.sessions import CSRF_COOKIE, SESSION_COOKIE, SIGN_IN_COOKIE, Cookies, Session, SignIn, safe_next
from ..deps import AuthenticatorDep, SettingsDep
from ..errors import responses
from ..schemas import SignedOut
from ..settings import ApiSettings

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=responses(401, 403, 404, 422, 500, 503))

_CALLBACK = "/api/auth/callback"


def _redirect_uri(settings: ApiSettings) -> str:
    assert settings.public_url is not None  # required in oidc mode (settings check)
    return settings.public_url.rstrip("/") + _CALLBACK


def _set(response: Response, cookies: Cookies, name: str, value: str, max_age: int, path: str, js: bool) -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, secure=cookies.secure, httponly=not js, samesite="lax")


@router.get("/login", status_code=302, response_class=RedirectResponse)
async def login(
    authenticator: AuthenticatorDep,
    settings: SettingsDep,
    next: Annotated[str | None, Query(max_length=2000, description="Local path to return to.")] = None,
) -> Response:
    """Start a sign-in at the issuer (oidc mode); in other modes there is nothing to do: back to ``next``."""
    target = safe_next(next)
    if authenticator.oidc is None or authenticator.cookies is None:
        return RedirectResponse(target, status_code=302)
    sign_in = SignIn(next=target)
    url = await authenticator.oidc.authorization_url(
        _redirect_uri(settings), sign_in.state, sign_in.nonce, sign_in.challenge
    )
    response = RedirectResponse(url, status_code=302)
    cookies = authenticator.cookies
    _set(response, cookies, SIGN_IN_COOKIE, cookies.sign_in_value(sign_in), cookies.SIGN_IN_SECONDS, "/api/auth", False)
    return response


@router.get("/callback", status_code=302, response_class=RedirectResponse, responses=responses(400))
async def callback(
    authenticator: AuthenticatorDep,
    settings: SettingsDep,
    started: Annotated[str | None, Cookie(alias=SIGN_IN_COOKIE, include_in_schema=False)] = None,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """The issuer sends the browser back here with a code; the session starts and the browser returns."""
    if authenticator.oidc is None or authenticator.cookies is None:
        raise SignInFailed("this API does not sign in browsers (APPYARD_API_AUTH is not oidc)")
    cookies = authenticator.cookies
    sign_in = cookies.sign_in(started)
    if error is not None:
        raise SignInFailed(f"the issuer refused the sign-in: {error}")
    if sign_in is None:
        raise SignInFailed("the sign-in expired or was started in another browser; sign in again")
    if code is None or state is None or not hmac.compare_digest(state.encode(), sign_in.state.encode()):
        raise SignInFailed("the sign-in's state does not match; sign in again")
    claims = await authenticator.oidc.exchange(code, sign_in.verifier, _redirect_uri(settings), sign_in.nonce)
    identity = authenticator.oidc.identity(claims, "session")
    session = Session(name=identity.name, email=identity.email, groups=sorted(identity.groups))
    response = RedirectResponse(sign_in.next, status_code=302)
    _set(response, cookies, SESSION_COOKIE, cookies.session_value(session), cookies.max_age, "/", False)
    _set(response, cookies, CSRF_COOKIE, session.csrf, cookies.max_age, "/", True)
    response.delete_cookie(SIGN_IN_COOKIE, path="/api/auth")
    return response


@router.post("/logout", response_model=SignedOut)
async def logout(authenticator: AuthenticatorDep) -> JSONResponse:
    """Forget the browser's session (its cookies); the issuer's own session is the issuer's to end."""
    end = (await authenticator.oidc.metadata()).end_session_endpoint if authenticator.oidc is not None else None
    response = JSONResponse(SignedOut(issuer_logout_url=end).model_dump())
    secure = authenticator.cookies.secure if authenticator.cookies is not None else True
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, samesite="lax")
    return response
