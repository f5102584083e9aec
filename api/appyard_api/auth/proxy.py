"""Proxy mode: an authenticating proxy (oauth2-proxy) in front of the API says who the caller is.

Its ``X-Forwarded-User``, ``-Email`` and ``-Groups`` headers are believed only when the TCP peer is one of
``trusted_proxies``; from anyone else they are ignored, so a caller who reaches the API directly cannot name
themselves. (uvicorn runs without proxy-header rewriting, so the peer is the real socket address.)
"""

from __future__ import annotations

from ipaddress import ip_address

from starlette.requests import HTTPConnection

from ..identity import Identity
from ..settings import ApiSettings


def trusted_peer(connection: HTTPConnection, settings: ApiSettings) -> bool:
    """Whether the request came straight from a configured proxy address."""
    if connection.client is None:
        return False
    try:
        peer = ip_address(connection.client.host)
    except ValueError:
        return False
    return any(peer in network for network in settings.trusted_proxies)


def proxy_identity(connection: HTTPConnection, settings: ApiSettings) -> Identity | None:
    """The caller named by a trusted proxy's headers, or None (no headers, or not from a trusted proxy)."""
    if not trusted_peer(connection, settings):
        return None
    headers = connection.headers
    user = headers.get("x-forwarded-user")
    if not user:
        return None
    groups = frozenset(part.strip() for part in headers.get("x-forwarded-groups", "").split(",") if part.strip())
    return Identity(name=user, email=headers.get("x-forwarded-email") or None, groups=groups, via="proxy")
