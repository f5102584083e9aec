"""``python -m appyard_api``: serve the API with uvicorn on the configured host and port, and the Prometheus
metrics on APPYARD_API_METRICS_PORT when it is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

from appyard import logs

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


_OPEN_FILES = 1_048_576  # what container runtimes give; the most this process asks for


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (at most 1,048,576); returns the limit.

    Every client connection is a file. Under the common soft limit of 1,024 (systemd's default, many shells'
    ``ulimit -n``), 1,000 clients saw ~60 % of their requests reset, silently (measured by bench/load.py);
    the hard limit is the administrator's cap, the soft one only a default, so a server takes what it may.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, _OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            return wanted
    return soft


def main() -> None:
    settings = get_settings()
    logs.configure()  # APPYARD_LOG_FORMAT: json in the chart, text by default
    open_files = raise_open_files_limit()
    if open_files < 4096:
        logging.getLogger("appyard.api").warning(
            "this process may open only %d files, so it can serve fewer than that many clients at once; "
            "raise the hard limit (ulimit -Hn) to serve more",
            open_files,
        )
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
