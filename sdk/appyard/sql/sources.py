"""Data sources: pooled engines by name, and transactions bounded by each source's statement timeout.

    sources = Sources(workspace.data_sources, app="orders", workspace=Path("workspace"))
    with sources.transaction("shop") as connection:      # BEGIN … COMMIT (ROLLBACK on error)
        connection.execute(text("SELECT 1"))
    sources.close()

- An engine is created on first use of its source. Its URL comes from the environment variable the source names
  (``env_name``); a SQLite source may instead have a ``default_url``, relative to the app's data folder, created
  from its ``seed`` file once (built in a temporary file, then linked into place, so no process sees half a seed).
- No ``pool_pre_ping``: the statement that sets the timeout at the start of every transaction (PostgreSQL ``SET
  LOCAL statement_timeout``, MySQL ``SET SESSION max_execution_time``) is the liveness check. When it finds the
  pooled connection dead (a restarted server, a terminated backend) the pool is invalidated and the transaction is
  started once more on a new connection; a second failure is :class:`~.errors.SourceUnreachable`. SQLite has no
  server: a progress handler interrupts a statement past the timeout.
- Errors raised by the database inside a transaction leave it as :class:`~.errors.DataSourceError` subclasses
  whose messages never hold the URL or its password.

Python scripts use :func:`db` (exported as ``appyard.db``): the process's own :class:`Sources`, built from
``APPYARD_DATA_SOURCES`` and the URL variables the runner sets (:meth:`Sources.child_environment`), or the one
given to :func:`use` (``appyard run``, tests).
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url

from ..datadir import data_dir as app_data_dir
from ..errors import (
    DataSourceError,
    SourceNotConfigured,
    SourceUndeclared,
    SourceUnreachable,
    StatementFailed,
    StatementTimeout,
)
from ..properties import AppProperties, DataSource, WorkspaceProperties
from .redaction import redact

DECLARATIONS_ENV = "APPYARD_DATA_SOURCES"
"""Environment variable of runner children: JSON ``{name: DataSource}`` of the app's sources (no URLs)."""

APP_ENV = "APPYARD_APP"
"""Environment variable naming the app (for a SQLite ``default_url`` relative to its data folder)."""

_BACKENDS = {"postgres": ("postgresql",), "sqlite": ("sqlite",), "mysql": ("mysql", "mariadb")}
# A URL without a driver gets the one the SDK installs (SQLAlchemy's own default, psycopg2, is not installed).
_DEFAULT_DRIVERS = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
_DEADLINE = "appyard_deadline"
_DECLARATIONS: TypeAdapter[dict[str, DataSource]] = TypeAdapter(dict[str, DataSource])


@dataclass
class _Source:
    """One declared source with its engine and the strings its errors must never show."""

    name: str
    declared: DataSource
    engine: Engine
    secrets: tuple[str, ...]
    timeout_ms: int = field(init=False)

    def __post_init__(self) -> None:
        self.timeout_ms = self.declared.options.statement_timeout_ms


