"""GET /api/health and GET /api/metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from appyard.errors import PropertiesInvalid

from .. import __version__
from ..deps import AuthenticatorDep, CurrentUser, DispatcherDep, StoreDep
from ..errors import ApiError, responses
from ..identity import require_admin
from ..schemas import HealthPublic

router = APIRouter(prefix="/api", tags=["health"], responses=responses(401, 500))


@router.get("/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def health(
    request: Request, store: StoreDep, dispatcher: DispatcherDep, authenticator: AuthenticatorDep
) -> JSONResponse:
    """Whether the API can serve runs: NATS connected. Public (for probes); details only for signed-in callers."""
    connected = dispatcher.connected
    body = HealthPublic(status="ok" if connected else "degraded", nats="connected" if connected else "disconnected")
    try:
        signed_in = await authenticator.find(request) is not None
    except ApiError:
        signed_in = False
    if signed_in:
        try:
            apps = len(store.workspace().apps)
        except PropertiesInvalid:  # the workspace's own properties.json is broken
            apps = 0
        body = body.model_copy(update={"apps": apps, "problems": len(store.issues()), "version": __version__})
    return JSONResponse(body.model_dump(), status_code=200 if connected else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(identity: CurrentUser) -> Response:
    """Prometheus metrics (workspace admins: they name every app)."""
    require_admin(identity, "read metrics")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
