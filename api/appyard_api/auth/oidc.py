"""OpenID Connect: the issuer's metadata and keys, token validation, and the authorization-code exchange.

Keys come from the issuer's JWKS through PyJWT's ``PyJWKClient``, which caches them and fetches the set again
when a token names a key id it does not know (so a key rotation needs no restart). Its fetches block, so they
run in a thread, never on the event loop. A token is accepted only when its algorithm is on the allow-list
(asymmetric only), and ``iss``, ``aud``, ``exp`` (required) and ``nbf`` hold.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from pydantic import BaseModel

from ..errors import Unavailable
from ..identity import Identity, Via
from ..settings import ApiSettings
from .errors import SignInFailed, TokenInvalid

_LEEWAY_SECONDS = 30  # clock skew between the issuer and this pod
_METADATA_SECONDS = 3600


class IssuerMetadata(BaseModel):
    """The parts of /.well-known/openid-configuration the API uses."""

    issuer: str
    jwks_uri: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None = None


class OidcProvider:
    """One issuer, as configured in the settings."""

    def __init__(self, settings: ApiSettings) -> None:
        assert settings.oidc_issuer is not None
        assert settings.oidc_client_id is not None
        self.settings = settings
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self._metadata: IssuerMetadata | None = None
        self._fetched = 0.0
        self._keys: jwt.PyJWKClient | None = None
        self._lock = asyncio.Lock()

    async def metadata(self) -> IssuerMetadata:
        """The issuer's discovery document (cached for an hour)."""
        async with self._lock:
            if self._metadata is None or time.monotonic() - self._fetched > _METADATA_SECONDS:
                url = f"{self.issuer}/.well-known/openid-configuration"
                try:
                    async with httpx.AsyncClient(timeout=10) as client:
                        response = await client.get(url)
                        response.raise_for_status()
                    metadata = IssuerMetadata.model_validate(response.json())
                except (httpx.HTTPError, ValueError) as error:
                    raise Unavailable(f"cannot read the issuer's metadata at {url}: {error}") from None
                if metadata.issuer.rstrip("/") != self.issuer:
                    raise Unavailable(f"the issuer at {url} calls itself {metadata.issuer!r}")
                self._metadata, self._fetched = metadata, time.monotonic()
                self._keys = jwt.PyJWKClient(
                    metadata.jwks_uri,
                    lifespan=_METADATA_SECONDS,
                    cooldown_duration=self.settings.oidc_jwks_cooldown_seconds,
                )
            return self._metadata

    async def verify(self, token: str, audience: str, nonce: str | None = None) -> dict[str, Any]:
        """The token's claims when its signature and claims hold; else TokenInvalid."""
        await self.metadata()
        assert self._keys is not None
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in self.settings.oidc_algorithms:
                raise TokenInvalid(f"tokens signed with {header.get('alg')!r} are not accepted")
            key = await asyncio.to_thread(self._keys.get_signing_key_from_jwt, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=self.settings.oidc_algorithms,
                audience=audience,
                issuer=self.issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError) as error:
            raise TokenInvalid(f"the token is not valid: {error}") from None
        if nonce is not None and claims.get("nonce") != nonce:
            raise TokenInvalid("the ID token's nonce does not match this sign-in")
        return claims

    def identity(self, claims: dict[str, Any], via: Via) -> Identity:
        """The caller a token's claims describe (admin is decided by the authenticator)."""
        name = claims.get(self.settings.oidc_username_claim) or claims["sub"]
        groups = claims.get(self.settings.oidc_groups_claim) or []
        email = claims.get("email")
        return Identity(
            name=str(name),
            email=email if isinstance(email, str) else None,
            groups=frozenset(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else frozenset(),
            via=via,
        )

    async def authorization_url(self, redirect_uri: str, state: str, nonce: str, challenge: str) -> str:
        """Where to send the browser to sign in (authorization code flow with PKCE S256)."""
        metadata = await self.metadata()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self.settings.oidc_scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{metadata.authorization_endpoint}?{query}"

    async def exchange(self, code: str, verifier: str, redirect_uri: str, nonce: str) -> dict[str, Any]:
        """Trade an authorization code for tokens; the ID token's claims, validated (nonce included)."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": verifier,
        }
        secret = self.settings.oidc_client_secret
        auth = httpx.BasicAuth(self.client_id, secret.get_secret_value()) if secret is not None else None
        try:
            async with httpx.AsyncClient(timeout=10, auth=auth) as client:
                response = await client.post(metadata.token_endpoint, data=form)
        except httpx.HTTPError as error:
            raise SignInFailed(f"the issuer's token endpoint did not answer: {error}") from None
        if response.status_code != 200:
            raise SignInFailed(f"the issuer refused the sign-in ({response.status_code}): {response.text[:200]}")
        id_token = response.json().get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("the issuer's answer has no id_token")
        try:
            return await self.verify(id_token, self.client_id, nonce=nonce)
        except TokenInvalid as error:
            raise SignInFailed(f"the ID token is not valid: {error.message}") from None
