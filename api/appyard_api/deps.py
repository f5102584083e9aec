"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from .dispatch import Dispatcher
from .identity import Identity
from .settings import ApiSettings
from .store import FileStore


def _settings(connection: HTTPConnection) -> ApiSettings:
    settings: ApiSettings = connection.app.state.settings
    return settings


def _store(connection: HTTPConnection) -> FileStore:
    store: FileStore = connection.app.state.store
    return store


def _dispatcher(connection: HTTPConnection) -> Dispatcher:
    dispatcher: Dispatcher = connection.app.state.dispatcher
    return dispatcher


async def current_identity(connection: HTTPConnection) -> Identity:
    """The caller (of a request or a websocket), as the configured identity provider sees them."""
    return await connection.app.state.identity_provider.identify(connection)  # type: ignore[no-any-return]


SettingsDep = Annotated[ApiSettings, Depends(_settings)]
StoreDep = Annotated[FileStore, Depends(_store)]
DispatcherDep = Annotated[Dispatcher, Depends(_dispatcher)]
CurrentUser = Annotated[Identity, Depends(current_identity)]
