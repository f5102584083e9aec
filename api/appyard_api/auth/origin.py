"""Cross-site protection for every mode, local included (a web page open in the developer's browser must not
drive `appyard dev`):

- a write (POST/PUT/PATCH/DELETE) or websocket whose ``Origin`` is not the API's own origin (``public_url``,
  or the request's scheme and Host) nor in ``allowed_origins`` is refused (403; websocket: before accepting);
- a write with a body must say ``Content-Type: application/json`` (415): the content types a cross-site page
  may send without a preflight (text/plain, forms) never reach a route;
- in local mode, the Host header must be a loopback name or address or the configured host, so a DNS
  rebinding page (its own name resolving to 127.0.0.1) is refused (403).

The CSRF token that cookie-authenticated writes echo is checked by the authenticator.
"""

from __future__ import annotations

import json
from ipaddress import ip_address
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import body
from ..settings import ApiSettings
from .authenticator import UNSAFE_METHODS

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lowercased, without a default port."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    try:
        port = parts.port
    except ValueError:
        return ""
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def host_name(host_header: str) -> str:
    """The name or address part of a Host header (without port and brackets), lowercased."""
    return (urlsplit(f"//{host_header}").hostname or "").lower()


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class CrossSiteGuard:
    """ASGI middleware applying the rules above before any route runs."""

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings
        self.origins = {origin_of(url) for url in settings.allowed_origins}
        if settings.public_url:
            self.origins.add(origin_of(settings.public_url))
        self.hosts = set(_LOOPBACK_NAMES)
        if settings.host not in _ANY_ADDRESS:
            self.hosts.add(host_name(settings.host) or settings.host.lower())
        if settings.public_url:
            self.hosts.add((urlsplit(settings.public_url).hostname or "").lower())

    def _local_host(self, host: str) -> bool:
        name = host_name(host)
        if name in self.hosts or name.endswith(".localhost"):
            return True
        try:
            return ip_address(name).is_loopback
        except ValueError:
            return False

    def _own_origin(self, origin: str, headers: Headers) -> bool:
        origin = origin_of(origin) if origin != "null" else "null"
        if origin in self.origins:
            return True
        # The page's own Host, over either scheme: behind a TLS-terminating ingress the API sees http while the
        # browser says https. Only a page served from this very host name can send that Origin.
        host = headers.get("host", "")
        return origin in (origin_of(f"http://{host}"), origin_of(f"https://{host}"))

    def refusal(self, scope: Scope, headers: Headers) -> tuple[int, str, str] | None:
        """(status, code, message) when the request must be refused, else None."""
        if self.settings.auth == "local" and not self._local_host(headers.get("host", "")):
            return (
                403,
                "forbidden",
                (
                    f"Host {headers.get('host', '')!r} is not this machine: `appyard dev` answers only to "
                    "loopback names (set APPYARD_API_HOST or APPYARD_API_PUBLIC_URL to serve another name)"
                ),
            )
        websocket = scope["type"] == "websocket"
        unsafe = websocket or scope["method"] in UNSAFE_METHODS
        origin = headers.get("origin")
        if unsafe and origin is not None and not self._own_origin(origin, headers):
            return 403, "forbidden", f"requests from {origin} are not accepted (cross-site)"
        has_body = int(headers.get("content-length") or 0) > 0 or "transfer-encoding" in headers
        if not websocket and unsafe and has_body and not _is_json(headers.get("content-type", "")):
            return 415, "unsupported_media_type", "send the body as Content-Type: application/json"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refused = self.refusal(scope, headers)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, code, message = refused
        payload = json.dumps(body(code, message)).encode()
        if scope["type"] == "websocket":
            if "websocket.http.response" not in scope.get("extensions", {}):
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
                return
            prefix = "websocket."
        else:
            prefix = ""
        raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": f"{prefix}http.response.start", "status": status, "headers": raw_headers})
        await send({"type": f"{prefix}http.response.body", "body": payload})
