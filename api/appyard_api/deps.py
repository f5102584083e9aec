"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from .adapters.dispatch import Dispatcher
from .adapters.lsp import LanguageServerPool
from .adapters.store import FileStore
from .identity import Identity
from .services.runs import RunService
from .settings import ApiSettings


def _settings(connection: HTTPConnection) -> ApiSettings:
    settings: ApiSettings = connection.app.state.settings
    return settings


def _store(connection: HTTPConnection) -> FileStore:
    store: FileStore = connection.app.state.store
    return store


def _dispatcher(connection: HTTPConnection) -> Dispatcher:
    dispatcher: Dispatcher = connection.app.state.dispatcher
    return dispatcher


def _runs(connection: HTTPConnection) -> RunService:
    service: RunService = connection.app.state.runs
    return service


def _language_servers(connection: HTTPConnection) -> LanguageServerPool:
    pool: LanguageServerPool = connection.app.state.language_servers
    return pool


async def current_identity(connection: HTTPConnection) -> Identity:
    """The caller (of a request or a websocket), as the configured identity provider sees them."""
    return await connection.app.state.identity_provider.identify(connection)  # type: ignore[no-any-return]


SettingsDep = Annotated[ApiSettings, Depends(_settings)]
StoreDep = Annotated[FileStore, Depends(_store)]
DispatcherDep = Annotated[Dispatcher, Depends(_dispatcher)]
RunServiceDep = Annotated[RunService, Depends(_runs)]
LanguageServersDep = Annotated[LanguageServerPool, Depends(_language_servers)]
CurrentUser = Annotated[Identity, Depends(current_identity)]
