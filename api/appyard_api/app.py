"""The FastAPI application: routes, error handlers, and the process-wide services on app.state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import __version__, errors
from .adapters.cluster import ClusterStore
from .adapters.consumers import Consumers
from .adapters.dispatch import Dispatcher
from .adapters.lsp import LanguageServerPool, warm_cache
from .adapters.store import FileStore
from .adapters.tokens import TokenBucket
from .auth.authenticator import Authenticator
from .auth.origin import CrossSiteGuard
from .auth.tokens import TokenService
from .limits import BodyLimits, route_limits
from .routes import apps, audit, catalog, health, home, lsp, me, runs, sign_in, tokens, web
from .services.audit import AuditLog
from .services.runs import RunService
from .settings import ApiSettings, get_settings


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """A ready-to-serve API; NATS is connected when the app starts (lifespan)."""
    settings = settings or get_settings()
    store: FileStore = (
        ClusterStore(settings.namespace, settings.cache_dir)
        if settings.mode == "cluster"
        else FileStore(settings.workspace)
    )
    dispatcher = Dispatcher(settings)
    audit_log = AuditLog(settings, dispatcher)
    consumers = Consumers(settings, store, dispatcher)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.start()
        await dispatcher.start()
        await consumers.start()  # runners cannot create their consumers: the API does, for every app it serves
        await audit_log.start()
        models = asyncio.create_task(asyncio.to_thread(store.warm_models))
        # Completions for the Studio's script editor, which read-only stores do not offer.
        loop = asyncio.get_running_loop()
        warming = loop.create_task(warm_cache(settings.cache_dir / "jedi")) if store.read_only is None else None
        try:
            yield
        finally:
            if warming is not None:
                warming.cancel()
            await audit_log.stop()
            await consumers.stop()
            await asyncio.gather(models, return_exceptions=True)  # a thread cannot be cancelled: let it finish
            await dispatcher.stop()
            await store.stop()

    app = FastAPI(title="Appyard API", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.dispatcher = dispatcher
    app.state.runs = RunService(settings, store, dispatcher)
    app.state.audit = audit_log
    app.state.authenticator = Authenticator(settings, TokenService(TokenBucket(dispatcher)))
    app.state.language_servers = LanguageServerPool(settings.lsp_max_processes, settings.lsp_max_per_user)
    # Starlette runs the middleware added last outermost: errors.install adds the one that answers unexpected
    # errors around everything; cross-site requests are refused before a body is read; then the body limits.
    app.add_middleware(BodyLimits, limits=route_limits(settings), default=settings.max_body_bytes)
    app.add_middleware(CrossSiteGuard, settings=settings)
    errors.install(app)
    # The runs router first: a request is matched against the routes in order, and runs are the hot path.
    for module in (runs, health, sign_in, me, tokens, catalog, apps, audit, lsp):
        app.include_router(module.router)
    web_dir = settings.web_dir or web.packaged()
    if web_dir is not None and (web_dir / "index.html").is_file():
        web.mount(app, web_dir)
    else:
        app.include_router(home.router)
    return app
