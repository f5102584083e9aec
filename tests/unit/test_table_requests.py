"""Which table requests a page allows (the API's 403/422, checked again by the runner)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appyard.errors import TableRefused
from appyard.runs import TableRequest
from appyard.sql.requests import check_table_request, first_query, sql_tables, table_of
from appyard.workspace import Page, load_page

PAGE_DIR = Path(__file__).parent.parent / "fixtures" / "shop" / "shop" / "orders"


def edit(column: str) -> dict[str, Any]:
    return {"key": {"id": 1}, "column": column, "old": None, "new": "x"}


@pytest.fixture(scope="module")
def page() -> Page:
    return load_page("shop", PAGE_DIR)


@pytest.mark.parametrize(
    ("function", "table", "forbidden", "fragment"),
    [
        ("list_orders", {"table": "orders", "action": "delete", "key": {"id": 1}}, True, "set deletable"),
        ("list_notes", {"table": "notes", "action": "insert", "values": {"body": "x"}}, True, "set insertable"),
        ("list_notes", {"table": "notes", "action": "delete", "key": {"id": 1}}, True, "set deletable"),
        ("list_orders", {"table": "orders", "action": "update", "edit": edit("customer")}, True, "(editable: status)"),
        ("list_orders", {"table": "orders", "action": "update", "edit": edit("id")}, True, "not editable"),
        ("list_orders", {"table": "orders", "action": "update", "edit": edit("nope")}, True, "not editable"),
        ("list_orders", {"table": "notes", "action": "query"}, False, "must name its fetcher 'list_notes'"),
        ("refresh", {"table": "orders", "action": "query"}, False, "must name its fetcher 'list_orders'"),
        ("ship", {"table": "orders", "action": "query"}, False, "must name its fetcher"),
        ("list_orders", {"table": "form", "action": "query"}, False, "no table 'form' (tables: orders, notes)"),
    ],
)  # fmt: skip
def test_refused(page: Page, function: str, table: dict[str, Any], forbidden: bool, fragment: str) -> None:
    with pytest.raises(TableRefused) as refused:
        check_table_request(page, function, TableRequest.model_validate(table))
    assert fragment in str(refused.value)
    assert refused.value.forbidden is forbidden


@pytest.mark.parametrize(
    ("function", "table"),
    [
        ("list_orders", {"table": "orders", "action": "query", "query": {"limit": 5}}),
        ("list_orders", {"table": "orders", "action": "update", "edit": {"key": {"id": 1}, "column": "status"}}),
        ("list_orders", {"table": "orders", "action": "insert", "values": {"customer": "x"}}),
        ("list_notes", {"table": "notes", "action": "query"}),
    ],
)
def test_allowed(page: Page, function: str, table: dict[str, Any]) -> None:
    assert check_table_request(page, function, TableRequest.model_validate(table)).name == table["table"]


def test_the_sql_tables_and_their_first_pages(page: Page) -> None:
    assert [table.name for table in sql_tables(page)] == ["orders", "notes"]
    assert first_query(table_of(page, "orders")).limit == 10
    assert first_query(table_of(page, "notes")).limit == 20
