"""Errors of the API and their one mapping to HTTP.

Every error response is ``{"code", "message", "details"}`` (:class:`~.schemas.ErrorPublic`): never plain text,
never a bare 500. :func:`response` is the one place an exception becomes a status and a code::

    ApiError                       its own status and code (raised by routes and services)
    ├── Unauthenticated            401 unauthenticated  nobody signed in (details.login_url); WWW-Authenticate
    ├── Forbidden                  403 forbidden        the identity may not do this (or a cross-site write)
    ├── UnsupportedMediaType       415 unsupported_media_type  a body not in application/json
    ├── RequestInvalid             422 invalid_request  a body that is not JSON, or of the wrong shape
    ├── TooLarge                   413 too_large        a body over its route's limit (see :mod:`.limits`)
    ├── Conflict                   409 conflict         e.g. cancelling a run that has finished
    └── Unavailable                503 unavailable      NATS is not reachable, or no runner serves the app yet (retry)
    ReadOnly                       403 read_only        the store cannot change apps (cluster mode: git push)
    LanguageServersBusy            503 busy             no editor session free (a websocket closes with 1013)

    SDK errors (appyard.errors)
    ├── NotFound                   404 not_found
    ├── AlreadyExists              409 already_exists
    ├── ModelsStale                409 stale_models
    ├── BadName                    422 invalid_name
    ├── PropertiesInvalid          422 invalid_properties  every issue in details
    ├── StateInvalid               422 invalid_state       every issue in details
    ├── ContextInvalid             422 invalid_context
    ├── GenerationFailed           422 generation_failed
    ├── FunctionFailed             422 function_failed
    └── any other AppyardError     422 invalid

    RequestValidationError         422 invalid_request  (FastAPI: parameters and bodies; every problem in details)
    HTTPException                  its status           (Starlette: unknown routes 404, wrong methods 405);
                                   FastAPI's 400 (a body that is not UTF-8) is 422 invalid_request
    anything else                  500 internal         with an id, logged with the traceback
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appyard.errors import (
    AlreadyExists,
    AppyardError,
    BadName,
    ContextInvalid,
    FunctionFailed,
    GenerationFailed,
    Issue,
    ModelsStale,
    NotFound,
    PropertiesInvalid,
    StateInvalid,
)

from .schemas import ErrorPublic

log = logging.getLogger("appyard.api.errors")


class ApiError(Exception):
    """An error with an HTTP status and a machine-readable code."""

    status = 500
    code = "internal"
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthenticated(ApiError):
    """Nobody is signed in: sign in at details.login_url or send a bearer token."""

    status = 401
    code = "unauthenticated"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class RequestInvalid(ApiError):
    status = 422
    code = "invalid_request"


class TooLarge(ApiError):
    status = 413
    code = "too_large"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unavailable(ApiError):
    """A dependency is down; the client may retry."""

    status = 503
    code = "unavailable"


class ReadOnly(Exception):
    """The store cannot change apps (in a cluster, apps change by git push); the message says what to do."""


class LanguageServersBusy(Exception):
    """No editor session (pylsp process) is free for the caller; the message says which limit (temporary)."""


# Most specific first: the first class an error is an instance of decides.
_SDK: list[tuple[type[AppyardError], int, str]] = [
    (NotFound, 404, "not_found"),
    (AlreadyExists, 409, "already_exists"),
    (ModelsStale, 409, "stale_models"),
    (BadName, 422, "invalid_name"),
    (PropertiesInvalid, 422, "invalid_properties"),
    (StateInvalid, 422, "invalid_state"),
    (ContextInvalid, 422, "invalid_context"),
    (GenerationFailed, 422, "generation_failed"),
    (FunctionFailed, 422, "function_failed"),
    (AppyardError, 422, "invalid"),
]
_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}
_DESCRIPTIONS = {
    400: "The browser sign-in could not finish (expired, another browser, refused by the issuer); sign in again.",
    401: "Not signed in.",
    403: "The caller may not do this (or the store is read-only, or a cross-site write).",
    404: "No such app, page, script, function or run.",
    409: "Conflicts with the current state (exists already, finished, stale models).",
    413: "The body is over this route's size limit.",
    415: "The body is not application/json.",
    422: "A parameter or the body is invalid; details lists every problem.",
    500: "An unexpected error; details holds an id that is in the API's log.",
    503: "NATS is unreachable or no runner serves the app yet; retry later.",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the error statuses a route can answer (all share :class:`ErrorPublic`)."""
    return {status: {"model": ErrorPublic, "description": _DESCRIPTIONS[status]} for status in statuses}


def _issues(issues: list[Issue]) -> list[dict[str, str]]:
    return [{"file": issue.file, "path": issue.path, "message": issue.message} for issue in issues]


def body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The JSON body of every error response."""
    return ErrorPublic(code=code, message=message, details=details).model_dump(mode="json")


def _describe(error: Exception) -> tuple[int, str, str, Any]:
    """Status, code, message and details for an error (raises nothing)."""
    if isinstance(error, ApiError):
        return error.status, error.code, error.message, error.details
    if isinstance(error, ReadOnly):
        return 403, "read_only", str(error), None
    if isinstance(error, LanguageServersBusy):
        return 503, "busy", str(error), None
    if isinstance(error, RequestValidationError):
        details = [
            {"path": ".".join(str(part) for part in item["loc"]), "message": item["msg"]} for item in error.errors()
        ]
        return 422, "invalid_request", "the request does not have the expected shape", details
    if isinstance(error, HTTPException) and error.status_code == 400:
        # FastAPI's only 400: a body it cannot decode (not UTF-8): invalid like any other body that is not JSON.
        return 422, "invalid_request", f"the body is not JSON: {error.detail}", None
    if isinstance(error, HTTPException):
        return error.status_code, _HTTP_CODES.get(error.status_code, "http_error"), str(error.detail), None
    if isinstance(error, AppyardError):
        status, code = next((status, code) for kind, status, code in _SDK if isinstance(error, kind))
        if isinstance(error, PropertiesInvalid):
            return status, code, f"{len(error.issues)} problem(s) in properties", _issues(error.issues)
        if isinstance(error, StateInvalid | ContextInvalid):
            return status, code, str(error), _issues(error.issues)
        return status, code, str(error), None
    incident = uuid.uuid4().hex[:16]
    log.error("internal error %s: %s: %s", incident, type(error).__name__, error, exc_info=error)
    return (
        500,
        "internal",
        f"an unexpected error happened (id {incident}); the API's log has the details",
        {"id": incident},
    )


def response(error: Exception) -> JSONResponse:
    """The one mapping from an exception to an HTTP response."""
    status, code, message, details = _describe(error)
    headers = getattr(error, "headers", None) if isinstance(error, HTTPException | ApiError) else None
    return JSONResponse(body(code, message, details), status_code=status, headers=headers)


class _Unexpected:
    """Answers an exception no handler took with a 500 in the error format (Starlette's own is plain text)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as error:
            if started:  # a stream (SSE) broke midway: nothing else can be said on it
                raise
            await response(error)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Map every error to {"code", "message", "details"}: known ones by class, anything else as a 500."""

    async def handle(_: Request, error: Exception) -> JSONResponse:
        return response(error)

    for kind in (ApiError, ReadOnly, LanguageServersBusy, AppyardError, RequestValidationError, HTTPException):
        app.add_exception_handler(kind, handle)
    app.add_middleware(_Unexpected)
