"""Signing in: who a caller is (local, OIDC, browser session, trusted proxy, API token) and cross-site checks.

Modules, one concern each: :mod:`.authenticator` (the order credentials are tried in), :mod:`.oidc` (issuer
metadata, JWKS, token validation, code exchange), :mod:`.sessions` (signed cookies, PKCE, CSRF token),
:mod:`.proxy` (trusted proxy headers), :mod:`.tokens` (API tokens), :mod:`.origin` (Origin, Host and
content-type rules). Roles on apps are in :mod:`appyard_api.identity`.
"""
