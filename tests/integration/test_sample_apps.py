"""The SQL samples through the real stack: the inventory app on PostgreSQL, the orders app's SQL on SQLite.

The API and one runner per app run as in `appyard dev`; the inventory database is seeded from the sample's own
``seed.sql`` (2,000 products instead of 100,000, so the test stays quick).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ..conftest import SAMPLES
from ..postgres import Postgres
from .conftest import Stack, make_stack
from .databases import postgres as _session_postgres  # noqa: F401 — a fixture: the session's PostgreSQL server
from .servers import NatsServer, wait_for

DB = "samples_shop"
PRODUCTS = 2000
INVENTORY = "/api/apps/inventory/pages/products/runs"
ORDERS = "/api/apps/orders/pages/orders/runs"


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Postgres:
    found: Postgres = request.getfixturevalue("_session_postgres")
    found.create_database(DB)
    seed = (SAMPLES / "inventory" / "seed.sql").read_text(encoding="utf-8")
    found.psql(DB, seed.replace("generate_series(1, 100000)", f"generate_series(1, {PRODUCTS})"))
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, server: Postgres) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("samples")
    workspace = root / "workspace"
    shutil.copytree(SAMPLES, workspace, ignore=shutil.ignore_patterns("__pycache__", ".env"))
    nats = NatsServer(store=root / "nats")
    nats.start()
    logs = root / "logs"
    logs.mkdir()
    started = make_stack(workspace, nats, logs, run_wait_seconds="20")
    data = {"APPYARD_DATA_DIR": str(root / "data")}
    started.start_runner("inventory", {**data, "APPYARD_DB_SHOP": server.url(DB)})
    started.start_runner("orders", data)
    with started.client() as client:
        for path, function in ((INVENTORY, "list_products"), (ORDERS, "list_orders")):

            def ready(path: str = path, function: str = function) -> bool:
                response = client.post(path, json={"function": function, "state": {}})
                return response.status_code == 200 and response.json()["status"] == "succeeded"

            wait_for(ready, 90, f"a first run of {function}")
    yield started
    started.stop()
    nats.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as http:
        yield http


def run(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["status"] == "succeeded", result
    return result


def query(table: str, **query: Any) -> dict[str, Any]:
    return {"table": table, "action": "query", "query": query}


def test_the_products_table_opens_on_its_first_page(client: httpx.Client) -> None:
    products = run(client, INVENTORY, {"function": "list_products", "state": {}})["context"]["products"]
    assert len(products["data"]) == 50, "the table's page_size"
    assert products["more"] is True
    assert products.get("total") in (None, PRODUCTS)


def test_products_are_sorted_and_filtered_in_the_database(client: httpx.Client) -> None:
    office = {"column": "category", "operator": "equals", "value": "office"}
    table = query("products", sort=[{"column": "price", "descending": True}], filters=[office], limit=20)
    body = {"function": "list_products", "state": {}, "table": table}
    rows = run(client, INVENTORY, body)["context"]["products"]["data"]
    assert len(rows) == 20 and {row["category"] for row in rows} == {"office"}
    prices = [float(row["price"]) for row in rows]
    assert prices == sorted(prices, reverse=True)


def test_an_unknown_sort_column_changes_nothing(client: httpx.Client, server: Postgres) -> None:
    table = query("products", sort=[{"column": 'price"; DROP TABLE products; --', "descending": False}])
    response = client.post(INVENTORY, json={"function": "list_products", "state": {}, "table": table})
    assert response.status_code == 422 or response.json()["status"] == "failed", response.text
    assert server.psql(DB, "SELECT count(*) FROM products").strip() == str(PRODUCTS)


def test_selecting_a_product_reloads_its_movements(client: httpx.Client) -> None:
    state = {"products": {"id": 42, "name": "Oak Lamp 42"}}
    movements = run(client, INVENTORY, {"function": "show_product", "state": state})["context"]["movements"]
    assert movements["label"] == "Stock movements of Oak Lamp 42"
    assert len(movements["data"]) == 5, "the seed gives each product five movements"


def test_recording_a_movement_updates_the_stock_and_reloads_both_tables(client: httpx.Client, server: Postgres) -> None:
    before = int(server.psql(DB, "SELECT stock FROM products WHERE id = 7"))
    state = {"products": {"id": 7}, "movement": {"kind": "received", "quantity": 12, "note": "PO-4711"}}
    context = run(client, INVENTORY, {"function": "record_movement", "state": state})["context"]
    assert context["movements"]["message"].startswith("Movement recorded")
    assert any(row["note"] == "PO-4711" for row in context["movements"]["data"])
    assert "data" in context["products"]
    assert int(server.psql(DB, "SELECT stock FROM products WHERE id = 7")) == before + 12


def test_a_price_edit_is_saved_and_a_stale_one_is_a_conflict(client: httpx.Client, server: Postgres) -> None:
    current = float(server.psql(DB, "SELECT price FROM products WHERE id = 9"))
    edit = {"key": {"id": 9}, "column": "price", "old": current, "new": 12.5}
    saved = {"table": "products", "action": "update", "query": {}, "edit": edit}
    context = run(client, INVENTORY, {"function": "list_products", "state": {}, "table": saved})["context"]
    assert not context["products"].get("conflicts")
    assert server.psql(DB, "SELECT price FROM products WHERE id = 9").strip() == "12.50"

    stale = {"table": "products", "action": "update", "query": {}, "edit": {**edit, "new": 99.0}}
    context = run(client, INVENTORY, {"function": "list_products", "state": {}, "table": stale})["context"]
    [conflict] = context["products"]["conflicts"]
    assert conflict["column"] == "price" and float(conflict["current"]) == 12.5
    assert server.psql(DB, "SELECT price FROM products WHERE id = 9").strip() == "12.50"


def test_the_orders_sample_ships_and_creates_orders_in_sql(client: httpx.Client) -> None:
    context = run(client, ORDERS, {"function": "ship_order", "state": {"orders": {"id": 1005}}})["context"]
    assert context["orders"]["message"].startswith("Order shipped")
    one = {"column": "id", "operator": "equals", "value": 1005}
    found = run(client, ORDERS, {"function": "list_orders", "state": {}, "table": query("orders", filters=[one])})
    assert [row["status"] for row in found["context"]["orders"]["data"]] == ["shipped"]

    order = {"customer": 3, "product": "Desk lamp", "quantity": 2, "unit_price": 19.5}
    context = run(client, ORDERS, {"function": "create_order", "state": {"new_order": order}})["context"]
    assert context["orders"]["message"] == "Order created."
    lamps = {"column": "product", "operator": "equals", "value": "Desk lamp"}
    found = run(client, ORDERS, {"function": "list_orders", "state": {}, "table": query("orders", filters=[lamps])})
    created = [row for row in found["context"]["orders"]["data"] if row["customer"] == "Alan Turing"]
    assert any(row["total"] == 39.0 and row["status"] == "pending" for row in created)


def test_the_orders_details_come_from_python_with_appyard_db(client: httpx.Client) -> None:
    context = run(client, ORDERS, {"function": "show_order", "state": {"orders": {"id": 1012}}})["context"]
    assert "### Order 1012" in context["details"]["components"]["summary"]["text"]
