"""SQL in the runner's parent: `.sql` functions and smart-table requests, on pooled engines, off the event loop.

A `.sql` function runs no user Python, so it needs no child: the parent answers it with
:class:`appyard.sql.answers.Answerer` on a thread pool as big as the runner's concurrency (the event loop never
blocks), in a transaction, with its source's statement timeout and row cap (:mod:`appyard.sql.sources`). The
app's ``timeout_seconds`` bounds the whole run; on timeout or cancel the statement in flight is interrupted in
the database (PostgreSQL's cancel request, SQLite's interrupt) and its transaction rolls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from appyard import diff, execution
from appyard.errors import SqlFailed
from appyard.runs import RunError, TableRequest
from appyard.sql.answers import Answer, Answerer, FollowUp, Work

# After an interrupt the statement ends within moments; a thread still busy after this is left to the
# statement timeout rather than holding the run's result back.
_INTERRUPT_GRACE_SECONDS = 5.0

T = TypeVar("T")


@dataclass
class Outcome:
    """How one function of a run ended: what it changed (unvalidated JSON), printed, and what runs next."""

    changes: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    duration_ms: float = 0.0
    error: RunError | None = None
    follow: FollowUp | None = None

    def then(self, after: Outcome) -> Outcome:
        """This outcome followed by ``after`` (a table's on_edit after the saved edit)."""
        return Outcome(
            diff.merge(self.changes, after.changes),
            self.stdout + after.stdout,
            self.duration_ms + after.duration_ms,
            after.error,
        )


class Queries:
    """Runs one app's SQL in the runner's parent."""

    def __init__(self, sources: Any, threads: int) -> None:
        """``sources``: the runner's :class:`appyard.sql.sources.Sources` (one per process) of the app's sources,
        in its order; None when the app uses no data source (its `.sql` functions then fail saying so)."""
        self.sources = sources
        self.answerer = Answerer(sources)
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="appyard-sql")

    def close(self) -> None:
        """Stop the threads and close every pooled connection."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.sources is not None:
            self.sources.close()

    handles = staticmethod(Answerer.handles)

    async def run(
        self,
        loaded: execution.LoadedPage,
        function: str,
        state: Mapping[str, Any],
        table: TableRequest | None,
        cancel: asyncio.Event,
        timeout: float,
    ) -> Answer:
        """Run a `.sql` function or a table request; raises :class:`SqlFailed`."""
        started = time.perf_counter()
        answer = await self._off_loop(
            cancel, timeout, lambda work: self.answerer.answer(work, loaded, function, state, table)
        )
        answer.duration_ms = (time.perf_counter() - started) * 1000
        return answer

    async def reload(
        self,
        loaded: execution.LoadedPage,
        changes: Mapping[str, Any],
        state: Mapping[str, Any],
        cancel: asyncio.Event,
        timeout: float,
    ) -> dict[str, Any]:
        """First pages of the tables a Python function asked to reload whose fetcher is SQL (else nothing)."""
        if not any(isinstance(value, Mapping) and value.get("reload_requested") for value in changes.values()):
            return {}
        return await self._off_loop(
            cancel, timeout, lambda work: self.answerer.first_pages(work, loaded, changes, state)
        )

    async def _off_loop(self, cancel: asyncio.Event, timeout: float, call: Callable[[Work], T]) -> T:
        work = Work()
        future = asyncio.get_running_loop().run_in_executor(self._pool, call, work)
        cancelled = asyncio.ensure_future(cancel.wait())
        either: set[asyncio.Future[Any]] = {future, cancelled}
        try:
            done, _ = await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancelled.cancel()
        if future in done:
            return future.result()
        why = "cancelled" if cancel.is_set() else "timeout"
        work.interrupt(why)  # the statement stops in the database; its transaction rolls back
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(future), _INTERRUPT_GRACE_SECONDS)
        if why == "cancelled":
            raise SqlFailed(RunError(kind="cancelled", message="the run was cancelled"))
        message = f"the run took longer than the app's timeout of {timeout:g} s and was stopped"
        raise SqlFailed(RunError(kind="timeout", message=message, retryable=True))
