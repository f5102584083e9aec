"""SQL runs through the real path: HTTP → API → NATS → the runner's parent → PostgreSQL or SQLite → KV → HTTP.

One PostgreSQL server, one nats-server, one API and one runner serve the whole module (the `shop` fixture
workspace); the orders table is filled again before each test.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ..postgres import Postgres
from .conftest import FIXTURES, Stack, make_stack
from .databases import postgres as _session_postgres  # noqa: F401 — a fixture: the session's PostgreSQL server
from .servers import NatsServer, wait_for

pytestmark = pytest.mark.integration

RUNS = "/api/apps/shop/pages/orders/runs"
ORDERS = 25
DB = "sql_runs"  # this module's database on the session's server
NEW_ONLY = {"column": "status", "operator": "equals", "value": "new"}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens here once the probe is closed


def fill_orders(server: Postgres) -> None:
    server.psql(
        DB,
        f"""
        CREATE TABLE IF NOT EXISTS orders (
            id SERIAL PRIMARY KEY, customer TEXT NOT NULL, status TEXT, amount DOUBLE PRECISION);
        TRUNCATE orders RESTART IDENTITY;
        INSERT INTO orders (customer, status, amount)
            SELECT 'customer ' || lpad(n::text, 2, '0'), (ARRAY['new', 'paid', 'shipped'])[1 + n % 3], n * 1.5
            FROM generate_series(1, {ORDERS}) AS n;
        """,
    )


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Postgres:
    """The session's PostgreSQL server (see tests/integration/databases.py); this module uses database DB."""
    found: Postgres = request.getfixturevalue("_session_postgres")
    found.create_database(DB)
    return found


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, server: Postgres) -> Iterator[Stack]:
    """The shop app served by the API and one runner, with its sources' URLs in the runner's environment."""
    fill_orders(server)
    root = tmp_path_factory.mktemp("shop")
    workspace = root / "workspace"
    shutil.copytree(FIXTURES / "shop", workspace, ignore=shutil.ignore_patterns("__pycache__"))
    nats = NatsServer(store=root / "nats")
    nats.start()
    logs = root / "logs"
    logs.mkdir()
    sources = {"APPYARD_DB_SHOP": server.url(DB), "APPYARD_DATA_DIR": str(root / "data")}
    with pytest.MonkeyPatch.context() as patch:  # the API learns tables' facts from the same databases
        for name, value in sources.items():
            patch.setenv(name, value)
        stack = make_stack(workspace, nats, logs, run_wait_seconds="20")
    gone = f"postgresql+psycopg://appyard:unused@127.0.0.1:{_closed_port()}/gone"
    stack.start_runner("shop", {**sources, "APPYARD_DB_GONE": gone})
    with stack.client() as client:

        def ready() -> bool:
            response = client.post(RUNS, json={"function": "list_notes", "state": {}})
            return response.status_code == 200 and response.json()["status"] == "succeeded"

        wait_for(ready, 60, "a first SQL run")
    yield stack
    stack.stop()
    nats.stop()


