"""When an App is deleted: its runners' NATS consumer, its queued runs and its results go too."""

from __future__ import annotations

import contextlib
import logging

import nats
from nats.aio.client import RawCredentials
from nats.js.errors import NotFoundError

from appyard.brokerauth import operator_permissions
from appyard.runs import RESULTS_BUCKET, RUNS_STREAM, consumer_name, runs_subject

log = logging.getLogger("appyard.operator.cleanup")


async def forget_app(nats_url: str, creds: str | None, namespace: str, app: str) -> None:
    """Delete the app's durable consumer and purge its queued runs and stored results."""
    connection = await nats.connect(
        nats_url,
        connect_timeout=5,
        allow_reconnect=False,
        user_credentials=RawCredentials(creds) if creds else None,
        inbox_prefix=operator_permissions().inbox_prefix,
    )
    try:
        js = connection.jetstream(timeout=5)
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(RUNS_STREAM, consumer_name(namespace, app))
        with contextlib.suppress(NotFoundError):
            await js.purge_stream(RUNS_STREAM, subject=runs_subject(namespace, app))
        with contextlib.suppress(NotFoundError):
            await js.purge_stream(f"KV_{RESULTS_BUCKET}", subject=f"$KV.{RESULTS_BUCKET}.{namespace}.{app}.>")
        log.info("app %s/%s: NATS consumer and results removed", namespace, app)
    finally:
        await connection.close()
