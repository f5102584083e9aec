"""GET /api/health and GET /api/metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from appyard.errors import PropertiesInvalid

from .. import __version__
from ..deps import CurrentUser, DispatcherDep, StoreDep
from ..errors import responses
from ..schemas import HealthPublic

router = APIRouter(prefix="/api", tags=["health"], responses=responses(401, 500))


@router.get("/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def health(_: CurrentUser, store: StoreDep, dispatcher: DispatcherDep) -> JSONResponse:
    """Whether the API can serve runs: NATS connected and the workspace readable."""
    connected = dispatcher.connected
    try:
        apps = len(store.workspace().apps)
    except PropertiesInvalid:  # the workspace's own properties.json is broken
        apps = 0
    body = HealthPublic(
        status="ok" if connected else "degraded",
        nats="connected" if connected else "disconnected",
        apps=apps,
        problems=len(store.issues()),
        version=__version__,
    )
    return JSONResponse(body.model_dump(), status_code=200 if connected else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(_: CurrentUser) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
