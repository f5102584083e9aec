"""WS /api/lsp/{app}/{page}: the Studio's script editor talks to python-lsp-server for that page."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ..adapters.lsp import LanguageServer
from ..deps import CurrentUser, SettingsDep, StoreDep
from ..errors import Forbidden
from ..identity import authorize

router = APIRouter()


@router.websocket("/api/lsp/{app}/{page}")
async def language_server(
    websocket: WebSocket, app: str, page: str, identity: CurrentUser, store: StoreDep, settings: SettingsDep
) -> None:
    """Relay JSON-RPC messages between the editor and a pylsp process rooted at the page folder."""
    if store.read_only is not None:
        raise Forbidden(store.read_only)
    authorize(identity, "edit", app, store.app(app).properties)
    found = store.page(app, page)
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
