"""Errors of the API and their one mapping to HTTP.

::

    ApiError                       → its own status, {"code", "message", "details"}
    ├── Forbidden                  403  the identity may not do this
    ├── RequestInvalid             422  a body that is too large, not JSON, or of the wrong shape
    ├── Conflict                   409  e.g. cancelling a run that has finished
    └── Unavailable                503  NATS is not reachable, or no runner serves the app yet (retry)
    ReadOnly                       403  the store cannot change apps (a domain error of the store)

SDK errors map as: NotFound → 404, PropertiesInvalid and StateInvalid → 422 with every issue in details,
BadName → 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from appyard.errors import AlreadyExists, BadName, Issue, NotFound, PropertiesInvalid, StateInvalid


class ApiError(Exception):
    """An error with an HTTP status and a machine-readable code."""

    status = 500
    code = "internal"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class RequestInvalid(ApiError):
    status = 422
    code = "invalid_request"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unavailable(ApiError):
    """A dependency is down; the client may retry."""

    status = 503
    code = "unavailable"


class ReadOnly(Exception):
    """The store cannot change apps (in a cluster, apps change by git push); the message says what to do."""


def _issues(issues: list[Issue]) -> list[dict[str, str]]:
    return [{"file": issue.file, "path": issue.path, "message": issue.message} for issue in issues]


def body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"code": code, "message": message, "details": details}


def install(app: FastAPI) -> None:
    """Register the handlers that turn errors into {"code", "message", "details"} responses."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(body(error.code, error.message, error.details), status_code=error.status)

    @app.exception_handler(ReadOnly)
    async def _read_only(_: Request, error: ReadOnly) -> JSONResponse:
        return JSONResponse(body("read_only", str(error)), status_code=403)

    @app.exception_handler(BadName)
    async def _bad_name(_: Request, error: BadName) -> JSONResponse:
        return JSONResponse(body("invalid_name", str(error)), status_code=422)

    @app.exception_handler(AlreadyExists)
    async def _exists(_: Request, error: AlreadyExists) -> JSONResponse:
        return JSONResponse(body("conflict", str(error)), status_code=409)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, error: NotFound) -> JSONResponse:
        return JSONResponse(body("not_found", str(error)), status_code=404)

    @app.exception_handler(PropertiesInvalid)
    async def _properties(_: Request, error: PropertiesInvalid) -> JSONResponse:
        message = f"{len(error.issues)} problem(s) in properties"
        return JSONResponse(body("invalid_properties", message, _issues(error.issues)), status_code=422)

    @app.exception_handler(StateInvalid)
    async def _state(_: Request, error: StateInvalid) -> JSONResponse:
        return JSONResponse(body("invalid_state", str(error), _issues(error.issues)), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"path": ".".join(str(part) for part in item["loc"]), "message": item["msg"]} for item in error.errors()
        ]
        return JSONResponse(body("invalid_request", "the request does not have the expected shape", details), 422)
