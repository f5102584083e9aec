"""Answering a `.sql` function or a table request: what it changes in the page's context (no threads here).

The runner's parent calls this on its thread pool (``appyard_runner.queries`` adds the timeout, the cancel and
the pool); ``appyard run`` calls it directly. Each answer is a set of context changes, not yet validated
against the page's Context (the caller does that, as for a Python function):

- a plain run of a table's `.sql` fetcher: the table's first page (``data``, ``total``, ``offset``, ``more``);
- a run with a :class:`~appyard.runs.TableRequest`: the page the viewer asked for, after an update (a stale one
  answers ``conflicts``), an insert or a delete, all in one transaction; a saved update names the table's
  ``on_edit`` to run next, with ``state.<table>`` the edited row and its ``edited_cell``;
- a `.sql` statement: the first pages of its ``-- reload:`` tables and its ``-- message:`` (on the first
  reloaded table, else as output);
- :meth:`Answerer.first_pages`: tables a Python function asked to ``reload()`` whose fetcher is SQL.

Every connection a run uses is registered with its :class:`Work`, so another thread can interrupt the
statement in the database (PostgreSQL's cancel request, SQLite's interrupt); its transaction then rolls back.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pydantic_core
from pydantic import BaseModel, ValidationError

from .. import diff, execution
from ..catalog.blocks import Table
from ..errors import AppyardError, NotFound, SqlFailed, StateInvalid, TableRefused
from ..runs import RunError, TableQuery, TableRequest
from ..scripts import FunctionInfo
from ..workspace import Page, Workspace

if TYPE_CHECKING:
    from .sources import Sources
from .requests import check_table_request, first_query, is_sql, sql_tables, table_of
from .text import SqlScript


@dataclass
class FollowUp:
    """A function to run after this one (a table's ``on_edit`` after a saved cell edit)."""

    function: str
    state: dict[str, Any]


@dataclass
class Answer:
    """What a SQL run changed in the context, what it prints, and what runs next."""

    changes: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    follow: FollowUp | None = None
    duration_ms: float = 0.0


class Stopped(Exception):
    """The run was stopped (cancel or timeout) while it used the database."""


class Work:
    """One run's connections in use, so another thread can interrupt them (cancel, timeout)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self.stopped: str | None = None

    def check(self) -> None:
        """Raise :class:`Stopped` when the run was stopped (between statements, and before a commit)."""
        if self.stopped is not None:
            raise Stopped(self.stopped)

    @contextlib.contextmanager
    def using(self, connection: Any) -> Iterator[None]:
        """Register a ``sqlalchemy.Connection`` for the duration of the block."""
        dbapi = connection.connection.dbapi_connection
        with self._lock:
            self.check()
            self._connections.append(dbapi)
        try:
            yield
        finally:
            with self._lock:
                self._connections.remove(dbapi)

    def interrupt(self, why: str) -> None:
        """Stop the run: its statements in flight are cancelled in the database, the next ones never start."""
        with self._lock:
            self.stopped = why
            for dbapi in self._connections:
                _interrupt(dbapi)


def _interrupt(dbapi: Any) -> None:
    """Ask the database to stop the statement running on ``dbapi`` (safe from another thread)."""
    with contextlib.suppress(Exception):
        if hasattr(dbapi, "cancel_safe"):  # psycopg ≥ 3.2
            dbapi.cancel_safe(timeout=2.0)
        elif hasattr(dbapi, "cancel"):  # psycopg 3.0/3.1
            dbapi.cancel()
        elif hasattr(dbapi, "interrupt"):  # sqlite3
            dbapi.interrupt()
        # PyMySQL has no cancel: MySQL's max_execution_time ends the statement.


def run_error(error: Exception) -> RunError:
    """Any failure of a SQL run as the run's error (data-source messages never carry a URL)."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..errors import DataSourceError, TableRequestInvalid

    if isinstance(error, SqlFailed):
        return error.error
    if isinstance(error, Stopped):
        return RunError(kind="cancelled", message="the run was cancelled")
    if isinstance(error, DataSourceError):
        return error.run_error()
    if isinstance(error, SQLAlchemyError):  # a driver's error SQLAlchemy wrapped: its first line, no SQL or values
        orig = getattr(error, "orig", None)
        lines = str(orig if orig is not None else error).strip().splitlines()
        return RunError(kind="data_source", message=f"the database refused the statement: {lines[0] if lines else ''}")
    if isinstance(error, (StateInvalid, TableRequestInvalid)):  # the request does not fit the page or the table
        return RunError(kind="invalid_state", message=str(error))
    if isinstance(error, (NotFound, TableRefused)):
        return RunError(kind="not_found", message=str(error))
    if isinstance(error, AppyardError):
        return RunError(kind="exception", message=str(error))
    return RunError(kind="exception", message=f"{type(error).__name__}: {error}")


class Answerer:
    """Answers one app's SQL runs from its pooled :class:`~appyard.sql.sources.Sources`."""

    def __init__(self, sources: Sources | None) -> None:
        """``sources``: the app's sources, in its order (the first is the default); None when it uses none."""
        self.sources = sources

    @staticmethod
    def handles(loaded: execution.LoadedPage, function: str, table: TableRequest | None) -> bool:
        """Whether the run is SQL's to answer (a `.sql` function or a table request), not a Python child's."""
        return table is not None or is_sql(loaded.page, function)

    def answer(
        self,
        work: Work,
        loaded: execution.LoadedPage,
        function: str,
        state: Mapping[str, Any],
        table: TableRequest | None = None,
    ) -> Answer:
        """Run a `.sql` function or a table request; raises :class:`SqlFailed` with the run's error."""
        try:
            return self._answer(work, loaded, function, state, table)
        except Exception as error:
            raise SqlFailed(run_error(error)) from None

    def first_pages(
        self, work: Work, loaded: execution.LoadedPage, changes: Mapping[str, Any], state: Mapping[str, Any]
    ) -> dict[str, Any]:
        """First pages of the tables ``changes`` asks to reload (``reload_requested``) whose fetcher is SQL."""
        wanted = [
            table
            for table in sql_tables(loaded.page)
            if isinstance(changes.get(table.name), Mapping) and changes[table.name].get("reload_requested")
        ]
        if not wanted:
            return {}
        try:
            return self._first_pages(work, loaded, wanted, execution.validate_state(loaded, state))
        except Exception as error:
            raise SqlFailed(run_error(error)) from None

    # -- the parts ------------------------------------------------------------------------------------------

    def _answer(
        self,
        work: Work,
        loaded: execution.LoadedPage,
        function: str,
        state: Mapping[str, Any],
        table: TableRequest | None,
    ) -> Answer:
        page = loaded.page
        info = page.function(function)
        state_model = execution.validate_state(loaded, state)
        if table is not None:
            return self._table_request(work, loaded, state_model, function, table)
        script = _script(info)
        fetched = [block for block in sql_tables(page) if block.fetcher == function]
        if script.is_query:
            if not fetched:
                message = f"{function} is a query: bind it as a table's fetcher (it returns rows and changes nothing)"
                raise SqlFailed(RunError(kind="exception", message=message))
            return Answer(changes=self._first_pages(work, loaded, fetched, state_model))
        changed = self._statement(work, loaded, script, state_model)
        reloaded = [table_of(page, name) for name in script.reload]
        changes = self._first_pages(work, loaded, reloaded, state_model) if reloaded else {}
        stdout = ""
        if script.message and reloaded:
            changes[reloaded[0].name].update(message=script.message, message_type="success")
        elif script.message:
            stdout = script.message + "\n"
        elif changed >= 0:
            stdout = f"{changed} row{'s' if changed != 1 else ''} affected\n"
        return Answer(changes=changes, stdout=stdout)

    def _source(self, script: SqlScript) -> str:
        name = script.source or (self.sources.default if self.sources is not None else None)
        if name is None or self.sources is None:
            raise SqlFailed(
                RunError(
                    kind="data_source",
                    message="the app uses no data source: list one in the app's data_sources (the workspace's "
                    "properties.json declares them), or name one with `-- source: <name>`",
                )
            )
        return str(name)

    @contextlib.contextmanager
    def _transaction(self, work: Work, source: str) -> Iterator[Any]:
        assert self.sources is not None  # _source() raised otherwise
        with self.sources.transaction(source) as connection, work.using(connection):
            yield connection
            work.check()  # stopped meanwhile: raise inside the transaction, so it rolls back

    def _statement(self, work: Work, loaded: execution.LoadedPage, script: SqlScript, state_model: BaseModel) -> int:
        from .execution import bind_state, statement

        source = self._source(script)
        bound = bind_state(script, loaded.page.properties, state_model, source=source)
        with self._transaction(work, source) as connection:
            return int(connection.execute(statement(script, bound)).rowcount)

    def _first_pages(
        self, work: Work, loaded: execution.LoadedPage, tables: list[Table], state_model: BaseModel
    ) -> dict[str, Any]:
        return {table.name: self._page(work, loaded, state_model, table, first_query(table)) for table in tables}

    def _facts(self, loaded: execution.LoadedPage, table: Table) -> Any:
        database = loaded.page.database
        facts = database.tables.get(table.name) if database is not None else None
        if facts is None:
            raise SqlFailed(
                RunError(
                    kind="data_source",
                    message=f"page {loaded.page.app}/{loaded.page.name} has no database facts for table "
                    f"{table.name}: run `appyard gen` with the database reachable and commit database.json",
                )
            )
        return facts

    def _page(
        self, work: Work, loaded: execution.LoadedPage, state_model: BaseModel, table: Table, query: TableQuery
    ) -> dict[str, Any]:
        assert table.fetcher is not None
        script = _script(loaded.page.function(table.fetcher))
        facts = self._facts(loaded, table)
        with self._transaction(work, self._source(script)) as connection:
            return self._fetch(connection, loaded, state_model, table, script, facts, query)

    def _fetch(
        self,
        connection: Any,
        loaded: execution.LoadedPage,
        state_model: BaseModel,
        table: Table,
        script: SqlScript,
        facts: Any,
        query: TableQuery,
        bound: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The page ``query`` asks for; ``bound``: the fetcher's parameters when the caller has bound them."""
        from .smart import DeclaredFilter, fetch_page

        name = self._source(script)
        if bound is None:
            bound = self._bind(loaded, script, state_model, name)
        assert self.sources is not None  # _source() raised otherwise
        max_rows = self.sources.options(name).options.max_rows
        filters = cast("Sequence[DeclaredFilter]", table.filters)  # TableFilter's operator is a narrower str
        found = fetch_page(connection, connection.dialect, script, bound, facts, query, filters, max_rows)
        return {"data": found.rows, "total": found.total, "offset": found.offset, "more": found.more}

    @staticmethod
    def _bind(loaded: execution.LoadedPage, script: SqlScript, state_model: BaseModel, source: str) -> dict[str, Any]:
        """The fetcher's parameters from the state, as SQLAlchemy bind parameters by bind name."""
        from .execution import bind_state

        values = bind_state(script, loaded.page.properties, state_model, source=source)
        return {bind: value.parameter(bind) for bind, value in values.items()}

    def _table_request(
        self, work: Work, loaded: execution.LoadedPage, state_model: BaseModel, function: str, request: TableRequest
    ) -> Answer:
        from .smart import delete_row, insert_row, update_cell

        page = loaded.page
        table = check_table_request(page, function, request)  # the API checked; what the broker brings is checked
        assert table.fetcher is not None
        script = _script(page.function(table.fetcher))
        facts = self._facts(loaded, table)
        # an update or delete changes only a row the table's query shows with this state (not any key sent)
        source = self._source(script)
        bound = self._bind(loaded, script, state_model, source)
        fetcher = (script, bound)
        conflict = None
        with self._transaction(work, source) as connection:  # the change and the page it shows
            if request.action == "update":
                assert request.edit is not None
                conflict = update_cell(connection, facts, request.edit, fetcher=fetcher)
            elif request.action == "insert":
                insert_row(connection, facts, request.values or {})
            elif request.action == "delete":
                conflict = delete_row(connection, facts, request.key or {}, fetcher=fetcher)
            work.check()
            changes = self._fetch(connection, loaded, state_model, table, script, facts, request.query, bound)
        if conflict is not None:
            changes["conflicts"] = [conflict.model_dump(mode="json")]
        follow = None
        if request.action == "update" and conflict is None and table.on_edit:
            follow = FollowUp(table.on_edit, _edited_state(state_model, table, request, changes))
        return Answer(changes={table.name: changes}, follow=follow)


def _script(info: FunctionInfo) -> SqlScript:
    if info.sql is None:
        raise NotFound(f"{info.name} is a Python function, not a .sql one")
    return info.sql


def _edited_state(
    state_model: BaseModel, table: Table, request: TableRequest, page: Mapping[str, Any]
) -> dict[str, Any]:
    """The state ``on_edit`` sees: ``state.<table>`` is the edited row (as saved) with ``edited_cell``."""
    edit = request.edit
    assert edit is not None
    rows = page.get("data") or []
    row = next((row for row in rows if all(row.get(k) == v for k, v in edit.key.items())), None)
    if row is None:  # the edited row left the page (a filter no longer matches it): what is known of it
        row = {**edit.key, edit.column: edit.new}
    fields = type(getattr(state_model, table.name)).model_fields
    edited = {name: value for name, value in row.items() if name in fields and name != "edited_cell"}
    edited = pydantic_core.to_jsonable_python(edited)  # database values (Decimal, dates) as the browser sends them
    edited["edited_cell"] = {"column": edit.column, "old": edit.old, "new": edit.new}
    current = state_model.model_dump(mode="json", exclude_unset=True)
    return diff.merge({k: v for k, v in current.items() if k != table.name}, {table.name: edited})


def local_sources(found: Workspace, app: str) -> Sources:
    """The sources of ``app`` for this process (``appyard run``): URLs from its environment, else the workspace's
    ``.env``; a SQLite ``default_url`` in the app's data folder."""
    from .. import datadir
    from .dotenv import read_dotenv
    from .sources import Sources

    environ = {**read_dotenv(found.root / ".env"), **os.environ}
    declared = found.properties.data_sources
    used = {name: declared[name] for name in found.app(app).properties.data_sources if name in declared}
    return Sources(used, app=app, environ=environ, data_dir=datadir.data_dir(app), workspace=found.root)


def run_locally(found: Workspace, page: Page, function: str, state: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """``appyard run`` of a `.sql` function: its context changes (validated) and output, in this process.

    Raises :class:`SqlFailed`.
    """
    loaded = execution.load(page, found.root, functions=False)
    sources = local_sources(found, page.app)
    try:
        answer = Answerer(sources).answer(Work(), loaded, function, state)
    finally:
        sources.close()
    try:
        context = loaded.context.model_validate(diff.merge(loaded.blank_context, answer.changes))
    except ValidationError as error:
        message = f"{function} answered an invalid context: {error.error_count()} problem(s)"
        raise SqlFailed(RunError(kind="invalid_context", message=message)) from None
    return diff.select(context.model_dump(mode="json"), answer.changes), answer.stdout