class Sources:
    """The data sources an app may use, each with a lazily created, pooled engine.

    ``declared`` holds the app's sources in the order of its ``data_sources`` (the first is the default source of
    its `.sql` functions). Safe to use from many threads.
    """

    def __init__(
        self,
        declared: Mapping[str, DataSource],
        *,
        app: str | None = None,
        environ: Mapping[str, str] = os.environ,
        data_dir: Path | None = None,
        workspace: Path | None = None,
    ) -> None:
        self.declared = dict(declared)
        self.app = app
        self._environ = environ
        self._data_dir = data_dir
        self._workspace = workspace
        self._sources: dict[str, _Source] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_app(
        cls,
        app: str,
        properties: AppProperties,
        workspace_properties: WorkspaceProperties,
        *,
        workspace: Path | None = None,
        environ: Mapping[str, str] = os.environ,
        data_dir: Path | None = None,
    ) -> Sources:
        """The sources app ``app`` declares (its ``data_sources``, in order), as the workspace describes them.

        A name the workspace does not describe is :class:`~.errors.SourceUndeclared` (validation reports it first).
        """
        described = workspace_properties.data_sources
        declared: dict[str, DataSource] = {}
        for name in properties.data_sources:
            if name not in described:
                raise SourceUndeclared(name, described)
            declared[name] = described[name]
        return cls(declared, app=app, environ=environ, data_dir=data_dir, workspace=workspace)

    @property
    def default(self) -> str | None:
        """The source of `.sql` functions that name none: the first declared one."""
        return next(iter(self.declared), None)

    def kind(self, name: str) -> str:
        """The declared kind of source ``name`` (postgres, sqlite or mysql)."""
        return self._declaration(name).kind

    def engine(self, name: str) -> Engine:
        """The pooled engine of source ``name``, created on first use."""
        return self._source(name).engine

    def options(self, name: str) -> DataSource:
        """The declaration of source ``name`` (its options: pool size, timeouts, row cap)."""
        return self._declaration(name)

    @contextlib.contextmanager
    def transaction(self, name: str) -> Iterator[Connection]:
        """A connection of source ``name`` inside a transaction with the statement timeout set.

        Committed when the block ends, rolled back when it raises. Database errors leave the block as
        :class:`~.errors.DataSourceError` (the original as ``__cause__``); other exceptions pass unchanged.
        """
        source = self._source(name)
        connection = self._begin(source)
        try:
            yield connection
            connection.commit()
        except exc.StatementError as error:
            _rollback(connection)
            raise translate(error, source.name, source.secrets, source.timeout_ms) from error
        except BaseException:
            _rollback(connection)
            raise
        finally:
            _clear_deadline(connection)
            connection.close()

    def url(self, name: str) -> URL:
        """The SQLAlchemy URL of source ``name`` (seeding a SQLite default database when it does not exist).

        The URL holds a password: never show it, log it or return it to a user.
        """
        declared = self._declaration(name)
        env = declared.env_name(name)
        raw = self._environ.get(env, "").strip()
        if raw:
            try:
                url = make_url(raw)
            except (exc.ArgumentError, ValueError):
                raise SourceNotConfigured(
                    name, f"{env} does not hold a valid database URL (for example postgresql://user:pass@host/db)"
                ) from None
        elif declared.default_url:
            url = self._default_sqlite(name, declared)
        else:
            raise SourceNotConfigured(
                name,
                f"{env} is not set; set it to the database's URL (for `appyard dev`: a line in the workspace's .env)",
            )
        backend = url.get_backend_name()
        if backend not in _BACKENDS[declared.kind]:
            raise SourceNotConfigured(
                name, f"{env} holds a {backend} URL but the source is declared as kind {declared.kind!r}"
            )
        if url.drivername in _DEFAULT_DRIVERS:
            url = url.set(drivername=_DEFAULT_DRIVERS[url.drivername])
        return url

    def child_environment(self) -> dict[str, str]:
        """Variables for a runner child's ``appyard.db``: the declarations (no URLs) and each source's URL.

        A SQLite default database is resolved to its absolute path (and seeded) here, in the parent. The values
        hold passwords: redact them like the app's secrets.
        """
        variables = {DECLARATIONS_ENV: _DECLARATIONS.dump_json(self.declared, exclude_defaults=True).decode()}
        for name, declared in self.declared.items():
            with contextlib.suppress(SourceNotConfigured):  # the child's db() reports it, naming the variable
                variables[declared.env_name(name)] = self.url(name).render_as_string(hide_password=False)
        return variables

    def close(self) -> None:
        """Close every pooled connection; the engines are created again on next use."""
        with self._lock:
            sources, self._sources = self._sources, {}
        for source in sources.values():
            source.engine.dispose()

    def _default_path(self, name: str, declared: DataSource) -> Path:
        path = Path(make_url(declared.default_url or "").database or "")
        if path.is_absolute():
            return path
        folder = self._data_dir
        if folder is None:
            app = self.app or self._environ.get(APP_ENV)
            if not app:
                raise SourceNotConfigured(
                    name, "its default_url is relative to an app's data folder, but no app is known"
                )
            folder = app_data_dir(app)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / path

    def _default_sqlite(self, name: str, declared: DataSource) -> URL:
        target = self._default_path(name, declared)
        if declared.seed and not target.exists():
            if self._workspace is None:
                raise SourceNotConfigured(
                    name, f"its seed {declared.seed} needs the workspace folder, which is not known"
                )
            _seeded(target, self._workspace / declared.seed, name)
        return URL.create("sqlite", database=str(target))

    def _after_fork(self) -> None:
        # A forked child must not use its parent's sockets: drop the pools without closing them.
        for source in self._sources.values():
            source.engine.dispose(close=False)
        self._sources = {}
        self._lock = threading.Lock()

    def _declaration(self, name: str) -> DataSource:
        declared = self.declared.get(name)
        if declared is None:
            raise SourceUndeclared(name, self.declared)
        return declared

    def _source(self, name: str) -> _Source:
        source = self._sources.get(name)
        if source is not None:
            return source
        with self._lock:
            source = self._sources.get(name)
            if source is None:
                source = self._create(name)
                self._sources[name] = source
        return source

    def _create(self, name: str) -> _Source:
        declared = self._declaration(name)
        url = self.url(name)
        secrets = tuple(
            s
            for s in (
                url.render_as_string(hide_password=False),
                url.password,
                self._environ.get(declared.env_name(name)),
            )
            if s
        )
        options = declared.options
        pooled: dict[str, Any] = {
            "pool_size": options.pool_size,
            "max_overflow": 0,
            "pool_timeout": options.connect_timeout_seconds,
        }
        connect_timeout = max(1, math.ceil(options.connect_timeout_seconds))
        try:
            if declared.kind == "postgres":
                # libpq counts the connect timeout in whole seconds (and treats 1 as 2).
                connect_args: dict[str, Any] = {"connect_timeout": connect_timeout, "application_name": "appyard"}
                engine = create_engine(url, connect_args=connect_args, hide_parameters=True, **pooled)
            elif declared.kind == "mysql":
                connect_args = {"connect_timeout": connect_timeout}
                engine = create_engine(
                    url, connect_args=connect_args, hide_parameters=True, pool_recycle=3600, **pooled
                )
            else:
                memory = url.database in (None, "", ":memory:")
                connect_args = {"check_same_thread": False, "timeout": options.connect_timeout_seconds}
                engine = create_engine(
                    url, connect_args=connect_args, hide_parameters=True, **({} if memory else pooled)
                )
                _prepare_sqlite(engine, memory, options.statement_timeout_ms)
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError, TypeError) as error:
            reason = redact(str(error), secrets)
            raise SourceNotConfigured(name, f"cannot use its URL: {reason}") from None
        return _Source(name, declared, engine, secrets)

    def _begin(self, source: _Source) -> Connection:
        """A connection in a new transaction with the timeout set; a dead pooled connection is replaced once."""
        for attempt in (1, 2):
            try:
                connection = source.engine.connect()
            except exc.TimeoutError:
                raise SourceUnreachable(
                    source.name,
                    f"all {source.declared.options.pool_size} connections stayed busy for "
                    f"{source.declared.options.connect_timeout_seconds:g} s; try again, or raise its pool_size",
                ) from None
            except exc.DBAPIError as error:
                reason = redact(str(error.orig or error), source.secrets)
                raise SourceUnreachable(source.name, f"cannot connect: {reason}") from None
            try:
                _start(connection, source)
            except exc.DBAPIError as error:
                _rollback(connection)
                connection.close()
                if error.connection_invalidated and attempt == 1:
                    continue  # the pool was invalidated with it: the next connection is a new one
                if error.connection_invalidated:
                    reason = redact(str(error.orig or error), source.secrets)
                    raise SourceUnreachable(source.name, f"connection lost twice in a row: {reason}") from None
                raise translate(error, source.name, source.secrets, source.timeout_ms) from None
            return connection
        raise AssertionError("unreachable")  # pragma: no cover


