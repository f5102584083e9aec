"""``python -m appyard_api``: serve the API with uvicorn on the configured host and port, and the Prometheus
metrics on APPYARD_API_METRICS_PORT when it is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .metrics import exposition
from .settings import ApiSettings, get_settings


class _MetricsServer(uvicorn.Server):
    """The metrics port's server: it leaves the signals to the API's server and stops when that one stops."""

    def __init__(self, config: uvicorn.Config, main: uvicorn.Server) -> None:
        super().__init__(config)
        self.main = main

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def on_tick(self, counter: int) -> bool:
        return self.main.should_exit or await super().on_tick(counter)


async def _serve_both(main: uvicorn.Server, metrics: uvicorn.Server) -> None:
    # A port that cannot be bound ends the process (uvicorn exits), whichever of the two it is.
    scraped = asyncio.create_task(metrics.serve())
    try:
        await main.serve()
    finally:
        metrics.should_exit = True
        await scraped


def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("httpx", "httpx2", "httpcore"):  # the Kubernetes client's requests (cluster mode)
        logging.getLogger(noisy).setLevel(logging.WARNING)
    server = uvicorn.Server(_config(settings, create_app(settings), settings.port))
    if not settings.metrics_port:
        server.run()
        return
    metrics = _MetricsServer(_config(settings, exposition(), settings.metrics_port), server)
    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(_serve_both(server, metrics))


def _config(settings: ApiSettings, app: Starlette, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        loop="uvloop",
        proxy_headers=False,  # the peer address is the socket's: proxy mode trusts only configured proxies
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
