"""Each served app's durable runs consumer: the API creates it and keeps its configuration (DESIGN.md §3, §7).

Runners may only pull from their app's consumer (:func:`appyard.brokerauth.runner_permissions`). If they could
create it, whoever holds an app's runner credentials could, while it does not exist (a new app before its first
runner, or after NATS lost its data), create it as a push consumer delivering the app's runs to a subject of
their choosing. The API is trusted with the JetStream API and knows every app it serves in both modes, so it
creates them:

- at start, for every app of the store;
- when apps appear or their ``runner`` properties change: the store is looked at every
  ``consumers_check_seconds`` (local mode rescans the folder when its files changed; in a cluster the App watch
  has already updated it, so looking costs nothing);
- after a reconnect (a restarted server may have lost them), and every ``consumers_resync_seconds`` (one lost
  behind the API's back, e.g. in a NATS cluster the API stayed connected to).

Creating is idempotent (a create-or-update with the same configuration changes nothing), so every API replica
does it. A consumer whose configuration cannot be updated in place (a push consumer, another filter: not one
the API made) is deleted and created again; queued runs stay in the work-queue stream and go to the new one.
The run path never looks at consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from nats.js import JetStreamContext, api
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from appyard.errors import AppyardError
from appyard.properties import RunnerSettings
from appyard.runs import RUNS_STREAM, consumer_name, runs_subject

from ..errors import Unavailable
from ..settings import ApiSettings
from .dispatch import Dispatcher
from .store import FileStore

log = logging.getLogger("appyard.api.consumers")

# Runs one runner process may hold unacked at once (far above any app's concurrency times its replicas).
MAX_ACK_PENDING = 10_000


def consumer_config(namespace: str, app: str, runner: RunnerSettings) -> api.ConsumerConfig:
    """The app's durable pull consumer: its runs only, acked one by one, redelivered and given up as the app's
    ``runner`` properties say."""
    name = consumer_name(namespace, app)
    return api.ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subject=runs_subject(namespace, app),
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=runner.ack_wait_seconds,
        max_deliver=runner.max_deliver,
        max_ack_pending=MAX_ACK_PENDING,
    )


def _ours(found: api.ConsumerConfig, config: api.ConsumerConfig) -> bool:
    """Whether an existing consumer delivers as ``config`` says: pulled, this app's subject only, acked one by one
    (what the API can then update in place: ack wait, max deliver, max ack pending)."""
    return (
        found.deliver_subject is None
        and found.filter_subject == config.filter_subject
        and not found.filter_subjects
        and found.ack_policy == config.ack_policy
    )


async def ensure_consumer(js: JetStreamContext, config: api.ConsumerConfig) -> None:
    """Create the consumer, or bring an existing one to ``config``; replace one that is not the API's kind."""
    assert config.name is not None
    try:
        info = await js.add_consumer(RUNS_STREAM, config)
    except APIError as error:  # e.g. "can not update push consumer to pull based"
        if isinstance(error, NotFoundError | ServiceUnavailableError):  # no stream yet, JetStream not ready
            raise
        existing = await js.consumer_info(RUNS_STREAM, config.name)
        if _ours(existing.config, config):  # something else went wrong: try again later, keep the consumer
            raise
        why = error.description
    else:
        if _ours(info.config, config):
            return
        why = f"it delivers to {info.config.deliver_subject or info.config.filter_subjects}"
    # Not one the API made (a push consumer, another filter): it must not stay. Queued runs stay in the stream.
    log.warning("consumer %s has a configuration it must not keep (%s); replacing it", config.name, why)
    await js.delete_consumer(RUNS_STREAM, config.name)
    await js.add_consumer(RUNS_STREAM, config)


class Consumers:
    """Keeps a consumer for every app the store serves."""

    def __init__(self, settings: ApiSettings, store: FileStore, dispatcher: Dispatcher) -> None:
        self.settings = settings
        self.store = store
        self.dispatcher = dispatcher
        self._ensured: dict[str, api.ConsumerConfig] = {}  # by app: what the server was last told
        self._failing: set[str] = set()  # apps whose last attempt failed (logged once until it works)
        self._logged: dict[str, api.ConsumerConfig] = {}  # what was last logged as ready (resyncs say nothing)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Ensure every app's consumer now (after the dispatcher has made the streams), then keep them."""
        self.dispatcher.on_reconnected = self.recheck
        await self.sync()
        self._task = asyncio.get_running_loop().create_task(self._keep())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def recheck(self) -> None:
        """Ensure every consumer again soon (the server may have lost them)."""
        self._ensured.clear()
        self._wake.set()

    async def _keep(self) -> None:
        resynced = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.consumers_check_seconds)
            self._wake.clear()
            if time.monotonic() - resynced >= self.settings.consumers_resync_seconds:
                self._ensured.clear()
                resynced = time.monotonic()
            try:
                await self.sync()
            except Exception:
                log.exception("keeping the apps' consumers failed; trying again")

    def _desired(self) -> dict[str, api.ConsumerConfig] | None:
        try:
            workspace = self.store.workspace()
        except AppyardError:  # the workspace's own properties are invalid: keep what exists
            return None
        namespace = self.settings.namespace
        return {name: consumer_config(namespace, name, app.properties.runner) for name, app in workspace.apps.items()}

    async def sync(self) -> None:
        """Create or update the consumers of apps that are new, changed, or not ensured since a reconnect."""
        # Local mode walks the folder to see whether files changed: not on the event loop.
        desired = await asyncio.to_thread(self._desired)
        if desired is None:
            return
        try:
            js = self.dispatcher.jetstream()
        except Unavailable:  # not connected: the reconnect makes everything ensured again
            return
        self._ensured = {app: config for app, config in self._ensured.items() if app in desired}
        for app, config in desired.items():
            if self._ensured.get(app) == config:
                continue
            try:
                await ensure_consumer(js, config)
            except Exception as error:
                if app not in self._failing:
                    log.warning("app %s: cannot create its consumer yet (%s); trying again", app, error)
                    self._failing.add(app)
                continue
            if app in self._failing or self._logged.get(app) != config:
                log.info("app %s: consumer %s ready", app, config.name)
                self._logged[app] = config
            self._failing.discard(app)
            self._ensured[app] = config