def _start(connection: Connection, source: _Source) -> None:
    timeout = int(source.timeout_ms)
    kind = source.declared.kind
    if kind == "postgres":
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout}")
    elif kind == "mysql":
        connection.exec_driver_sql(f"SET SESSION max_execution_time = {timeout}")
    else:
        connection.begin()


def _rollback(connection: Connection) -> None:
    with contextlib.suppress(exc.SQLAlchemyError):
        connection.rollback()


def _clear_deadline(connection: Connection) -> None:
    deadline = connection.info.get(_DEADLINE) if not connection.invalidated else None
    if deadline is not None:
        deadline[0] = math.inf


def _prepare_sqlite(engine: Engine, memory: bool, timeout_ms: int) -> None:
    """SQLite in real transactions (BEGIN on begin), with foreign keys, WAL, and a timeout by progress handler.

    Each statement's deadline starts when it is sent and lasts while its rows are fetched (SQLite computes rows
    as they are fetched); the transaction's end clears it.
    """

    @event.listens_for(engine, "connect")
    def connect(dbapi_connection: sqlite3.Connection, record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver's own implicit BEGIN is off; "begin" below emits it
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        if not memory:
            dbapi_connection.execute("PRAGMA journal_mode = WAL")
        deadline = [math.inf]
        # Every 1000 virtual-machine steps: a non-zero answer interrupts the statement ("interrupted").
        dbapi_connection.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), 1000)
        record.info[_DEADLINE] = deadline

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    @event.listens_for(engine, "before_cursor_execute")
    def before_execute(connection: Connection, *_: Any) -> None:
        deadline = connection.info.get(_DEADLINE)
        if deadline is not None:
            deadline[0] = time.monotonic() + timeout_ms / 1000


def translate(error: exc.StatementError, source: str, secrets: tuple[str, ...], timeout_ms: int) -> DataSourceError:
    """A database error as the :class:`~.errors.DataSourceError` a user sees (never with the URL or password)."""
    original = error.orig
    reason = redact(str(original if original is not None else error), secrets)
    if _is_timeout(original):
        return StatementTimeout(
            source,
            f"statement cancelled after the source's statement timeout ({timeout_ms} ms); make the query faster "
            "(an index, fewer rows) or raise options.statement_timeout_ms",
        )
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return SourceUnreachable(source, f"connection lost: {reason}")
    return StatementFailed(source, reason)


