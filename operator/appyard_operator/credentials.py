"""Each app's runner credentials: minted by the operator, kept in the app's Secret, re-minted before they expire.

Credentials are signed with the APPYARD account's seed (operator settings) and allow exactly
:func:`appyard.brokerauth.runner_permissions` of the App's namespace and app. They are kept as long as they are
good — signed by the current account, for this app, allowing exactly today's runner permissions, with more
than a third of their life left — so a reconcile (or an operator restart) leaves the Secret and the runner
Deployment alone; when they are re-minted, the Deployment's pod template annotation with their hash changes
and the runners roll onto them.
"""

from __future__ import annotations

import hashlib

from appyard.brokerauth import Credentials, KeyPair, Permissions, decode_claims, mint_user, runner_permissions

KEY = "nats-creds"  # the key of the app's Secret


def _good(
    existing: Credentials, account: KeyPair, name: str, permissions: Permissions, lifetime: float, now: float
) -> bool:
    try:
        claims = decode_claims(existing.jwt)
    except ValueError:
        return False
    expires = claims.get("exp")
    allowed = claims.get("nats")
    return (
        claims.get("iss") == account.public_key
        and claims.get("name") == name
        and isinstance(expires, int)
        and expires - now > lifetime / 3
        # Permissions that changed (an upgrade took some away) must not stay usable until the credentials expire.
        and isinstance(allowed, dict)
        and allowed.get("pub") == {"allow": list(permissions.publish)}
        and allowed.get("sub") == {"allow": list(permissions.subscribe)}
    )


def due(existing: str | None, account_seed: str, namespace: str, app: str, lifetime: float, now: float) -> bool:
    """Whether the app's credentials must be (re-)minted."""
    if not existing:
        return True
    try:
        current = Credentials.parse(existing)
    except ValueError:
        return True
    permissions = runner_permissions(namespace, app)
    return not _good(current, KeyPair(account_seed), _name(namespace, app), permissions, lifetime, now)


def runner_credentials(
    existing: str | None, account_seed: str, namespace: str, app: str, lifetime: float, now: float
) -> str:
    """The ``.creds`` text the app's runners should use: ``existing`` while it is good, else new ones."""
    if existing and not due(existing, account_seed, namespace, app, lifetime, now):
        return existing
    return mint_user(account_seed, _name(namespace, app), runner_permissions(namespace, app), int(now + lifetime)).text


def _name(namespace: str, app: str) -> str:
    return f"runner-{namespace}-{app}"


def fingerprint(creds: str) -> str:
    """A short hash of the credentials for the pod template: new credentials roll the runners."""
    return hashlib.sha256(creds.encode()).hexdigest()[:16]
