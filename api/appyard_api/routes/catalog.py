"""GET /api/components: the component catalog."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter

from appyard.catalog import catalog_schema

from ..deps import CurrentUser
from ..errors import responses

router = APIRouter(prefix="/api", tags=["catalog"], responses=responses(401, 500))


@router.get("/components")
async def components(_: CurrentUser) -> dict[str, Any]:
    """JSON schemas of every component, block and column type, with property groups for property panels."""
    return _catalog()


@cache
def _catalog() -> dict[str, Any]:
    return catalog_schema()
