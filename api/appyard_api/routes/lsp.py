"""WS /api/lsp/{app}/{page}: the Studio's script editor talks to python-lsp-server for that page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from appyard.errors import NotFound, PropertiesInvalid

from ..adapters.lsp import LanguageServer
from ..deps import AuthenticatorDep, LanguageServersDep, SettingsDep, StoreDep
from ..errors import ApiError, Forbidden, LanguageServersBusy, ReadOnly, response
from ..identity import authorize
from ..params import AppName, PageName
from ..settings import ApiSettings

TRY_AGAIN_LATER = 1013  # the WebSocket close code for a temporary refusal

router = APIRouter()


@router.websocket("/api/lsp/{app}/{page}")
async def language_server(
    websocket: WebSocket,
    app: AppName,
    page: PageName,
    authenticator: AuthenticatorDep,
    store: StoreDep,
    settings: SettingsDep,
    pool: LanguageServersDep,
) -> None:
    """Relay JSON-RPC messages between the editor and a pylsp process rooted at the page folder (editors only)."""
    try:
        identity = await authenticator.identify(websocket)
        authorize(identity, "edit", app, store.app(app).properties)
        if store.read_only is not None:
            raise Forbidden(store.read_only)
        found = store.page(app, page)
    except (ApiError, ReadOnly, NotFound, PropertiesInvalid) as error:
        await _refuse(websocket, error)
        return
    await websocket.accept()
    try:
        with pool.lease(identity.name):
            await _relay(websocket, LanguageServer(found.dir, store.root, settings.cache_dir / "jedi"), settings)
    except LanguageServersBusy as busy:
        await websocket.close(code=TRY_AGAIN_LATER, reason=str(busy)[:120])


async def _relay(websocket: WebSocket, server: LanguageServer, settings: ApiSettings) -> None:
    await server.start()
    idle = settings.lsp_idle_seconds
    last = time.monotonic()  # the last message either way

    async def to_server() -> None:
        nonlocal last
        with contextlib.suppress(WebSocketDisconnect):
            while (remaining := last + idle - time.monotonic()) > 0:
                try:
                    message = await asyncio.wait_for(websocket.receive_text(), remaining)
                except TimeoutError:
                    continue  # the server may have spoken meanwhile
                last = time.monotonic()
                await server.send(message)
            # An editor left open in a forgotten tab: free its process.
            await websocket.close(code=1000, reason=f"closed after {idle:.0f} s without activity; reopen to continue")

    async def to_editor() -> None:
        nonlocal last
        while (message := await server.receive()) is not None:
            last = time.monotonic()
            await websocket.send_text(message)

    tasks = [asyncio.create_task(to_server()), asyncio.create_task(to_editor())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await server.close()
        with contextlib.suppress(RuntimeError):
            await websocket.close()


async def _refuse(websocket: WebSocket, error: Exception) -> None:
    """Answer the handshake with the error's status and body (401, 403, 404, 422) instead of accepting."""
    answer = response(error)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(answer)
    else:
        message = json.loads(bytes(answer.body)).get("message", "refused")
        await websocket.close(code=1008, reason=str(message)[:120])
