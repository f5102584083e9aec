"""Runs: check a request, validate its state, dispatch it, and wait (bounded) for the result."""

from __future__ import annotations

import time
from collections import OrderedDict

from pydantic import ValidationError

from appyard.errors import Issue, NotFound, StateInvalid, TableRefused
from appyard.runs import RunRequest, RunResult, RunStatus, new_run_id
from appyard.sql.requests import check_table_request
from appyard.validation import format_path

from .. import metrics
from ..adapters.dispatch import Dispatcher
from ..adapters.store import FileStore
from ..errors import Conflict, Forbidden, RequestInvalid, TooLarge, Unavailable
from ..identity import Identity, allowed, authorize
from ..schemas import RunCreate, RunPublic
from ..settings import ApiSettings

_REMEMBERED = 4096


def public(result: RunResult) -> RunPublic:
    # The result was validated when it was read: its fields are copied, not validated again.
    return RunPublic.model_construct(
        run_id=result.run_id,
        status=result.status,
        context=result.context,
        stdout=result.stdout,
        error=result.error,
        duration_ms=result.duration_ms,
    )


class RunService:
    """What the run routes do; one per process."""

    def __init__(self, settings: ApiSettings, store: FileStore, dispatcher: Dispatcher) -> None:
        self.settings = settings
        self.store = store
        self.dispatcher = dispatcher
        self._requests: OrderedDict[str, RunRequest] = OrderedDict()

    def _parse(self, body: bytes) -> RunCreate:
        if len(body) > self.settings.max_request_bytes:
            metrics.REJECTED.labels("too_large").inc()
            raise TooLarge(
                f"the request is {len(body)} bytes; the limit is {self.settings.max_request_bytes}",
                [{"path": "$", "message": "request too large", "limit_bytes": self.settings.max_request_bytes}],
            )
        try:
            return RunCreate.model_validate_json(body)
        except ValidationError as error:
            metrics.REJECTED.labels("malformed").inc()
            details = [
                {"path": format_path(tuple(item["loc"])), "message": item["msg"]}
                for item in error.errors(include_url=False)
            ]
            raise RequestInvalid("the run request is not valid", details) from None

    def prepare(self, identity: Identity, app: str, page: str, body: bytes) -> RunRequest:
        """A validated run request, or an error naming what is wrong (404, 403 or 422)."""
        authorize(identity, "use", app, self.store.app(app).properties)
        found = self.store.page(app, page)
        create = self._parse(body)
        if (why := self.store.unavailable(app)) is not None:
            raise Unavailable(why)
        if create.function not in found.functions:
            known = ", ".join(sorted(found.functions)) or "none"
            raise NotFound(f"page {app}/{page} has no function {create.function!r} (functions: {known})")
        if create.table is not None:
            try:
                check_table_request(found, create.function, create.table)
            except TableRefused as refused:
                metrics.REJECTED.labels("table_refused").inc()
                error = Forbidden if refused.forbidden else RequestInvalid
                raise error(str(refused), [{"path": "$.table", "message": str(refused)}]) from None
        models = self.store.models(found)
        try:
            models.state.model_validate(create.state)
        except ValidationError as error:
            metrics.REJECTED.labels("invalid_state").inc()
            raise StateInvalid(
                [
                    Issue("state", format_path(tuple(item["loc"])), item["msg"].removeprefix("Value error, "))
                    for item in error.errors(include_url=False)
                ]
            ) from None
        # Every field is checked by now (the state against the page's State): built without validating again.
        return RunRequest.model_construct(
            run_id=create.run_id or new_run_id(),
            namespace=self.settings.namespace,
            app=app,
            page=page,
            function=create.function,
            state=create.state,
            submitted_at=time.time(),
            user=identity.name,
            table=create.table,
        )

    def _remember(self, request: RunRequest) -> None:
        self._requests[request.run_id] = request
        while len(self._requests) > _REMEMBERED:
            self._requests.popitem(last=False)

    async def start(self, request: RunRequest, wait: bool) -> RunPublic:
        """Dispatch; with ``wait``, return the result if it comes within the bounded wait."""
        started = time.perf_counter()
        # Clients choose run ids (to follow events at once); someone else's id must not make their run ours.
        known = self._requests.get(request.run_id)
        if known is not None and known.user != request.user:
            raise Conflict(f"run id {request.run_id} is taken; leave run_id out to get a new one")
        future = await self.dispatcher.submit(request)
        self._remember(request)
        if not wait:
            return RunPublic(run_id=request.run_id, status=RunStatus.queued)
        metrics.WAITING.inc()
        try:
            result = await self.dispatcher.wait(future, self.settings.run_wait_seconds)
        finally:
            metrics.WAITING.dec()
        if result is None:
            return RunPublic(
                run_id=request.run_id, status=await self.dispatcher.last_status(request.app, request.run_id)
            )
        if result.user is not None and result.user != request.user:  # a duplicate of another person's run
            raise Conflict(f"run id {request.run_id} is taken; leave run_id out to get a new one")
        metrics.RUNS.labels(request.app, result.status.value).inc()
        metrics.RUN_SECONDS.labels(request.app).observe(time.perf_counter() - started)
        return public(result)

    async def request_of(self, run_id: str) -> RunRequest:
        """The request of a run this process accepted, or a stand-in found from its stored result or events."""
        if run_id in self._requests:
            return self._requests[run_id]
        app = await self.dispatcher.find_app(run_id)
        if app is None:
            raise NotFound(f"no run {run_id!r} (finished runs are kept {self.settings.results_ttl_seconds} s)")
        result = await self.dispatcher.result(app, run_id)
        return RunRequest(
            run_id=run_id,
            namespace=self.settings.namespace,
            app=app,
            page=result.page if result else "",
            function=result.function if result else "",
            submitted_at=0.0,
            user=result.user if result else None,
        )

    async def readable(self, identity: Identity, run_id: str) -> RunRequest:
        """The run's request, when the caller may read (or cancel) it: editors every run, users their own."""
        request = await self.request_of(run_id)
        app = self.store.app(request.app).properties
        if allowed(identity, "edit", request.app, app):
            return request
        authorize(identity, "use", request.app, app)
        # The stored result names who really started the run (a remembered request may be a re-used run id).
        result = await self.dispatcher.result(request.app, run_id)
        owner = result.user if result is not None else request.user
        if owner is None or owner != identity.name:
            raise Forbidden(f"{identity.name} may read only their own runs of app {request.app!r}")
        return request

    async def status(self, identity: Identity, run_id: str) -> RunPublic:
        request = await self.readable(identity, run_id)
        result = await self.dispatcher.result(request.app, run_id)
        if result is not None:
            return public(result)
        return RunPublic(run_id=run_id, status=await self.dispatcher.last_status(request.app, run_id))

    async def cancel(self, identity: Identity, run_id: str) -> RunPublic:
        request = await self.readable(identity, run_id)
        return public(await self.dispatcher.cancel(request, f"cancelled by {identity.name}"))
