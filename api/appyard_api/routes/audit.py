"""The audit log: who ran what and who changed what, for an app's owners and workspace admins."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from ..deps import AuditDep, CurrentUser, StoreDep
from ..errors import Forbidden, responses
from ..identity import Identity, allowed, authorize, require_admin
from ..services.audit import AuditSlice, utc

router = APIRouter(prefix="/api", tags=["audit"], responses=responses(401, 403, 404, 422, 500, 503))

_DAY = 86400.0


def _admin(identity: Identity) -> bool:
    """Workspace admins read the whole log (a token must carry the admin's full scope to do so)."""
    try:
        require_admin(identity, "read the whole audit log")
    except Forbidden:
        return False
    return True


@router.get("/audit", response_model=AuditSlice)
async def read_audit(
    identity: CurrentUser,
    store: StoreDep,
    audit: AuditDep,
    app: Annotated[
        str | None,
        Query(max_length=40, pattern=r"^[a-z][a-z0-9_]*$", description="Only this app's entries (you must own it)."),
    ] = None,
    user: Annotated[
        str | None, Query(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$", description="Only this actor.")
    ] = None,
    since: Annotated[datetime | None, Query(description="From this time (ISO 8601; default: a day ago).")] = None,
    until: Annotated[datetime | None, Query(description="Up to this time (ISO 8601; default: now).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many entries: the latest ones.")] = 100,
) -> AuditSlice:
    """Audit entries in time order. Owners of an app read its entries; admins read every entry."""
    owned: frozenset[str] | None = None
    if app is not None:
        if not _admin(identity):
            authorize(identity, "own", app, store.app(app).properties)
    elif not _admin(identity):
        # Without ?app=, a non-admin reads the entries of the apps they own (never workspace-wide ones).
        owned = frozenset(
            found.name
            for found in store.workspace().apps.values()
            if allowed(identity, "own", found.name, found.properties)
        )
        if not owned:
            raise Forbidden(f"{identity.name} owns no app; only owners and workspace admins read the audit log")
    start = utc(since) if since is not None else datetime.fromtimestamp(time.time() - _DAY, UTC)
    return await audit.query(
        app=app, user=user, since=start, until=utc(until) if until else None, limit=limit, apps=owned
    )
