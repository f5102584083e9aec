"""WS /api/lsp/{app}/{page}: the Studio's script editor talks to python-lsp-server for that page."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from appyard.errors import NotFound, PropertiesInvalid

from ..adapters.lsp import LanguageServer
from ..deps import AuthenticatorDep, SettingsDep, StoreDep
from ..errors import ApiError, Forbidden, body
from ..identity import authorize

router = APIRouter()


@router.websocket("/api/lsp/{app}/{page}")
async def language_server(
    websocket: WebSocket,
    app: str,
    page: str,
    authenticator: AuthenticatorDep,
    store: StoreDep,
    settings: SettingsDep,
) -> None:
    """Relay JSON-RPC messages between the editor and a pylsp process rooted at the page folder (editors only)."""
    try:
        identity = await authenticator.identify(websocket)
        authorize(identity, "edit", app, store.app(app).properties)
        if store.read_only is not None:
            raise Forbidden(store.read_only)
        found = store.page(app, page)
    except (ApiError, NotFound, PropertiesInvalid) as error:
        await _refuse(websocket, error)
        return
    server = LanguageServer(found.dir, store.root, settings.cache_dir / "jedi")
    await websocket.accept()
    await server.start()

    async def to_server() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await server.send(await websocket.receive_text())

    async def to_editor() -> None:
        while (message := await server.receive()) is not None:
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
    """Answer the handshake with the error's status and body (401, 403, 404) instead of accepting."""
    if isinstance(error, ApiError):
        status, payload = error.status, body(error.code, error.message, error.details)
    else:
        status, payload = (
            (404, body("not_found", str(error)))
            if isinstance(error, NotFound)
            else (422, body("invalid_properties", str(error)))
        )
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(payload, status_code=status))
    else:
        await websocket.close(code=1008, reason=payload["message"][:120])
