"""``python -m appyard_operator``: run the operator (settings from APPYARD_OPERATOR_* variables)."""

from __future__ import annotations

import logging

import kopf

from appyard import logs

from . import handlers as _handlers  # noqa: F401 — importing registers the handlers
from .settings import get_settings


def main() -> None:
    settings = get_settings()
    logs.configure()  # APPYARD_LOG_FORMAT: json in the chart, text by default
    for noisy in ("httpx", "httpx2", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for quiet in ("kopf.objects", "kopf.activities.probe"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    kopf.run(
        standalone=True,
        namespaces=settings.namespaces,
        clusterwide=not settings.namespaces,
        liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None,
    )


if __name__ == "__main__":
    main()
