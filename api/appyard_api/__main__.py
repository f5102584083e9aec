"""``python -m appyard_api``: serve the API with uvicorn on the configured host and port."""

from __future__ import annotations

import logging

import uvicorn

from .app import create_app
from .settings import get_settings


def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("httpx", "httpx2", "httpcore"):  # the Kubernetes client's requests (cluster mode)
        logging.getLogger(noisy).setLevel(logging.WARNING)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        proxy_headers=False,  # the peer address is the socket's: proxy mode trusts only configured proxies
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
