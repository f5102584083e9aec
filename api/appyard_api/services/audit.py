"""The audit log on JetStream: record each action once, read entries back in time order (DESIGN.md §7).

Entries go to the stream ``APPYARD_AUDIT`` (file storage, kept ``audit_retention_days`` and at most
``audit_max_bytes``), subject ``audit.<namespace>.<app>``. Every entry carries its id as ``Nats-Msg-Id``:
the server drops a second copy within the duplicate window, so API replicas that all see the same run
result (each watches every result of the namespace) record it once.

Runs are recorded here, by the API, when their final result arrives — not by the runner: the API accepted
the request and knows who asked, and a runner (running the app's code) is not trusted to describe itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import UTC, datetime

import nats
from nats.js import JetStreamContext, api
from nats.js.errors import NoStreamResponseError, NotFoundError
from pydantic import BaseModel, Field, ValidationError

from appyard.audit import AUDIT_STREAM, AuditEntry, audit_subject, run_entry
from appyard.runs import RunResult

from .. import metrics
from ..adapters.dispatch import Dispatcher
from ..errors import RequestInvalid
from ..settings import ApiSettings

log = logging.getLogger("appyard.api.audit")

_BATCH = 256
_DUPLICATE_WINDOW = 120.0  # seconds; replicas see a result within milliseconds of each other


class AuditSlice(BaseModel):
    """Entries of one query, oldest first."""

    entries: list[AuditEntry] = Field(description="The latest `limit` matching entries, oldest first.")
    more: bool = Field(description="More entries matched than `limit`: narrow the time window or raise it.")


class AuditLog:
    """Appends entries to the audit stream and answers queries; one per process."""

    def __init__(self, settings: ApiSettings, dispatcher: Dispatcher) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self._pending: set[asyncio.Task[None]] = set()

    def _config(self) -> api.StreamConfig:
        return api.StreamConfig(
            name=AUDIT_STREAM,
            subjects=["audit.>"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_age=self.settings.audit_retention_days * 86400,
            max_bytes=self.settings.audit_max_bytes,
            discard=api.DiscardPolicy.OLD,
            duplicate_window=_DUPLICATE_WINDOW,
        )

    async def ensure_stream(self) -> None:
        """Create the stream, or bring its retention in line with the settings (idempotent)."""
        js = self.dispatcher.jetstream()
        config = self._config()
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:  # it exists with other limits: the settings say what they are now
            try:
                await js.update_stream(config)
            except nats.js.errors.BadRequestError as error:  # e.g. made with memory storage, which cannot change
                log.warning(
                    "stream %s exists with a configuration that cannot be updated (%s); using it as is",
                    AUDIT_STREAM,
                    error,
                )

    async def start(self) -> None:
        await self.ensure_stream()
        self.dispatcher.on_result = self.record_run

    async def stop(self) -> None:
        """Let entries being written finish (bounded), so a clean shutdown loses none."""
        if self._pending:
            await asyncio.wait(self._pending, timeout=5)

    async def _publish(self, entry: AuditEntry) -> None:
        js = self.dispatcher.jetstream()
        subject = audit_subject(self.settings.namespace, entry.app)
        data = entry.model_dump_json().encode()
        headers = {"Nats-Msg-Id": entry.id}
        try:
            await js.publish(subject, data, headers=headers)
        except NoStreamResponseError:  # a fresh server after a restart: the stream is gone until recreated
            await self.ensure_stream()
            await js.publish(subject, data, headers=headers)

    async def record(self, entry: AuditEntry) -> None:
        """Append ``entry`` (a copy with an id recorded in the last two minutes is dropped by the server).

        A failure is logged and counted (appyard_audit_failed_total), not raised: the action it describes
        has happened already, and its caller should still hear that it did.
        """
        try:
            await self._publish(entry)
        except Exception:
            metrics.AUDIT_FAILED.inc()
            log.exception("could not record audit entry %s (%s of %s)", entry.id, entry.action, entry.app)

    def record_soon(self, entry: AuditEntry) -> None:
        """Append ``entry`` in the background: callers on the run path never wait for the audit write."""
        task = asyncio.get_running_loop().create_task(self.record(entry))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def record_run(self, result: RunResult) -> None:
        """Every final result the API sees (its own runs' and other replicas'): one entry per run."""
        self.record_soon(run_entry(result))

    async def query(
        self,
        *,
        app: str | None,
        user: str | None,
        since: datetime,
        until: datetime | None,
        limit: int,
        apps: frozenset[str] | None = None,
    ) -> AuditSlice:
        """The latest ``limit`` entries of ``app`` (all apps: None, or only those in ``apps``) by ``user``
        between ``since`` and ``until``, oldest first. Reads at most ``audit_max_scan`` entries."""
        js = self.dispatcher.jetstream()
        namespace = self.settings.namespace
        subject = audit_subject(namespace, app) if app else f"audit.{namespace}.>"
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_TIME,
            opt_start_time=since,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=30.0,  # removed by the server even if this process dies mid-query
            mem_storage=True,
        )
        try:
            subscription = await js.pull_subscribe(subject, stream=AUDIT_STREAM, config=config)
        except NotFoundError:
            await self.ensure_stream()
            return AuditSlice(entries=[], more=False)
        kept: deque[AuditEntry] = deque(maxlen=limit)
        matched = 0
        try:
            info = await subscription.consumer_info()
            remaining = info.num_pending or 0
            read = 0
            while remaining > 0:
                if read >= self.settings.audit_max_scan:
                    raise RequestInvalid(
                        f"the query covers more than {self.settings.audit_max_scan} audit entries; "
                        "narrow it with since/until or app",
                        [{"path": "since", "message": "time window too wide", "limit": self.settings.audit_max_scan}],
                    )
                messages = await subscription.fetch(min(_BATCH, remaining), timeout=5)
                for message in messages:
                    read += 1
                    remaining = message.metadata.num_pending
                    if until is not None and message.metadata.timestamp > until:
                        remaining = 0
                        break
                    try:
                        entry = AuditEntry.model_validate_json(message.data)
                    except ValidationError:
                        continue  # written by a newer version with an action this one does not know
                    if (user is not None and entry.actor != user) or (apps is not None and entry.app not in apps):
                        continue
                    matched += 1
                    kept.append(entry)
        finally:
            await _forget(js, subscription)
        return AuditSlice(entries=list(kept), more=matched > len(kept))


async def _forget(js: JetStreamContext, subscription: JetStreamContext.PullSubscription) -> None:
    with contextlib.suppress(Exception):
        info = await subscription.consumer_info()
        await subscription.unsubscribe()
        await js.delete_consumer(AUDIT_STREAM, info.name)


def utc(moment: datetime) -> datetime:
    """A timestamp without a zone is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
