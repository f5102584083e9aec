"""Data sources on a real PostgreSQL and SQLite: transactions, timeouts, lost connections, and errors that say which
source failed and never show its URL or password."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Date, bindparam, create_engine, text

import appyard
from appyard.errors import (
    DataSourceError,
    SourceNotConfigured,
    SourceUndeclared,
    SourceUnreachable,
    StatementFailed,
    StatementTimeout,
)
from appyard.properties import AppProperties, DataSource, DataSourceOptions, WorkspaceProperties
from appyard.sql import sources as sources_module
from appyard.sql.sources import DECLARATIONS_ENV, Sources

from ..postgres import PASSWORD, Postgres
from .databases import postgres, sqlite_url, start_postgres  # noqa: F401 — fixtures

pytestmark = pytest.mark.integration


def _postgres_sources(url: str, **options: float) -> Sources:
    declared = DataSource(kind="postgres", options=DataSourceOptions(**options))
    return Sources({"shop": declared}, environ={"APPYARD_DB_SHOP": url})


@pytest.fixture(params=["postgres", "sqlite"])
def kind_sources(request: pytest.FixtureRequest, postgres: Postgres, sqlite_url: str) -> Iterator[Sources]:  # noqa: F811
    """Sources with one source "shop" of either kind, holding an empty table ``items``."""
    if request.param == "postgres":
        database = f"src_{request.node.name.split('[')[0][-40:]}".lower()
        url = postgres.url(database)
    else:
        url = sqlite_url
    sources = Sources({"shop": DataSource(kind=request.param)}, environ={"APPYARD_DB_SHOP": url})
    with sources.transaction("shop") as connection:
        connection.execute(text("DROP TABLE IF EXISTS items"))
        connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
    yield sources
    sources.close()


def _names(sources: Sources) -> list[str]:
    with sources.transaction("shop") as connection:
        return [row[0] for row in connection.execute(text("SELECT name FROM items ORDER BY id"))]


def test_a_transaction_commits_when_the_block_ends(kind_sources: Sources) -> None:
    with kind_sources.transaction("shop") as connection:
        connection.execute(text("INSERT INTO items VALUES (1, 'kept')"))
    assert _names(kind_sources) == ["kept"]


def _insert_then_fail(sources: Sources) -> None:
    with sources.transaction("shop") as connection:
        connection.execute(text("INSERT INTO items VALUES (1, 'lost')"))
        raise RuntimeError("the script failed")


def _insert_twice(sources: Sources) -> None:
    with sources.transaction("shop") as connection:
        connection.execute(text("INSERT INTO items VALUES (1, 'first')"))
        connection.execute(text("INSERT INTO items VALUES (1, 'duplicate key')"))


def test_a_transaction_rolls_back_when_the_block_raises(kind_sources: Sources) -> None:
    with pytest.raises(RuntimeError):
        _insert_then_fail(kind_sources)
    assert _names(kind_sources) == []


def test_a_database_error_rolls_back_and_carries_the_databases_message(kind_sources: Sources) -> None:
    with pytest.raises(StatementFailed) as raised:
        _insert_twice(kind_sources)
    assert str(raised.value).startswith("data source shop: ")
    assert "unique" in str(raised.value).lower()
    assert raised.value.run_error().kind == "data_source"
    assert _names(kind_sources) == []


@pytest.mark.parametrize(
    ("kind", "slow_sql"),
    [
        ("postgres", "SELECT pg_sleep(5)"),
        (
            "sqlite",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) "
            "SELECT count(*) FROM n",
        ),
    ],
)
def test_a_statement_past_the_timeout_is_cancelled(
    kind: str,
    slow_sql: str,
    postgres: Postgres,  # noqa: F811
    sqlite_url: str,  # noqa: F811
) -> None:
    url = postgres.url("timeouts") if kind == "postgres" else sqlite_url
    declared = DataSource(kind=kind, options=DataSourceOptions(statement_timeout_ms=200))
    sources = Sources({"shop": declared}, environ={"APPYARD_DB_SHOP": url})
    try:
        started = time.monotonic()
        with pytest.raises(StatementTimeout) as raised, sources.transaction("shop") as connection:
            connection.execute(text(slow_sql)).all()
        cancelled_after = time.monotonic() - started
        assert "statement timeout (200 ms)" in str(raised.value)
        assert raised.value.run_error().retryable
        assert cancelled_after < 4  # cancelled, not finished (the statement alone takes 5 s or more)
        with sources.transaction("shop") as connection:  # the pooled connection still works, without a deadline
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        sources.close()


def _backend_pid(sources: Sources) -> int:
    with sources.transaction("shop") as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_terminated_backend_is_replaced_on_the_next_transaction(postgres: Postgres) -> None:  # noqa: F811
    sources = _postgres_sources(postgres.url("lost"), pool_size=1)
    try:
        pid = _backend_pid(sources)
        postgres.psql("postgres", f"SELECT pg_terminate_backend({pid})")
        time.sleep(0.1)
        replaced = _backend_pid(sources)  # retried once on a new connection: no error reaches the caller
        assert replaced != pid
    finally:
        sources.close()


def _terminate_own_backend(sources: Sources, server: Postgres) -> None:
    with sources.transaction("shop") as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        server.psql("postgres", f"SELECT pg_terminate_backend({pid})")
        connection.execute(text("SELECT 1"))


def test_a_connection_lost_inside_a_transaction_is_a_retryable_error(postgres: Postgres) -> None:  # noqa: F811
    sources = _postgres_sources(postgres.url("lost_inside"), pool_size=1)
    try:
        with pytest.raises(SourceUnreachable, match=r"^data source shop: connection lost: ") as raised:
            _terminate_own_backend(sources, postgres)
        assert raised.value.run_error().retryable
        assert _backend_pid(sources) > 0  # the next transaction gets a new connection
    finally:
        sources.close()


def test_many_threads_share_the_pool(postgres: Postgres) -> None:  # noqa: F811
    sources = _postgres_sources(postgres.url("threads"), pool_size=3)
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            pids = set(pool.map(lambda _: _backend_pid(sources), range(60)))
        assert 1 <= len(pids) <= 3  # never more connections than the pool holds
    finally:
        sources.close()


def test_threads_writing_one_sqlite_file_wait_for_each_other(sqlite_url: str) -> None:  # noqa: F811
    declared = DataSource(kind="sqlite", options=DataSourceOptions(pool_size=4))
    sources = Sources({"shop": declared}, environ={"APPYARD_DB_SHOP": sqlite_url})
    with sources.transaction("shop") as connection:
        connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))

    def insert(number: int) -> None:
        with sources.transaction("shop") as connection:
            connection.execute(text("INSERT INTO items VALUES (:id, 'row')"), {"id": number})

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(insert, range(100)))
        assert len(_names(sources)) == 100
    finally:
        sources.close()


def _hold_and_wait(sources: Sources) -> None:
    with sources.transaction("shop"), sources.transaction("shop"):
        pass


def test_a_busy_pool_is_an_error_that_says_so(postgres: Postgres) -> None:  # noqa: F811
    sources = _postgres_sources(postgres.url("busy"), pool_size=1, connect_timeout_seconds=0.2)
    try:
        with pytest.raises(SourceUnreachable, match=r"all 1 connections stayed busy for 0.2 s; .*pool_size"):
            _hold_and_wait(sources)
    finally:
        sources.close()


def test_a_stopped_server_is_unreachable_naming_the_source() -> None:
    server = start_postgres()
    sources = _postgres_sources(server.url("gone"), connect_timeout_seconds=2)
    try:
        _backend_pid(sources)
        server.stop()
        with pytest.raises(SourceUnreachable) as raised, sources.transaction("shop"):
            pass
        message = str(raised.value)
        assert message.startswith("data source shop: ")
        assert PASSWORD not in message and server.url("gone") not in message
        assert raised.value.run_error().retryable
    finally:
        sources.close()
        server.stop()


@pytest.mark.parametrize(
    ("case", "make_url"),
    [
        ("wrong password", lambda pg: pg.url("creds").replace(PASSWORD, "Wr0ng-Pa55word")),
        ("wrong user", lambda pg: pg.url("creds").replace("appyard:", "Nobody-User:")),
        ("closed port", lambda _pg: f"postgresql://appyard:{PASSWORD}@127.0.0.1:1/creds"),
        ("unknown host", lambda _pg: f"postgresql://appyard:{PASSWORD}@no-such-host.invalid:5432/creds"),
        ("missing database", lambda pg: pg.url("creds").replace("/creds", "/no_such_database")),
    ],
)
def test_connection_errors_never_show_the_url_or_password(case: str, make_url: object, postgres: Postgres) -> None:  # noqa: F811
    url = make_url(postgres)  # type: ignore[operator]
    sources = _postgres_sources(url, connect_timeout_seconds=2)
    try:
        with pytest.raises(SourceUnreachable) as raised, sources.transaction("shop"):
            pass
        message = str(raised.value)
        assert message.startswith("data source shop: cannot connect: "), message
        for secret in (PASSWORD, "Wr0ng-Pa55word", url):
            assert secret not in message
            assert secret not in repr(raised.value.run_error())
        assert raised.value.__cause__ is None  # the driver's exception (which may hold the URL) is not chained
    finally:
        sources.close()


@pytest.mark.parametrize(
    ("environ", "declared", "fragment"),
    [
        ({}, DataSource(kind="postgres"), "APPYARD_DB_SHOP is not set"),
        ({"SHOP_URL": ""}, DataSource(kind="postgres", url_env="SHOP_URL"), "SHOP_URL is not set"),
        ({"APPYARD_DB_SHOP": "not a url with password hunter2"}, DataSource(kind="postgres"), "not hold a valid"),
        ({"APPYARD_DB_SHOP": "sqlite:///x.db"}, DataSource(kind="postgres"), "declared as kind 'postgres'"),
        ({"APPYARD_DB_SHOP": "mysql://u:hunter2@h/db"}, DataSource(kind="sqlite"), "declared as kind 'sqlite'"),
        (
            {"APPYARD_DB_SHOP": "postgresql+nodriver://u:hunter2@h/db"},
            DataSource(kind="postgres"),
            "cannot use its URL",
        ),
    ],
)
def test_a_missing_or_unusable_url_says_which_variable(
    environ: dict[str, str], declared: DataSource, fragment: str
) -> None:
    sources = Sources({"shop": declared}, environ=environ)
    with pytest.raises(SourceNotConfigured) as raised, sources.transaction("shop"):
        pass
    assert str(raised.value).startswith("data source shop: ")
    assert fragment in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert not raised.value.run_error().retryable


def test_an_undeclared_source_lists_the_declared_ones() -> None:
    sources = Sources({"shop": DataSource(kind="postgres"), "crm": DataSource(kind="sqlite")}, environ={})
    with pytest.raises(SourceUndeclared, match=r"data source warehouse: not declared .*\(declared: crm, shop\)"):
        sources.engine("warehouse")


def test_an_apps_sources_are_the_ones_it_lists_in_its_order(tmp_path: Path) -> None:
    workspace = WorkspaceProperties.model_validate(
        {"data_sources": {"shop": {"kind": "postgres"}, "crm": {"kind": "sqlite"}, "hr": {"kind": "mysql"}}}
    )
    app = AppProperties.model_validate({"data_sources": ["crm", "shop"]})
    sources = Sources.for_app("orders", app, workspace, workspace=tmp_path, environ={})
    assert list(sources.declared) == ["crm", "shop"]
    assert sources.default == "crm"
    with pytest.raises(SourceUndeclared, match=r"data source hr: not declared .*\(declared: crm, shop\)"):
        sources.engine("hr")
    broken = AppProperties.model_validate({"data_sources": ["warehouse"]})
    with pytest.raises(SourceUndeclared, match=r"\(declared: crm, hr, shop\)"):
        Sources.for_app("orders", broken, workspace)


def test_the_first_declared_source_is_the_default() -> None:
    sources = Sources({"crm": DataSource(kind="sqlite"), "shop": DataSource(kind="postgres")}, environ={})
    assert sources.default == "crm"
    assert Sources({}).default is None


def test_a_sqlite_default_database_is_seeded_once_in_the_apps_data_folder(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "orders").mkdir(parents=True)
    (workspace / "orders" / "seed.sql").write_text(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT);\nINSERT INTO orders VALUES (1, 'Ada');\n"
    )
    declared = DataSource(kind="sqlite", default_url="sqlite:///orders.sqlite3", seed="orders/seed.sql")
    data = tmp_path / "data"
    sources = Sources({"orders": declared}, environ={}, data_dir=data, workspace=workspace)
    with sources.transaction("orders") as connection:
        connection.execute(text("INSERT INTO orders VALUES (2, 'Grace')"))
    sources.close()
    assert (data / "orders.sqlite3").is_file()
    assert [p.name for p in data.iterdir() if p.name.endswith(".partial")] == []

    again = Sources({"orders": declared}, environ={}, data_dir=data, workspace=workspace)
    with again.transaction("orders") as connection:  # not seeded again: Grace is still there
        assert connection.execute(text("SELECT customer FROM orders ORDER BY id")).scalars().all() == ["Ada", "Grace"]
    again.close()


def test_a_failing_seed_leaves_no_database_behind(tmp_path: Path) -> None:
    (tmp_path / "seed.sql").write_text("CREATE TABLE t (id INTEGER);\nINSERT INTO nowhere VALUES (1);\n")
    declared = DataSource(kind="sqlite", default_url="sqlite:///broken.sqlite3", seed="seed.sql")
    sources = Sources({"orders": declared}, environ={}, data_dir=tmp_path / "data", workspace=tmp_path)
    with pytest.raises(SourceNotConfigured, match=r"its seed seed.sql failed: no such table: nowhere"):
        sources.engine("orders")
    assert list((tmp_path / "data").iterdir()) == []


def test_the_environment_variable_wins_over_the_default_url(tmp_path: Path, sqlite_url: str) -> None:  # noqa: F811
    declared = DataSource(kind="sqlite", default_url="sqlite:///default.sqlite3")
    sources = Sources({"orders": declared}, environ={"APPYARD_DB_ORDERS": sqlite_url}, data_dir=tmp_path / "data")
    assert sources.url("orders").database == sqlite_url.removeprefix("sqlite:///")


def test_a_url_without_a_driver_uses_the_installed_one(postgres: Postgres) -> None:  # noqa: F811
    url = postgres.url("plain").replace("postgresql+psycopg://", "postgresql://")
    sources = _postgres_sources(url)
    try:
        assert sources.url("shop").drivername == "postgresql+psycopg"
        assert _backend_pid(sources) > 0
    finally:
        sources.close()


def _script_that_raises() -> None:
    with appyard.db("shop") as connection:
        connection.execute(text("INSERT INTO items VALUES (8, 'rolled back')"))
        _ = 1 / 0


def test_appyard_db_uses_the_sources_given_to_use(kind_sources: Sources) -> None:
    sources_module.use(kind_sources)
    try:
        with appyard.db("shop") as connection:
            connection.execute(text("INSERT INTO items VALUES (7, 'from a script')"))
        with pytest.raises(ZeroDivisionError):
            _script_that_raises()
        with pytest.raises(SourceUndeclared, match=r"\(declared: shop\)"):
            appyard.db("warehouse")
    finally:
        sources_module.use(None)
    assert _names(kind_sources) == ["from a script"]


CHILD_SCRIPT = """
import json, sys
import appyard
from sqlalchemy import Date, bindparam, create_engine, text
from appyard.errors import DataSourceError
with appyard.db("shop") as connection:
    connection.execute(text("INSERT INTO items VALUES (9, 'from a child')"))
