"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .dispatch import Dispatcher
from .identity import Identity
from .settings import ApiSettings
from .store import FileStore


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def _store(request: Request) -> FileStore:
    store: FileStore = request.app.state.store
    return store


def _dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


async def current_identity(request: Request) -> Identity:
    """The caller, as the configured identity provider sees them."""
    return await request.app.state.identity_provider.identify(request)  # type: ignore[no-any-return]


SettingsDep = Annotated[ApiSettings, Depends(_settings)]
StoreDep = Annotated[FileStore, Depends(_store)]
DispatcherDep = Annotated[Dispatcher, Depends(_dispatcher)]
CurrentUser = Annotated[Identity, Depends(current_identity)]
