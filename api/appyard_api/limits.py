"""Request body limits: a body over its route's limit is refused with 413 before it is read whole.

A declared ``Content-Length`` over the limit is answered at once, without reading anything. A body without one
(``Transfer-Encoding: chunked``) is counted as it arrives and refused as soon as it passes the limit, so no
route ever holds more than its limit in memory. Each route's limit is a setting (see :class:`.ApiSettings`);
every other route gets ``max_body_bytes``.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import TooLarge, response
from .settings import ApiSettings


def route_limits(settings: ApiSettings) -> dict[str, int]:
    """Limits by route name (the endpoint function's name); the rest have ``max_body_bytes``."""
    return {
        "put_properties": settings.max_properties_bytes,
        "put_script": settings.max_script_bytes,
        "start_run": settings.max_request_bytes,
    }


def _too_large(size: str, limit: int) -> TooLarge:
    return TooLarge(
        f"the request body is {size}; the limit for this route is {limit} bytes",
        [{"path": "$", "message": "request body too large", "limit_bytes": limit}],
    )


class BodyLimits:
    """ASGI middleware enforcing per-route body limits.

    The limit is looked up when the route first reads its body: by then the router has put the matched route in
    the scope. Nothing is read before the declared length is checked.
    """

    def __init__(self, app: ASGIApp, limits: dict[str, int], default: int) -> None:
        self.app = app
        self._limits = limits
        self._default = default

    def _limit(self, scope: Scope) -> int:
        return self._limits.get(getattr(scope.get("route"), "name", ""), self._default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        received = 0
        refused: TooLarge | None = None

        async def capped() -> Message:
            nonlocal received, refused
            limit = self._limit(scope)
            if declared is not None and declared.isdigit() and int(declared) > limit:
                refused = _too_large(f"{declared} bytes", limit)
                raise refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = _too_large(f"over {limit} bytes (it was still coming)", limit)
                    raise refused
            return message

        answered = False

        async def sending(message: Message) -> None:
            nonlocal answered
            if refused is None:
                await send(message)
            elif not answered:
                # Whatever the route made of the interrupted body (FastAPI calls it a parse error), say why.
                answered = True
                await response(refused)(scope, receive, send)

        await self.app(scope, capped, sending)
