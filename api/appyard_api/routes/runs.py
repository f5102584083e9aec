"""Runs: start one, read its status, stream its events, cancel it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from ..deps import CurrentUser, RunServiceDep
from ..errors import responses
from ..params import AppName, PageName, RunId
from ..schemas import RunAccepted, RunCreate, RunPublic, inline_schema

router = APIRouter(prefix="/api", tags=["runs"], responses=responses(401, 403, 404, 422, 500, 503))


@router.post(
    "/apps/{app}/pages/{page}/runs",
    response_model=RunPublic,
    responses={202: {"model": RunAccepted}, **responses(413, 415)},
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": inline_schema(RunCreate)}}}},
)
async def start_run(
    app: AppName,
    page: PageName,
    request: Request,
    identity: CurrentUser,
    service: RunServiceDep,
    wait: Annotated[bool, Query(description="Wait (bounded) for the result; false answers 202 at once.")] = True,
) -> Response:
    """Run a function of the page with the given state; the response carries only what the function changed."""
    run = service.prepare(identity, app, page, await request.body())
    result = await service.start(run, wait)
    # Serialized once, by pydantic, straight to bytes (no dict in between).
    status = 200 if result.status.final else 202
    return Response(result.model_dump_json(), status_code=status, media_type="application/json")


@router.get("/runs/{run_id}", response_model=RunPublic)
async def get_run(run_id: RunId, identity: CurrentUser, service: RunServiceDep) -> RunPublic:
    """The run's result when it has finished, else its status."""
    return await service.status(identity, run_id)


@router.delete("/runs/{run_id}", response_model=RunPublic, responses=responses(409))
async def cancel_run(run_id: RunId, identity: CurrentUser, service: RunServiceDep) -> RunPublic:
    """Cancel a queued or running run (a finished run keeps its result)."""
    return await service.cancel(identity, run_id)


@router.get(
    "/runs/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The run's events."}},
)
async def run_events(
    run_id: RunId, request: Request, identity: CurrentUser, service: RunServiceDep
) -> StreamingResponse:
    """Server-sent events: status changes, output and progress, from the start of the run to its end."""
    run = await service.readable(identity, run_id)

    async def stream() -> AsyncIterator[bytes]:
        async for event in service.dispatcher.events(run.app, run_id):
            if await request.is_disconnected():
                return
            yield f"event: {event.type}\ndata: {event.model_dump_json()}\n\n".encode()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