@pytest.fixture
def client(shop: Stack, server: Postgres, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    fill_orders(server)
    with shop.client() as http:
        yield http
    if getattr(getattr(request.node, "rep_call", None), "failed", False):
        print(shop.diagnostics())


def run(client: httpx.Client, function: str, state: dict[str, Any] | None = None, **table: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"function": function, "state": state or {}}
    if table:
        body["table"] = table
    response = client.post(RUNS, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def orders_page(result: dict[str, Any]) -> dict[str, Any]:
    assert result["status"] == "succeeded", result
    page: dict[str, Any] = result["context"]["orders"]
    return page


# -- fetchers and table requests ---------------------------------------------------------------------------


def test_a_sql_fetcher_answers_its_first_page(client: httpx.Client) -> None:
    page = orders_page(run(client, "list_orders"))
    assert len(page["data"]) == 10  # the table's page_size
    assert page["total"] == ORDERS
    assert page["offset"] == 0
    assert page["more"] is True
    assert page["data"][0] == {"id": 1, "customer": "customer 01", "status": "paid", "amount": 1.5}


def test_a_sqlite_fetcher_from_a_seeded_default_url(client: httpx.Client) -> None:
    result = run(client, "list_notes")
    assert result["status"] == "succeeded", result
    assert result["context"]["notes"]["data"] == [
        {"id": 1, "body": "first"},
        {"id": 2, "body": "second"},
        {"id": 3, "body": "third"},
    ]
    assert result["context"]["notes"]["total"] == 3


@pytest.mark.parametrize(
    ("query", "ids", "total", "more"),
    [
        ({"offset": 20, "limit": 10}, [21, 22, 23, 24, 25], 25, False),
        ({"limit": 3, "sort": [{"column": "amount", "descending": True}]}, [25, 24, 23], 25, True),
        ({"limit": 50, "filters": [NEW_ONLY]}, [*range(3, 25, 3)], 8, False),
        ({"limit": 5, "filters": [{"column": "amount", "operator": "gte", "value": 30}]}, [*range(20, 25)], 6, True),
        ({"limit": 50, "filters": [{"column": "id", "operator": "in", "value": [2, 4, 99]}]}, [2, 4], 2, False),
        ({"limit": 2, "sort": [{"column": "status"}, {"column": "id", "descending": True}]}, [24, 21], 25, True),
    ],
)  # fmt: skip
def test_paging_sorting_and_filtering_in_the_database(
    client: httpx.Client, query: dict[str, Any], ids: list[int], total: int, more: bool
) -> None:
    page = orders_page(run(client, "list_orders", table="orders", action="query", query=query))
    assert [row["id"] for row in page["data"]] == ids
    assert page["total"] == total
    assert page["more"] is more


def test_an_unknown_sort_column_fails_naming_the_valid_ones(client: httpx.Client) -> None:
    query = {"sort": [{"column": "secret_column"}]}
    result = run(client, "list_orders", table="orders", action="query", query=query)
    assert result["status"] == "failed"
    assert "secret_column" in result["error"]["message"]
    assert "customer" in result["error"]["message"]


def test_a_smart_edit_is_saved_and_on_edit_runs_with_the_edited_row(client: httpx.Client, server: Postgres) -> None:
    edit = {"key": {"id": 3}, "column": "status", "old": "new", "new": "cancelled"}
    result = run(client, "list_orders", {"orders": {"id": 3}}, table="orders", action="update", edit=edit)
    page = orders_page(result)
    assert server.psql(DB, "SELECT status FROM orders WHERE id = 3").strip() == "cancelled"
    assert page["data"][2]["status"] == "cancelled"
    assert not page.get("conflicts")
    assert result["context"]["form"]["message"] == "order 3: status new -> cancelled"


def test_a_sql_on_edit_runs_in_the_parent_after_the_saved_edit(client: httpx.Client, shop: Stack) -> None:
    notes = shop.workspace.parent / "data" / "shop" / "notes.sqlite3"
    edit = {"key": {"id": 2}, "column": "body", "old": "second", "new": "zwei"}
    try:
        result = run(client, "list_notes", table="notes", action="update", edit=edit)
        assert result["status"] == "succeeded", result
        assert result["context"]["notes"]["data"][1] == {"id": 2, "body": "zwei (edited)"}
        with contextlib.closing(sqlite3.connect(notes)) as connection:
            assert connection.execute("SELECT body FROM notes WHERE id = 2").fetchone() == ("zwei (edited)",)
    finally:
        with contextlib.closing(sqlite3.connect(notes)) as connection:
            connection.execute("UPDATE notes SET body = 'second' WHERE id = 2")
            connection.commit()


def test_a_stale_edit_is_a_conflict_with_the_current_value(client: httpx.Client, server: Postgres) -> None:
    server.psql(DB, "UPDATE orders SET status = 'refunded' WHERE id = 4")
    edit = {"key": {"id": 4}, "column": "status", "old": "paid", "new": "shipped"}
    result = run(client, "list_orders", table="orders", action="update", edit=edit)
    page = orders_page(result)
    assert server.psql(DB, "SELECT status FROM orders WHERE id = 4").strip() == "refunded"
    [conflict] = page["conflicts"]
    assert conflict["key"] == {"id": 4}
    assert conflict["column"] == "status"
    assert conflict["current"] == "refunded"
    assert page["data"][3]["status"] == "refunded"  # the page is reloaded: the user sees the current value
    assert "form" not in result["context"]  # on_edit runs only after a saved edit


def test_insert_where_declared(client: httpx.Client, server: Postgres) -> None:
    values = {"customer": "new customer", "status": "new", "amount": 9.75}
    result = run(client, "list_orders", table="orders", action="insert", values=values)
    assert orders_page(result)["total"] == ORDERS + 1
    assert server.psql(DB, "SELECT count(*) FROM orders WHERE customer = 'new customer'").strip() == "1"


@pytest.mark.parametrize(
    ("table", "status", "fragment"),
    [
        ({"table": "orders", "action": "delete", "key": {"id": 1}}, 403, "deletable"),
        ({"table": "notes", "action": "insert", "values": {"body": "x"}}, 403, "insertable"),
        ({"table": "orders", "action": "update", "edit": {"key": {"id": 1}, "column": "customer"}}, 403, "editable"),
        ({"table": "orders", "action": "update", "edit": {"key": {"id": 1}, "column": "id"}}, 403, "editable"),
        ({"table": "notes", "action": "query"}, 422, "list_notes"),
        ({"table": "nope", "action": "query"}, 422, "no table"),
    ],
)  # fmt: skip
def test_the_api_refuses_what_the_table_does_not_allow(
    client: httpx.Client, server: Postgres, table: dict[str, Any], status: int, fragment: str
) -> None:
    fetcher = "list_notes" if table["table"] == "notes" and table["action"] != "query" else "list_orders"
    response = client.post(RUNS, json={"function": fetcher, "state": {}, "table": table})
    assert response.status_code == status, response.text
    assert fragment in response.json()["message"]
    assert server.psql(DB, "SELECT count(*), min(customer) FROM orders").strip() == f"{ORDERS}|customer 01"


def test_a_table_request_must_name_a_sql_fetcher(client: httpx.Client) -> None:
    response = client.post(
        RUNS, json={"function": "refresh", "state": {}, "table": {"table": "orders", "action": "query"}}
    )
    assert response.status_code == 422
    assert "list_orders" in response.json()["message"]


# -- statements, reloads and appyard.db() --------------------------------------------------------------------


def test_a_statement_reloads_its_tables_with_its_message(client: httpx.Client, server: Postgres) -> None:
    result = run(client, "ship", {"orders": {"id": 1}})
    page = orders_page(result)
    assert page["data"][0]["status"] == "shipped"
    assert page["message"] == "Shipped"
    assert page["message_type"] == "success"
    assert server.psql(DB, "SELECT status FROM orders WHERE id = 1").strip() == "shipped"


def test_reload_from_python_fills_the_sql_tables_first_page(client: httpx.Client) -> None:
    page = orders_page(run(client, "refresh"))
    assert page["reload_requested"] is True
    assert len(page["data"]) == 10
    assert page["total"] == ORDERS


def test_appyard_db_from_a_python_script(client: httpx.Client) -> None:
    result = run(client, "count_orders")
    assert result["status"] == "succeeded", result
    assert result["context"]["form"]["message"] == f"{ORDERS} orders"


# -- failures ------------------------------------------------------------------------------------------------


def test_an_unreachable_source_fails_the_run_naming_it(client: httpx.Client) -> None:
    result = run(client, "unreachable")
    assert result["status"] == "failed"
    assert result["error"]["kind"] == "data_source"
    assert "gone" in result["error"]["message"]
    assert result["error"]["retryable"] is True
    assert "unused" not in str(result)  # the URL's password


def _sleeping(server: Postgres) -> int:
    sql = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid() AND state = 'active'"
    )
    return int(server.psql(DB, sql).strip())


def test_a_statement_past_its_timeout_fails_and_stops_in_the_database(client: httpx.Client, server: Postgres) -> None:
    result = run(client, "slow")
    assert result["status"] == "failed"
    assert result["error"]["kind"] == "data_source"
    assert "strict" in result["error"]["message"]
    wait_for(lambda: _sleeping(server) == 0, 10, "the statement to end in the database")


def test_a_sql_run_cancelled_over_http_stops_in_the_database(client: httpx.Client, server: Postgres) -> None:
    accepted = client.post(RUNS, params={"wait": "false"}, json={"function": "long", "state": {}})
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    wait_for(lambda: _sleeping(server) == 1, 20, "the statement to start")
    cancelled = client.delete(f"/api/runs/{run_id}")
    assert cancelled.status_code == 200
    wait_for(lambda: _sleeping(server) == 0, 10, "the statement to be cancelled in the database")
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "cancelled"


def test_sql_runs_do_not_block_each_other(client: httpx.Client, server: Postgres) -> None:
    """A long statement on one thread; a page is answered meanwhile (the event loop never waits for SQL)."""
    accepted = client.post(RUNS, params={"wait": "false"}, json={"function": "long", "state": {}})
    run_id = accepted.json()["run_id"]
    wait_for(lambda: _sleeping(server) == 1, 20, "the statement to start")
    try:
        assert orders_page(run(client, "list_orders"))["total"] == ORDERS
    finally:
        client.delete(f"/api/runs/{run_id}")
    wait_for(lambda: _sleeping(server) == 0, 10, "the statement to be cancelled")


def test_the_page_shows_sql_functions_and_table_facts(client: httpx.Client) -> None:
    page = client.get("/api/apps/shop/pages/orders").json()
    kinds = {item["name"]: item["kind"] for item in page["functions"]}
    assert kinds["list_orders"] == "sql"
    assert kinds["count_orders"] == "python"
    docs = {item["name"]: item["doc"] for item in page["functions"]}
    assert docs["ship"] == "Marks the selected order shipped."
    assert page["tables"]["orders"]["primary_key"] == ["id"]
    assert "list_orders.sql" in page["scripts"]


def test_saving_a_sql_script_learns_its_table_again(client: httpx.Client) -> None:
    script = "/api/apps/shop/pages/orders/scripts/list_notes.sql"
    original = client.get(script).json()["source"]
    changed = original.replace("SELECT id, body", "SELECT id, body, length(body) AS size")
    try:
        saved = client.put(script, json={"source": changed})
        assert saved.status_code == 200, saved.text
        assert [item["name"] for item in saved.json()["functions"]] == ["list_notes"]
        columns = client.get("/api/apps/shop/pages/orders").json()["tables"]["notes"]["columns"]
        assert list(columns) == ["id", "body", "size"]
        assert columns["size"]["data_type"] == "integer"
        assert columns["size"]["base_column"] is None  # computed: read-only
    finally:
        client.put(script, json={"source": original})
    assert list(client.get("/api/apps/shop/pages/orders").json()["tables"]["notes"]["columns"]) == ["id", "body"]


@pytest.mark.parametrize("source", ["SELECT 'unterminated", "SELECT 1; SELECT 2", "-- source: Not A Name\nSELECT 1"])
def test_a_sql_script_that_does_not_parse_is_refused(client: httpx.Client, shop: Stack, source: str) -> None:
    script = "/api/apps/shop/pages/orders/scripts/broken.sql"
    try:
        response = client.put(script, json={"source": source})
        assert response.status_code == 422, response.text
        assert client.get(script).status_code == 404
    finally:
        (shop.workspace / "shop" / "orders" / "scripts" / "broken.sql").unlink(missing_ok=True)


# -- latency -------------------------------------------------------------------------------------------------


def test_latency_of_a_page_from_a_large_table(client: httpx.Client, server: Postgres) -> None:
    """p50/p99 of a 50-row page (sorted, filtered, counted) of 200 000 rows, HTTP → NATS → runner → DB → KV → HTTP."""
    server.psql(
        DB,
        """
        INSERT INTO orders (customer, status, amount)
            SELECT 'bulk ' || n, (ARRAY['new', 'paid', 'shipped'])[1 + n % 3], n % 1000
            FROM generate_series(1, 200000) AS n;
        CREATE INDEX IF NOT EXISTS orders_amount ON orders (amount);
        ANALYZE orders;
        """,
    )
    query = {"limit": 50, "offset": 1000, "sort": [{"column": "amount", "descending": True}]}
    timings = []
    for _ in range(5):  # warm: pools, plans
        orders_page(run(client, "list_orders", table="orders", action="query", query=query))
    for index in range(200):
        query["offset"] = index * 50
        started = time.perf_counter()
        page = orders_page(run(client, "list_orders", table="orders", action="query", query=query))
        timings.append((time.perf_counter() - started) * 1000)
        assert len(page["data"]) == 50
    timings.sort()
    p50, p99 = timings[len(timings) // 2], timings[int(len(timings) * 0.99) - 1]
    print(f"\n50-row page of {ORDERS + 200000} rows over HTTP: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


def test_saving_properties_that_orphan_a_sql_parameter_is_refused(client: httpx.Client) -> None:
    page = client.get("/api/apps/shop/pages/orders").json()
    properties = page["properties"]
    renamed = {
        **properties,
        "blocks": [{**block, "name": "memos"} if block["name"] == "notes" else block for block in properties["blocks"]],
    }
    response = client.put("/api/apps/shop/pages/orders/properties", json=renamed)
    assert response.status_code == 422
    messages = [f"{issue['file']}: {issue['message']}" for issue in response.json()["details"]]
    assert any("stamp_note.sql" in message and ":notes.id" in message for message in messages), messages
    assert any("stamp_note.sql" in message and "notes" in message for message in messages), messages
    # Nothing was written: the page still has its notes table.
    names = [block["name"] for block in client.get("/api/apps/shop/pages/orders").json()["properties"]["blocks"]]
    assert "notes" in names and "memos" not in names
