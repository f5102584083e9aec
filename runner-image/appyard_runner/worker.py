"""The runner: pulls an app's runs, executes each in a fresh forked child, stores the result, then acks.

Per run: status "running" → execute in the sandbox (output and progress streamed as events) → the parent
validates the returned context against the page's Context and keeps only what changed → the result is
written to the results bucket (first final result wins, so a cancel that came first stays) → ack.
A run redelivered after a runner died is first looked up in the results bucket, so a run whose result was
already stored is not executed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

import nats
from nats.aio.client import Client, RawCredentials
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from appyard import datadir, diff
from appyard.brokerauth import runner_permissions
from appyard.errors import AppyardError, SqlFailed
from appyard.execution import LoadedPage
from appyard.properties import DataSource
from appyard.runs import (
    RESULTS_BUCKET,
    RUNS_STREAM,
    RunError,
    RunEvent,
    RunRequest,
    RunResult,
    RunStatus,
    consumer_name,
    events_subject,
    result_key,
)

from . import datasources, environment
from .appcode import AppCode
from .consume import PullLoop
from .queries import Outcome, Queries
from .redaction import Redactor
from .sandbox import Limits, Progress, Sandbox, SandboxUnavailable
from .settings import RunnerSettings

log = logging.getLogger("appyard.runner")

_TERMINATING = 3
_WAIT_LOG_SECONDS = 30.0  # how often a runner waiting for its consumer says so again


class Runner:
    """One app's runner process."""

    def __init__(self, settings: RunnerSettings, environ: Mapping[str, str] | None = None) -> None:
        """``environ``: the environment the runner started with (before :func:`.environment.seal`): the data
        sources' URLs are read from it."""
        self.settings = settings
        self.environ = dict(environ or {})
        self.sources: dict[str, DataSource] = {}
        self.queries: Queries | None = None
        self._run_environment: dict[str, str] = {}
        # Only the pages' models, for validating what children return: user code runs in children only.
        self.code = AppCode(settings.workspace, settings.app, functions=False)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._loop: PullLoop | None = None
        self._recovering: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Event] = {}
        self._cancelled: dict[str, float] = {}
        self._stop = asyncio.Event()
        self._reloading = asyncio.Lock()
        self.sandbox: Sandbox | None = None
        self.redactor = Redactor({})

    # -- lifecycle --------------------------------------------------------------------------------------

    def _load_code(self) -> None:
        self.code.load()
        self._settings_changed()

    def _settings_changed(self) -> None:
        # Secrets' values come from this process's environment; the app's properties say which are secret.
        sources = datasources.for_app(
            datasources.declared(self.settings.workspace, self.settings.data_sources), self.code.data_sources
        )
        # In order: the first source is the default of .sql functions that name none (dicts compare unordered).
        if self.queries is None or list(sources.items()) != list(self.sources.items()):
            if self.queries is not None:
                self.queries.close()
            self.sources = sources
            pool = None
            if sources:  # SQLAlchemy loads here, once, and only for an app that uses a database
                from appyard.sql.sources import Sources

                app = self.settings.app
                pool = Sources(
                    sources,
                    app=app,
                    environ=self.environ,
                    data_dir=datadir.data_dir(app),
                    workspace=self.settings.workspace,
                )
            self.queries = Queries(pool, self._capacity)
            # What runs get for appyard.db(): the declarations and each URL (a SQLite default made absolute).
            self._run_environment = pool.child_environment() if pool is not None else {}
        secrets = {name: os.environ[name] for name in self.code.settings.secrets if name in os.environ}
        self.redactor = Redactor({**secrets, **datasources.secrets(sources, self._run_environment)})

    @property
    def _capacity(self) -> int:
        return self.settings.concurrency or self.code.settings.concurrency

    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT, then drain."""
        loop = asyncio.get_running_loop()
        code_changed = asyncio.Event()
        if self.settings.reload:  # watching before loading: a change made while loading is not missed
            self.code.watch(on_change=lambda: loop.call_soon_threadsafe(code_changed.set))
        try:
            self._load_code()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop.set)
            await self.start()
            reload = loop.create_task(self._watch_code(code_changed)) if self.settings.reload else None
            await self._stop.wait()
            log.info(
                "draining: waiting up to %.0f s for %d running runs", self.settings.drain_seconds, len(self._running)
            )
            if reload is not None:
                reload.cancel()
            await self.stop()
        finally:
            self.code.stop_watching()

    async def start(self) -> None:
        settings = self.settings
        credentials = settings.nats_creds
        self._nc = await nats.connect(
            settings.nats_url,
            name=f"appyard-runner-{settings.app}",
            user_credentials=RawCredentials(credentials.get_secret_value()) if credentials else None,
            # Replies come to this app's own inboxes: its credentials allow subscribing to no other.
            inbox_prefix=runner_permissions(settings.namespace, settings.app).inbox_prefix,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            reconnected_cb=self._reconnected,
        )
        self._js = self._nc.jetstream(timeout=5.0)
        if not await self._wait_for_consumer():
            return
        # The bucket's handle without asking for its stream's info (which these credentials may not read); reads go
        # through direct gets whose subject names the key, the only reads the credentials allow.
        self._kv = KeyValue(RESULTS_BUCKET, f"KV_{RESULTS_BUCKET}", f"$KV.{RESULTS_BUCKET}.", self._js, direct=True)
        await self._nc.subscribe(f"cancel.{settings.namespace}.{settings.app}.*", cb=self._on_cancel)
        capacity = self._capacity
        self.sandbox = Sandbox(
            settings.workspace,
            settings.app,
            self._limits(),
            tmp_root=settings.tmp_dir,
            warm=capacity,
            environment=lambda: environment.for_runs(self.code.settings.secrets, self._run_environment),
        )
        await self.sandbox.start()
        self._loop = PullLoop(self._nc, RUNS_STREAM, self._consumer, capacity, self._handle)
        await self._loop.start()
        log.info("runner for app %s ready: %d runs at once", settings.app, capacity)

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop(self.settings.drain_seconds)
        if self.sandbox is not None:
            self.sandbox.close()
        if self.queries is not None:
            self.queries.close()
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()

    @property
    def _consumer(self) -> str:
        return consumer_name(self.settings.namespace, self.settings.app)

    async def _wait_for_consumer(self) -> bool:
        """Until this app's consumer exists (False: the runner was told to stop meanwhile).

        The API creates it for every app it serves (appyard_api.adapters.consumers); the runner's credentials
        allow no creating, updating or deleting consumers, only reading this one's info.
        """
        assert self._js is not None
        waiting_since: float | None = None
        told = 0.0
        while not self._stop.is_set():
            try:
                await self._js.consumer_info(RUNS_STREAM, self._consumer)
            except nats.errors.Error as error:  # not found (yet), no answer, not connected: ask again
                now = time.monotonic()
                if waiting_since is None or now - told >= _WAIT_LOG_SECONDS:
                    waited = f" for {now - waiting_since:.0f} s" if waiting_since is not None else ""
                    log.warning(
                        "waiting%s for consumer %s of stream %s (the API creates it for every app it serves): %s",
                        waited,
                        self._consumer,
                        RUNS_STREAM,
                        getattr(error, "description", None) or error,
                    )
                    waiting_since = waiting_since or now
                    told = now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 0.5)
                continue
            if waiting_since is not None:
                log.info("consumer %s exists now", self._consumer)
            return True
        return False

    async def _reconnected(self) -> None:
        log.info("reconnected to NATS")
        # A restarted server may have lost the consumer: pull again once the API has made it again.
        if self._recovering is not None:
            self._recovering.cancel()
        self._recovering = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        if await self._wait_for_consumer() and self._loop is not None:
            self._loop.reset()

    async def _watch_code(self, changed: asyncio.Event) -> None:
        while True:
            await changed.wait()
            changed.clear()
            await self._reload_if_changed()

    async def _reload_if_changed(self) -> None:
        async with self._reloading:  # one reload at a time; runs that arrive meanwhile wait for it
            if self.code.reload_if_changed():
                self._settings_changed()
                if self.sandbox is not None:
                    try:
                        await self.sandbox.restart(self._limits())  # a new zygote with the new code
                    except SandboxUnavailable as error:
                        why = self.redactor.text(str(error))
                        log.error("the new code of app %s cannot be loaded: %s", self.settings.app, why)

    # -- cancel -----------------------------------------------------------------------------------------

    async def _on_cancel(self, msg: Msg) -> None:
        run_id = msg.subject.rsplit(".", 1)[-1]
        event = self._running.get(run_id)
        if event is not None:
            event.set()
        now = time.monotonic()
        self._cancelled[run_id] = now
        for stale in [key for key, at in self._cancelled.items() if now - at > 3600]:
            del self._cancelled[stale]

    # -- runs -------------------------------------------------------------------------------------------

    def _event(self, request: RunRequest, event: RunEvent) -> None:
        assert self._nc is not None
        subject = events_subject(request.namespace, request.app, request.run_id)
        asyncio.get_running_loop().create_task(self._nc.publish(subject, event.model_dump_json().encode()))

    async def _stored(self, key: str) -> bool:
        assert self._kv is not None
        try:
            await self._kv.get(key)
        except KeyNotFoundError:
            return False
        return True

    async def _handle(self, msg: Msg) -> None:
        try:
            request = RunRequest.model_validate_json(msg.data)
        except ValidationError as error:
            log.error("dropping a malformed run message: %s", error)
            await msg.term()
            return
        if (request.namespace, request.app) != (self.settings.namespace, self.settings.app):
            # The consumer only sees this app's subject; a request naming another app is forged or misrouted.
            log.error("dropping a run of app %s/%s sent to app %s", request.namespace, request.app, self.settings.app)
            await msg.term()
            return
        key = result_key(request.namespace, request.app, request.run_id)
        attempt = msg.metadata.num_delivered
        if request.run_id in self._cancelled or (attempt > 1 and await self._stored(key)):
            await msg.ack()
            return
        cancel = asyncio.Event()
        self._running[request.run_id] = cancel
        heartbeat = _Heartbeat(msg, self.code.settings.ack_wait_seconds / _TERMINATING)
        try:
            result = await self._execute(request, attempt, cancel)
            await self._store(key, result)
            await msg.ack()
            if log.isEnabledFor(logging.INFO):  # the fields cost nothing when INFO is off
                _log_finished(result)
        finally:
            heartbeat.stop()
            self._running.pop(request.run_id, None)

    def _limits(self) -> Limits:
        return Limits.of(self.code.settings, self.settings.max_payload_bytes)

    def _failed(self, request: RunRequest, attempt: int, error: RunError, **fields: Any) -> RunResult:
        status = RunStatus.cancelled if error.kind == "cancelled" else RunStatus.failed
        return RunResult.of(request, status, error=error, attempt=attempt, **fields)

    async def _execute(self, request: RunRequest, attempt: int, cancel: asyncio.Event) -> RunResult:
        assert self._nc is not None
        running = RunEvent(type="status", run_id=request.run_id, status=RunStatus.running)
        # Published in line (it only joins the connection's write buffer): no task per run for it.
        await self._nc.publish(
            events_subject(request.namespace, request.app, request.run_id), running.model_dump_json().encode()
        )
        if self.settings.reload:
            # In development a run sees the files as the watcher last saw them (a save within a few tens of ms).
            await self._reload_if_changed()
        try:
            page = self.code.page(request.page)
        except AppyardError as error:
            return self._failed(request, attempt, RunError(kind="not_found", message=str(error)))
        outcome = await self._call(request, page, request.function, request.state, cancel)
        if outcome.error is None and outcome.follow is not None:  # a saved edit: the table's on_edit runs next
            follow = outcome.follow
            outcome = outcome.then(await self._call(request, page, follow.function, follow.state, cancel))
        fields: dict[str, Any] = {"stdout": outcome.stdout, "duration_ms": outcome.duration_ms}
        if outcome.error is not None:
            return self._failed(request, attempt, outcome.error, **fields)
        try:
            # What a child returned is untrusted, and rows from a database are not yet JSON: validate against
            # the page's Context here, in the parent, and keep only what changed.
            merged = diff.merge(page.blank_context, outcome.changes)
            context = page.context.model_validate(merged).model_dump(mode="json")
        except ValidationError as error:
            message = f"{request.function} returned an invalid context: {error.error_count()} problem(s)"
            return self._failed(request, attempt, RunError(kind="invalid_context", message=message), **fields)
        context = diff.select(context, outcome.changes)
        return RunResult.of(request, RunStatus.succeeded, context=context, attempt=attempt, **fields)

    async def _call(
        self, request: RunRequest, page: LoadedPage, function: str, state: dict[str, Any], cancel: asyncio.Event
    ) -> Outcome:
        """Run one function: SQL (and table requests) here in the parent, Python in a child."""
        assert self.queries is not None
        timeout = self.code.settings.timeout_seconds
        if Queries.handles(page, function, request.table if function == request.function else None):
            table = request.table if function == request.function else None
            try:
                answer = await self.queries.run(page, function, state, table, cancel, timeout)
            except SqlFailed as failed:
                return Outcome(error=failed.error)
            return Outcome(answer.changes, answer.stdout, answer.duration_ms, follow=answer.follow)
        outcome = await self._python(request, function, state, cancel)
        if outcome.error is None:  # a table whose fetcher is SQL and that the function asked to reload
            try:
                pages = await self.queries.reload(page, outcome.changes, state, cancel, timeout)
            except SqlFailed as failed:
                return Outcome(outcome.changes, outcome.stdout, outcome.duration_ms, error=failed.error)
            outcome.changes = diff.merge(outcome.changes, pages)
        return outcome

    async def _python(
        self, request: RunRequest, function: str, state: dict[str, Any], cancel: asyncio.Event
    ) -> Outcome:
        assert self.sandbox is not None
        # Output arrives in chunks; a secret split between two is held back until it can be redacted whole.
        output = self.redactor.stream()
        try:
            sandboxed = await self.sandbox.run(
                {"page": request.page, "function": function, "state": state},
                on_output=lambda text: self._log(request, output.feed(text)),
                on_progress=lambda progress: self._progress(request, progress),
                cancel=cancel,
            )
        except SandboxUnavailable as error:
            return Outcome(error=RunError(kind="load", message=str(error), retryable=True))
        self._log(request, output.flush())
        outcome = Outcome(stdout=sandboxed.output, duration_ms=sandboxed.duration_ms)
        if sandboxed.error is not None or sandboxed.value is None:
            outcome.error = sandboxed.error or RunError(kind="crashed", message="the run ended without a result")
            return outcome
        outcome.changes = sandboxed.value
        return outcome

    def _log(self, request: RunRequest, text: str) -> None:
        if text:
            self._event(request, RunEvent(type="log", run_id=request.run_id, text=text))

    def _progress(self, request: RunRequest, progress: Progress) -> None:
        message = self.redactor.text(progress.message) if isinstance(progress.message, str) else None
        event = RunEvent(type="progress", run_id=request.run_id, done=progress.done, total=progress.total, text=message)
        self._event(request, event)

    async def _store(self, key: str, result: RunResult) -> None:
        assert self._kv is not None
        # Every result leaves through here: its output, context and error are redacted, its size bounded.
        payload = self.redactor.payload(result, self.settings.max_payload_bytes)
        with contextlib.suppress(KeyWrongLastSequenceError):  # a final result (a cancel) is there already
            await self._kv.create(key, payload)
        request_status = RunEvent(type="status", run_id=result.run_id, status=result.status)
        assert self._nc is not None
        subject = events_subject(self.settings.namespace, result.app, result.run_id)
        await self._nc.publish(subject, request_status.model_dump_json().encode())


def _log_finished(result: RunResult) -> None:
    """One line per finished run: ids, names, status and timing only, never its state, context, output or error
    message (those may hold what the redactor guards; the result in the bucket has them, redacted)."""
    error_kind = result.error.kind if result.error is not None else None
    if error_kind is None:
        said = "ok"
    elif error_kind == "cancelled":
        said = "cancelled"
    else:
        said = f"failed ({error_kind})"
    fields: dict[str, Any] = {
        "run_id": result.run_id,
        "app": result.app,
        "page": result.page,
        "function": result.function,
        "status": result.status.value,
        "duration_ms": round(result.duration_ms, 3),
        "attempt": result.attempt,
    }
    if error_kind is not None:
        fields["error_kind"] = error_kind
    log.info("run %s %s: %s in %.1f ms", result.run_id, result.function, said, result.duration_ms, extra=fields)


class _Heartbeat:
    """Tells the server a long run is alive every ``interval`` seconds, so it is not redelivered to another runner.

    A timer rather than a task: most runs end long before the first beat, and then cost one cancelled timer.
    (The app's ack_wait is also its consumer's: the API makes the consumer from the same properties.)
    """

    def __init__(self, msg: Msg, interval: float) -> None:
        self._msg = msg
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._beating: asyncio.Task[None] | None = None
        self._timer = self._loop.call_later(interval, self._beat)

    def _beat(self) -> None:
        self._timer = self._loop.call_later(self._interval, self._beat)
        if self._beating is None or self._beating.done():
            self._beating = self._loop.create_task(self._in_progress())

    async def _in_progress(self) -> None:
        with contextlib.suppress(Exception):
            await self._msg.in_progress()

    def stop(self) -> None:
        self._timer.cancel()
        if self._beating is not None:
            self._beating.cancel()
