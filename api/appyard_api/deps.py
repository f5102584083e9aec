"""Typed dependencies shared by the routes.

Every getter is ``async``: FastAPI runs a plain ``def`` dependency on a worker thread, a hand-off that cost a run
request more than the getter's work (see bench/profile.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from .adapters.dispatch import Dispatcher
from .adapters.lsp import LanguageServerPool
from .adapters.store import FileStore
from .auth.authenticator import Authenticator
from .auth.tokens import TokenService
from .identity import Identity
from .services.audit import AuditLog
from .services.runs import RunService
from .settings import ApiSettings


async def _settings(connection: HTTPConnection) -> ApiSettings:
    settings: ApiSettings = connection.app.state.settings
    return settings


async def _store(connection: HTTPConnection) -> FileStore:
    store: FileStore = connection.app.state.store
    return store


async def _dispatcher(connection: HTTPConnection) -> Dispatcher:
    dispatcher: Dispatcher = connection.app.state.dispatcher
    return dispatcher


async def _runs(connection: HTTPConnection) -> RunService:
    service: RunService = connection.app.state.runs
    return service


async def _audit(connection: HTTPConnection) -> AuditLog:
    audit: AuditLog = connection.app.state.audit
    return audit


async def _authenticator(connection: HTTPConnection) -> Authenticator:
    authenticator: Authenticator = connection.app.state.authenticator
    return authenticator


async def _tokens(connection: HTTPConnection) -> TokenService:
    tokens: TokenService = connection.app.state.authenticator.tokens
    return tokens


async def _language_servers(connection: HTTPConnection) -> LanguageServerPool:
    pool: LanguageServerPool = connection.app.state.language_servers
    return pool


async def current_identity(connection: HTTPConnection) -> Identity:
    """The signed-in caller (of a request or a websocket); 401 when nobody is signed in."""
    authenticator: Authenticator = connection.app.state.authenticator
    return await authenticator.identify(connection)


SettingsDep = Annotated[ApiSettings, Depends(_settings)]
StoreDep = Annotated[FileStore, Depends(_store)]
DispatcherDep = Annotated[Dispatcher, Depends(_dispatcher)]
RunServiceDep = Annotated[RunService, Depends(_runs)]
AuditDep = Annotated[AuditLog, Depends(_audit)]
AuthenticatorDep = Annotated[Authenticator, Depends(_authenticator)]
TokenServiceDep = Annotated[TokenService, Depends(_tokens)]
LanguageServersDep = Annotated[LanguageServerPool, Depends(_language_servers)]
CurrentUser = Annotated[Identity, Depends(current_identity)]