def _is_timeout(original: BaseException | None) -> bool:
    if original is None:
        return False
    if getattr(original, "sqlstate", None) == "57014":  # PostgreSQL query_canceled
        return True
    if isinstance(original, sqlite3.OperationalError) and str(original) == "interrupted":
        return True
    return bool(original.args) and original.args[0] == 3024  # MySQL: maximum statement execution time exceeded


def _seeded(target: Path, seed: Path, name: str) -> None:
    """Create the SQLite file ``target`` from ``seed`` atomically: no process ever opens a half-seeded file."""
    try:
        script = seed.read_text(encoding="utf-8")
    except OSError as error:
        raise SourceNotConfigured(name, f"cannot read its seed {seed.name}: {error.strerror}") from None
    partial = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.partial")
    try:
        with contextlib.closing(sqlite3.connect(partial)) as connection:
            connection.executescript(script)
            connection.commit()
        with contextlib.suppress(FileExistsError):  # another process seeded it first: keep theirs
            os.link(partial, target)
    except sqlite3.Error as error:
        raise SourceNotConfigured(name, f"its seed {seed.name} failed: {error}; fix the file") from None
    finally:
        partial.unlink(missing_ok=True)


# -- appyard.db: the process's own sources ------------------------------------------------------------------------


class _Process:
    """The sources ``appyard.db`` uses in this process (created on first use)."""

    sources: Sources | None = None
    lock = threading.Lock()


# The modules SQLAlchemy imports on a source's first connection, per kind.
_DRIVER_MODULES: dict[str, tuple[str, ...]] = {
    "postgres": ("psycopg", "sqlalchemy.dialects.postgresql.psycopg"),
    "mysql": ("pymysql", "sqlalchemy.dialects.mysql.pymysql"),
    "sqlite": ("sqlite3", "sqlalchemy.dialects.sqlite.pysqlite"),
}


def import_drivers(environ: Mapping[str, str] = os.environ) -> None:
    """Import the drivers of the sources declared in ``APPYARD_DATA_SOURCES``, connecting to nothing.

    A runner's zygote calls it before forking: a fresh child then finds psycopg and its SQLAlchemy dialect
    imported already (measured: importing them costs a fresh child 90–120 ms on the first ``appyard.db()``).
    """
    raw = environ.get(DECLARATIONS_ENV)
    if not raw:
        return
    try:
        declared = _DECLARATIONS.validate_json(raw)
    except ValidationError:
        return  # the first appyard.db() says what is wrong, in the run that calls it
    for kind in sorted({source.kind for source in declared.values()}):
        for module in _DRIVER_MODULES[kind]:
            importlib.import_module(module)


def use(sources: Sources | None) -> None:
    """Make ``appyard.db`` use ``sources`` in this process (``appyard run``, tests); None forgets them."""
    with _Process.lock:
        _Process.sources = sources


def from_environment(environ: Mapping[str, str] = os.environ) -> Sources:
    """The sources a runner child declares in ``APPYARD_DATA_SOURCES`` (URLs in their own variables)."""
    raw = environ.get(DECLARATIONS_ENV)
    if not raw:
        return Sources({}, environ=environ)
    try:
        declared = _DECLARATIONS.validate_json(raw)
    except ValidationError as error:
        raise DataSourceError("?", f"{DECLARATIONS_ENV} is not valid ({error.error_count()} problems)") from None
    return Sources(declared, environ=environ)


def db(name: str) -> AbstractContextManager[Connection]:
    """A connection of data source ``name`` in a transaction: committed when the block ends, rolled back on error.

    ::

        with appyard.db("shop") as connection:
            rows = connection.execute(text("SELECT id, name FROM customers WHERE id = :id"), {"id": 7}).all()
    """
    sources = _current()
    if not isinstance(name, str) or not name or len(name) > 40:
        raise SourceUndeclared(str(name)[:40], sources.declared)
    sources.options(name)  # an undeclared name fails here, not only when the block is entered
    return sources.transaction(name)


def _current() -> Sources:
    with _Process.lock:
        if _Process.sources is None:
            _Process.sources = from_environment()
        return _Process.sources


def _forget_after_fork() -> None:
    _Process.lock = threading.Lock()
    if _Process.sources is not None:
        _Process.sources._after_fork()


os.register_at_fork(after_in_child=_forget_after_fork)

__all__ = ["Sources", "db", "from_environment", "translate", "use"]
