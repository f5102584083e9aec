"""The built web client: static files, and index.html for every client-side route (/apps/…, /studio/…)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from ..errors import body

# Where the API's wheel carries the built web client (api/setup.py copies web/dist there; never committed).
PACKAGED = Path(__file__).resolve().parent.parent / "web"


def packaged() -> Path | None:
    """The web client built into this install of the API (appyard_api/web), if it has one."""
    return PACKAGED if (PACKAGED / "index.html").is_file() else None


def mount(app: FastAPI, web_dir: Path) -> None:
    """Serve ``web_dir`` (a Vite build) at /, falling back to index.html for the client's own routes."""
    root = web_dir.resolve()
    index = root / "index.html"
    app.mount("/assets", StaticFiles(directory=root / "assets"), name="assets")
    router = APIRouter(include_in_schema=False)

    @router.get("/{path:path}")
    async def client(path: str) -> Response:
        if path.startswith("api/"):
            return JSONResponse(body("not_found", f"no API route /{path}"), status_code=404)
        file = (root / path).resolve()
        if path and file.is_file() and file.is_relative_to(root):
            return FileResponse(file)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.include_router(router)
