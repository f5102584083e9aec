"""A small, real OpenID Connect issuer for tests: an HTTP server on loopback with real RSA keys.

It serves discovery, a JWKS, an authorization endpoint that signs in the configured test user at once and
redirects back with a code, and a token endpoint that checks the code, the redirect URI and the PKCE (S256)
verifier before issuing an ID token. :meth:`Issuer.token` mints access tokens with any claims or header for
the negative tests, and :meth:`Issuer.rotate` switches to a new signing key (and key id).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Grant:
    """An authorization code waiting to be exchanged."""

    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str


@dataclass
class Issuer:
    """The issuer's state; :meth:`start` serves it on a free loopback port."""

    client_id: str = "appyard"
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "u-alice",
            "preferred_username": "alice",
            "email": "alice@example.com",
            "groups": ["staff"],
        }
    )
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    kid: str = ""
    grants: dict[str, Grant] = field(default_factory=dict)
    jwks_fetches: int = 0
    server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.rotate()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def rotate(self) -> str:
        """Sign with a new key from now on; the JWKS publishes only the new one."""
        self.kid = secrets.token_hex(4)
        self.keys = {self.kid: new_key()}
        return self.kid

    def claims(self, audience: str | None = None, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.url,
            "aud": audience or self.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            **self.user,
            **extra,
        }

    def token(
        self,
        claims: dict[str, Any] | None = None,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        drop: tuple[str, ...] = (),
    ) -> str:
        """An RS256 token signed with the current key (or ``key``), naming ``kid`` (default: the current one)."""
        body = {name: value for name, value in (claims or self.claims()).items() if name not in drop}
        return jwt.encode(body, key or self.keys[self.kid], algorithm="RS256", headers={"kid": kid or self.kid})

    def unsigned_token(self, header: dict[str, Any], claims: dict[str, Any], sign: bytes | None) -> str:
        """A token assembled by hand (``alg: none``, or HS256 signed with ``sign`` as the HMAC secret)."""
        head = b64url(json.dumps(header).encode())
        payload = b64url(json.dumps(claims).encode())
        signing_input = f"{head}.{payload}".encode()
        if sign is None:
            return f"{head}.{payload}."
        return f"{head}.{payload}.{b64url(hmac.new(sign, signing_input, hashlib.sha256).digest())}"

    def jwks(self) -> dict[str, Any]:
        self.jwks_fetches += 1
        keys = []
        for kid, key in self.keys.items():
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "end_session_endpoint": f"{self.url}/logout",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        required = ("response_type", "client_id", "redirect_uri", "state", "nonce", "code_challenge")
        if any(name not in query for name in required) or query.get("code_challenge_method") != "S256":
            return 400, {}, b"missing parameters or not PKCE S256"
        if query["client_id"] != self.client_id or query["response_type"] != "code":
            return 400, {}, b"unknown client"
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(query["client_id"], query["redirect_uri"], query["code_challenge"], query["nonce"])
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return 302, {"Location": target}, b""

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant.redirect_uri or form.get("client_id") != grant.client_id:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri or client_id differs"}
        verifier = form.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        id_token = self.token(self.claims(nonce=grant.nonce))
        return 200, {"access_token": self.token(), "id_token": id_token, "token_type": "Bearer", "expires_in": 600}

    def start(self) -> None:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: bytes, headers: dict[str, str], kind: str) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _json(self, status: int, body: dict[str, Any]) -> None:
                self._send(status, json.dumps(body).encode(), {}, "application/json")

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {name: values[0] for name, values in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    self._json(200, issuer.metadata())
                elif parts.path == "/jwks":
                    self._json(200, issuer.jwks())
                elif parts.path == "/logout":
                    self._send(200, b"signed out", {}, "text/plain")
                elif parts.path == "/authorize":
                    status, headers, payload = issuer.authorize(query)
                    self._send(status, payload, headers, "text/plain")
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path == "/token":
                    self._json(*issuer.exchange(form))
                else:
                    self._json(404, {"error": "not_found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