try:
    appyard.db("warehouse")
except DataSourceError as error:
    print(json.dumps({"error": str(error)}))
"""


def test_a_runner_child_reads_its_sources_from_the_environment(tmp_path: Path, postgres: Postgres) -> None:  # noqa: F811
    parent = _postgres_sources(postgres.url("child"))
    with parent.transaction("shop") as connection:
        connection.execute(text("DROP TABLE IF EXISTS items"))
        connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
    variables = parent.child_environment()
    assert PASSWORD not in variables[DECLARATIONS_ENV]
    assert set(variables) == {DECLARATIONS_ENV, "APPYARD_DB_SHOP"}
    environ = {"PATH": os.environ["PATH"], **variables}
    done = subprocess.run(
        [sys.executable, "-c", CHILD_SCRIPT], env=environ, capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["error"].startswith("data source warehouse: not declared")
    try:
        assert _names(parent) == ["from a child"]
    finally:
        parent.close()


def test_importing_appyard_does_not_import_sqlalchemy() -> None:
    probe = "import sys, appyard; assert callable(appyard.db); print('sqlalchemy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_every_data_source_error_is_a_run_error_of_kind_data_source() -> None:
    for error_type in DataSourceError.__subclasses__():
        error = error_type("shop", ["crm"]) if error_type is SourceUndeclared else error_type("shop", "something")
        assert error.run_error().kind == "data_source"


def _p50_p99(run: Callable[[], object], count: int = 2000) -> str:
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        durations.append(time.perf_counter() - started)
    durations.sort()
    return f"p50 {statistics.median(durations) * 1000:.3f} ms, p99 {durations[int(count * 0.99)] * 1000:.3f} ms"


def test_measure_a_small_query_through_a_transaction(postgres: Postgres) -> None:  # noqa: F811
    """Not an assertion on time: prints one small query through Sources.transaction (for the report), beside the
    same transaction on an engine that pings each connection it checks out (SQLAlchemy's pool_pre_ping)."""
    url = postgres.url("measure")
    sources = _postgres_sources(url)
    pinging = create_engine(url, pool_size=5, pool_pre_ping=True)

    def through_sources() -> None:
        with sources.transaction("shop") as connection:
            connection.execute(text("SELECT 1")).all()

    def with_pre_ping() -> None:
        with pinging.begin() as connection:
            connection.exec_driver_sql("SET LOCAL statement_timeout = 10000")
            connection.execute(text("SELECT 1")).all()

    try:
        for _ in range(200):  # warm both pools and psycopg's prepared statements
            through_sources()
            with_pre_ping()
        print(f"\nSELECT 1 on PostgreSQL, n=2000: Sources.transaction {_p50_p99(through_sources)}")
        print(f"SELECT 1 on PostgreSQL, n=2000: pool_pre_ping + SET LOCAL {_p50_p99(with_pre_ping)}")
    finally:
        sources.close()
        pinging.dispose()


def _bad_bind(sources: Sources) -> None:
    with sources.transaction("shop") as connection:
        connection.execute(text("SELECT :day").bindparams(bindparam("day", "not a date", type_=Date())))


def test_a_value_the_driver_cannot_bind_is_a_statement_error(sqlite_url: str) -> None:  # noqa: F811
    sources = Sources({"shop": DataSource(kind="sqlite")}, environ={"APPYARD_DB_SHOP": sqlite_url})
    with pytest.raises(StatementFailed, match="SQLite Date type only accepts Python date objects"):
        _bad_bind(sources)
    sources.close()
