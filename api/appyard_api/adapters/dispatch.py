"""Dispatching runs over NATS JetStream and waiting for their results (DESIGN.md §3).

One connection and ONE long-lived subscription on the results bucket per process: every result written by
a runner arrives here once and is routed to the request waiting for it (measured here: p50 0.73 ms for
publish → worker → KV → waiter; a watch per request costs ~1.9 ms, polling ~2.5 ms).

The subscription starts at "new" results and remembers the last stream sequence it saw, so after a
reconnect (or a restarted server) it resumes exactly where it stopped; waiters whose results may have been
written meanwhile are also checked with a direct read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
from nats.aio.client import Client, RawCredentials
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from appyard.brokerauth import api_permissions
from appyard.runs import (
    EVENTS_STREAM,
    RESULTS_BUCKET,
    RUNS_STREAM,
    RunError,
    RunEvent,
    RunRequest,
    RunResult,
    RunStatus,
    cancel_subject,
    events_subject,
    result_key,
    runs_subject,
)

from ..errors import Unavailable
from ..settings import ApiSettings

log = logging.getLogger("appyard.api.dispatch")

_KV_PREFIX = f"$KV.{RESULTS_BUCKET}."
_RECENT = 4096


async def ensure_streams(js: JetStreamContext, settings: ApiSettings) -> KeyValue:
    """Create the runs stream, the events stream and the results bucket when missing (idempotent)."""
    streams = [
        api.StreamConfig(
            name=RUNS_STREAM,
            subjects=["runs.>"],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            duplicate_window=120.0,
            max_msg_size=settings.max_payload_bytes,
        ),
        api.StreamConfig(
            name=EVENTS_STREAM,
            subjects=["events.>"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.MEMORY,
            max_age=float(settings.events_ttl_seconds),
            max_bytes=256 * 1024 * 1024,
            discard=api.DiscardPolicy.OLD,
        ),
    ]
    for config in streams:
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:  # exists with another config: keep it, it still works
            log.warning("stream %s exists with a different configuration; using it as is", config.name)
    try:
        bucket = await js.key_value(RESULTS_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(
            bucket=RESULTS_BUCKET,
            ttl=float(settings.results_ttl_seconds),
            max_value_size=settings.max_payload_bytes,
            storage=api.StorageType.FILE,
            direct=True,  # runners read their results back by direct get, the only read their credentials allow
        )
    info = await js.stream_info(f"KV_{RESULTS_BUCKET}")
    if not info.config.allow_direct:  # a bucket made before direct gets were needed
        await js.update_stream(info.config.evolve(allow_direct=True))
        bucket = await js.key_value(RESULTS_BUCKET)
    return bucket


class Dispatcher:
    """Publishes runs, routes results to waiters, replays events, cancels runs."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._waiters: dict[str, asyncio.Future[RunResult]] = {}
        self._recent: OrderedDict[str, RunResult] = OrderedDict()
        self._results_sub: Any = None
        self._last_seq = 0
        self._resubscribe = asyncio.Lock()
        self._stopping = False
        # Told of every final result of the namespace (whoever started the run): the audit log's hook.
        self.on_result: Callable[[RunResult], None] | None = None
        # Told when a reconnect has been recovered from (the streams exist again): the apps' consumers' hook.
        self.on_reconnected: Callable[[], None] | None = None

    # -- connection -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (retrying until the connect timeout), set up streams and the results subscription."""
        try:
            credentials = self.settings.nats_creds
            self._nc = await nats.connect(
                self.settings.nats_url,
                name="appyard-api",
                user_credentials=RawCredentials(credentials.get_secret_value()) if credentials else None,
                inbox_prefix=api_permissions(self.settings.namespace).inbox_prefix,  # the inboxes it may use
                connect_timeout=self.settings.nats_connect_timeout,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.25,
                reconnected_cb=self._reconnected,
                disconnected_cb=self._disconnected,
                error_cb=self._error,
            )
        except Exception as error:
            raise Unavailable(f"cannot connect to NATS at {self.settings.nats_url}: {error}") from error
        self._js = self._nc.jetstream(timeout=5.0)
        self._kv = await ensure_streams(self._js, self.settings)
        await self._subscribe_results()
        await self._nc.subscribe(f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{RUNS_STREAM}.*", cb=self._gave_up)

    async def stop(self) -> None:
        self._stopping = True
        for future in self._waiters.values():
            future.cancel()
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def _disconnected(self) -> None:
        if not self._stopping:
            log.warning("disconnected from NATS; reconnecting")

    async def _error(self, error: Exception) -> None:
        log.warning("NATS: %s", error)

    async def _reconnected(self) -> None:
        log.info("reconnected to NATS")
        asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        """After a reconnect: streams may be gone (a fresh server), the subscription may be stale."""
        try:
            assert self._js is not None
            self._kv = await ensure_streams(self._js, self.settings)
            if self.on_reconnected is not None:
                self.on_reconnected()
            await self._subscribe_results()
            for key, future in list(self._waiters.items()):
                if not future.done() and (result := await self._read(key)) is not None:
                    future.set_result(result)
        except Exception:
            log.exception("recovering after a reconnect failed; waiting for the next one")

    def jetstream(self) -> JetStreamContext:
        """The JetStream context of the process's one connection (for the audit stream and the tokens bucket)."""
        return self._jetstream()

    def _jetstream(self) -> JetStreamContext:
        if self._js is None or not self.connected:
            raise Unavailable("NATS is not connected; try again shortly")
        return self._js

    # -- results ----------------------------------------------------------------------------------------

    async def _subscribe_results(self) -> None:
        async with self._resubscribe:
            if self._results_sub is not None:
                with contextlib.suppress(Exception):
                    await self._results_sub.unsubscribe()
            js = self._jetstream()
            start = (
                {"deliver_policy": api.DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": self._last_seq + 1}
                if self._last_seq
                else {"deliver_policy": api.DeliverPolicy.NEW}
            )
            config = api.ConsumerConfig(**start)
            self._results_sub = await js.subscribe(
                f"{_KV_PREFIX}{self.settings.namespace}.>",
                stream=f"KV_{RESULTS_BUCKET}",
                cb=self._on_result,
                ordered_consumer=True,
                idle_heartbeat=1.0,
                config=config,
            )

    async def _on_result(self, msg: Msg) -> None:
        self._last_seq = max(self._last_seq, msg.metadata.sequence.stream)
        key = msg.subject[len(_KV_PREFIX) :]
        future = self._waiters.get(key)
        waiting = future is not None and not future.done()
        if not msg.data or not (waiting or self.on_result):
            return
        try:
            result = RunResult.model_validate_json(msg.data)
        except ValueError as error:
            if future is not None and waiting:
                future.set_exception(error)
            return
        if future is not None and waiting:
            future.set_result(result)
        if self.on_result is not None:
            self.on_result(result)

    async def _read(self, key: str) -> RunResult | None:
        assert self._kv is not None
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        return RunResult.model_validate_json(entry.value) if entry.value else None

    def _remember(self, result: RunResult) -> RunResult:
        self._recent[result.run_id] = result
        while len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        return result

    async def _gave_up(self, msg: Msg) -> None:
        """A run was delivered max_deliver times without being acked (it kept killing its runner): fail it."""
        try:
            advisory = json.loads(msg.data)
            js = self._jetstream()
            stored = await js.get_msg(RUNS_STREAM, int(advisory["stream_seq"]))
            request = RunRequest.model_validate_json(stored.data or b"")
        except Exception:
            log.exception("could not handle a max-deliveries advisory")
            return
        deliveries = advisory.get("deliveries", "several")
        message = f"the run was started {deliveries} times and each time its runner stopped before it finished"
        result = RunResult.of(
            request,
            RunStatus.failed,
            error=RunError(kind="gave_up", message=message),
            attempt=int(deliveries) if isinstance(deliveries, int) else 0,
        )
        assert self._kv is not None
        with contextlib.suppress(KeyWrongLastSequenceError):
            await self._kv.create(
                result_key(request.namespace, request.app, request.run_id), result.model_dump_json().encode()
            )
        with contextlib.suppress(Exception):
            await js.delete_msg(RUNS_STREAM, int(advisory["stream_seq"]))
        log.warning("run %s of %s/%s failed after %s deliveries", request.run_id, request.app, request.page, deliveries)

    async def last_status(self, app: str, run_id: str) -> RunStatus:
        """Running when the run's runner has said so, else queued (for runs without a result yet)."""
        js = self._jetstream()
        with contextlib.suppress(NotFoundError, KeyNotFoundError):
            message = await js.get_last_msg(EVENTS_STREAM, events_subject(self.settings.namespace, app, run_id))
            return RunStatus.running if message.data else RunStatus.queued
        return RunStatus.queued

    # -- runs -------------------------------------------------------------------------------------------

    async def submit(self, request: RunRequest) -> asyncio.Future[RunResult]:
        """Publish a run; the returned future completes when its result is written."""
        js = self._jetstream()
        key = result_key(request.namespace, request.app, request.run_id)
        future: asyncio.Future[RunResult] = asyncio.get_running_loop().create_future()
        self._waiters[key] = future  # before publishing: the result may come back before publish() returns
        future.add_done_callback(lambda _: self._waiters.pop(key, None))
        try:
            await js.publish(
                runs_subject(request.namespace, request.app),
                request.model_dump_json().encode(),
                headers={"Nats-Msg-Id": request.run_id},
            )
        except Exception as error:
            future.cancel()
            raise Unavailable(f"could not queue the run: {error}") from error
        return future

    async def wait(self, future: asyncio.Future[RunResult], timeout: float) -> RunResult | None:
        """The result, or None when it is not there within ``timeout`` seconds (the run goes on)."""
        try:
            return self._remember(await asyncio.wait_for(asyncio.shield(future), timeout))
        except TimeoutError:
            return None

    async def result(self, app: str, run_id: str) -> RunResult | None:
        """A final result, from memory or the results bucket."""
        if run_id in self._recent:
            return self._recent[run_id]
        self._jetstream()
        result = await self._read(result_key(self.settings.namespace, app, run_id))
        return self._remember(result) if result else None

    async def find_app(self, run_id: str) -> str | None:
        """Which app a run belongs to, from its stored result or events (for runs another process accepted)."""
        js = self._jetstream()
        for stream, subject in (
            (f"KV_{RESULTS_BUCKET}", f"{_KV_PREFIX}{self.settings.namespace}.*.{run_id}"),
            (EVENTS_STREAM, f"events.{self.settings.namespace}.*.{run_id}"),
        ):
            with contextlib.suppress(NotFoundError, KeyNotFoundError):
                message = await js.get_last_msg(stream, subject)
                return (message.subject or "").split(".")[-2] or None
        return None

    async def cancel(self, request: RunRequest, reason: str) -> RunResult:
        """Record a cancelled result (unless one is final already) and tell the runners to stop the run."""
        self._jetstream()
        assert self._kv is not None
        key = result_key(request.namespace, request.app, request.run_id)
        cancelled = RunResult.of(request, RunStatus.cancelled, error=RunError(kind="cancelled", message=reason))
        try:
            await self._kv.create(key, cancelled.model_dump_json().encode())
        except KeyWrongLastSequenceError:
            existing = await self._read(key)
            if existing is not None:
                return self._remember(existing)
        assert self._nc is not None
        await self._nc.publish(cancel_subject(request.namespace, request.app, request.run_id), b"")
        return self._remember(cancelled)

    async def events(self, app: str, run_id: str) -> AsyncIterator[RunEvent]:
        """Every event of a run so far and then live ones, until its final status."""
        js = self._jetstream()
        queue: asyncio.Queue[RunEvent] = asyncio.Queue()

        async def deliver(msg: Msg) -> None:
            with contextlib.suppress(ValueError):
                queue.put_nowait(RunEvent.model_validate_json(msg.data))

        subscription = await js.subscribe(
            events_subject(self.settings.namespace, app, run_id),
            stream=EVENTS_STREAM,
            cb=deliver,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.ALL,
        )
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=1.0)
                except TimeoutError:
                    # No event for a while: the run may have ended without a final event (events expired, or
                    # the result was written by a cancel). The stored result is the authority.
                    result = await self.result(app, run_id)
                    if result is not None and queue.empty():
                        yield RunEvent(type="status", run_id=run_id, status=result.status)
                        return
                    continue
                yield event
                if event.type == "status" and event.status is not None and event.status.final:
                    return
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
