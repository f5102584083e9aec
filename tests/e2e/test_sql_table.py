"""A SQL table in real Chromium over a real PostgreSQL: paged, sorted and filtered in the database, cells saved
by primary key, and an edit that lost a race shown as a conflict on its cell (never a silent overwrite)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from ..postgres import Postgres
from .conftest import Dev, appyard_gen

pytestmark = pytest.mark.e2e

ROWS = 300
CATEGORIES = ("tools", "toys", "books")

TABLE = """
CREATE TABLE items (
    id serial PRIMARY KEY,
    name text NOT NULL,
    category text NOT NULL,
    price numeric(10, 2) NOT NULL,
    in_stock boolean NOT NULL DEFAULT true
);
"""

# Item i (1…300): "Item 001"…, category CATEGORIES[i % 3], price i × 1.25, in stock unless i is a multiple of 7.
SEED = f"""
TRUNCATE items RESTART IDENTITY;
INSERT INTO items (name, category, price, in_stock)
SELECT 'Item ' || lpad(i::text, 3, '0'),
       (ARRAY['{CATEGORIES[0]}', '{CATEGORIES[1]}', '{CATEGORIES[2]}'])[i % 3 + 1],
       i * 1.25,
       i % 7 <> 0
FROM generate_series(1, {ROWS}) AS i;
"""

LIST_ITEMS = """-- Every item; the table pages, sorts, filters and saves edits in the database.
SELECT id, name, category, price, in_stock FROM items
"""

DISCOUNT_BOOKS = """-- Halve the price of every book.
-- reload: items
-- message: Books are half price now.
UPDATE items SET price = price / 2 WHERE category = 'books'
"""

PAGE = {
    "label": "Items",
    "blocks": [
        {
            "block_type": "widget",
            "name": "actions",
            "components": [
                {
                    "component_type": "button",
                    "name": "discount",
                    "label": "Discount books",
                    "on_click": "discount_books",
                },
            ],
        },
        {
            "block_type": "table",
            "name": "items",
            "label": "Items",
            "fetcher": "list_items",
            "page_size": 20,
            "insertable": True,
            "deletable": True,
            "filters": [{"column": "category", "operator": "equals", "label": "Category"}],
            "columns": [
                {"name": "id", "label": "Id"},
                {"name": "name", "label": "Name", "editable": True},
                {"name": "category", "label": "Category"},
                {"name": "price", "label": "Price", "display_type": "currency", "currency": "EUR", "locale": "de-DE"},
                {"name": "in_stock", "label": "In stock", "editable": True},
            ],
        },
    ],
}


RECENT_PAGE = {
    "label": "Recent",
    "blocks": [
        {
            "block_type": "widget",
            "name": "tools",
            "components": [
                {"component_type": "button", "name": "rename", "label": "Rename", "on_click": "rename_first"}
            ],
        },
        {
            "block_type": "table",
            "name": "recent",
            "fetcher": "recent",
            "columns": [{"name": "id", "data_type": "integer"}, {"name": "name", "data_type": "text"}],
        },
    ],
}

RECENT_SCRIPT = '''"""Python over the same source: appyard.db, and a reload() of a table whose fetcher is Python."""

from __future__ import annotations

from sqlalchemy import text

import appyard

from ..context import Context
from ..state import State


def recent(state: State, context: Context) -> Context:
    """The first three items."""
    with appyard.db("shop") as connection:
        rows = connection.execute(text("SELECT id, name FROM items ORDER BY id LIMIT 3")).mappings().all()
    context.recent.data = [dict(row) for row in rows]
    return context


def rename_first(state: State, context: Context) -> Context:
    """Rename item 1 and ask for the table again (the viewer runs its fetcher)."""
    with appyard.db("shop") as connection:
        connection.execute(text("UPDATE items SET name = 'Renamed by Python' WHERE id = 1"))
    context.recent.reload()
    return context
'''


def plain(page: dict[str, Any]) -> dict[str, Any]:
    """The page before its columns use what the database says (editable cells, display types)."""
    widget, table = page["blocks"]
    return {**page, "blocks": [widget, {**table, "columns": [{"name": column["name"]} for column in table["columns"]]}]}


def write_workspace(root: Path, page_properties: dict[str, Any]) -> Path:
    """A workspace with one app over the PostgreSQL source `shop` (its URL comes from the environment)."""
    workspace = root / "workspace"
    page = workspace / "shop" / "items"
    (page / "scripts").mkdir(parents=True, exist_ok=True)
    (workspace / "properties.json").write_text(
        json.dumps(
            {
                "label": "SQL tables",
                "apps": [{"name": "shop", "label": "Shop"}],
                "data_sources": {"shop": {"kind": "postgres"}},
            }
        )
    )
    (workspace / "shop" / "properties.json").write_text(
        json.dumps(
            {
                "label": "Shop",
                "pages": [{"name": "items", "label": "Items"}, {"name": "recent", "label": "Recent"}],
                "data_sources": ["shop"],
            }
        )
    )
    recent = workspace / "shop" / "recent"
    (recent / "scripts").mkdir(parents=True, exist_ok=True)
    (recent / "properties.json").write_text(json.dumps(RECENT_PAGE, indent=2))
    (recent / "scripts" / "recent.py").write_text(RECENT_SCRIPT)
    (page / "properties.json").write_text(json.dumps(page_properties, indent=2))
    (page / "scripts" / "list_items.sql").write_text(LIST_ITEMS)
    (page / "scripts" / "discount_books.sql").write_text(DISCOUNT_BOOKS)
    return workspace


@pytest.fixture(scope="module")
def shop(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """`appyard dev` serving the shop workspace (one for the module; `items` seeds the table for each test).

    The URL reaches `appyard gen` and `appyard dev` through the environment only (never a file). The page is
    generated first with plain columns, as a developer adds a SQL fetcher, so that `appyard gen` learns the
    table (database.json) before the columns that need it (editable cells, currency) are declared.
    """
    folder = tmp_path_factory.mktemp("shop")
    postgres.psql("postgres", "DROP DATABASE IF EXISTS shop")
    postgres.databases.discard("shop")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("APPYARD_DB_SHOP", postgres.url("shop"))  # the database is created on first use
        postgres.psql("shop", TABLE + SEED)
        appyard_gen(write_workspace(folder, plain(PAGE)), folder)
        workspace = write_workspace(folder, PAGE)
        appyard_gen(workspace, folder)
        assert "items" in json.loads((workspace / "shop" / "items" / "database.json").read_text())["tables"]
        server = Dev(workspace, folder)
    yield server
    server.stop()


@pytest.fixture
def items(shop: Dev, postgres: Postgres) -> Dev:
    """The shop with its 300 items as seeded (earlier tests' edits undone)."""
    postgres.psql("shop", SEED)
    return shop


def database_value(postgres: Postgres, sql: str, expected: str) -> str:
    """Poll the database until a query answers `expected` (the save runs after the cell loses focus)."""
    deadline = time.monotonic() + 20
    while True:
        found = postgres.psql("shop", sql).strip()
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def names(table: Locator) -> list[str]:
    """The Name column of the rows shown (inputs: the column is editable)."""
    values = table.locator("tbody tr").get_by_label("Edit Name").evaluate_all("inputs => inputs.map(i => i.value)")
    return [str(value) for value in values]


def test_a_postgresql_table_pages_sorts_and_filters_in_the_database(items: Dev, page: Page) -> None:
    page.goto(f"{items.url}/apps/shop/items")
    table = page.locator("[data-block=items]")
    rows = table.locator("tbody tr")
    pager = table.get_by_role("navigation", name="Items pages")

    # The first page of 20 rows, counted in the database; money as the column's locale writes it.
    expect(pager).to_contain_text(f"Rows 1–20 of {ROWS}")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text("€")

    # Sorting runs in the database over all 300 rows, not just the page shown.
    table.get_by_role("button", name="Price").click()
    expect(table.locator("th[aria-sort=ascending]")).to_contain_text("Price")
    table.get_by_role("button", name="Price").click()
    expect(table.locator("th[aria-sort=descending]")).to_contain_text("Price")
    expect(rows.first.get_by_label("Edit Name")).to_have_value("Item 300")
    expect(rows.first).to_contain_text("375,00")

    # Paging: the next page continues the order.
    pager.get_by_role("button", name="Next").click()
    expect(pager).to_contain_text(f"Rows 21–40 of {ROWS}")
    expect(rows.first.get_by_label("Edit Name")).to_have_value("Item 280")
    pager.get_by_role("button", name="Previous").click()
    expect(pager).to_contain_text(f"Rows 1–20 of {ROWS}")

    # A declared filter (category equals) and the filter box (search) together, both in the database.
    table.get_by_label("Category", exact=True).fill("books")
    in_books = [i for i in range(1, ROWS + 1) if CATEGORIES[i % 3] == "books"]
    expect(pager).to_contain_text(f"of {len(in_books)}")
    table.get_by_label("Filter Items").fill("Item 29")
    matching = [i for i in in_books if f"Item {i:03d}".startswith("Item 29")]
    expect(rows).to_have_count(len(matching))
    expect(rows.first.get_by_label("Edit Name")).to_have_value(f"Item {max(matching):03d}")
    assert sorted(names(table)) == [f"Item {i:03d}" for i in matching]
    for row in rows.all():
        expect(row).to_contain_text("books")
    table.get_by_label("Filter Items").fill("")
    table.get_by_label("Category", exact=True).fill("")
    expect(pager).to_contain_text(f"Rows 1–20 of {ROWS}")


def test_a_postgresql_table_saves_edits_and_shows_conflicts(items: Dev, postgres: Postgres, page: Page) -> None:
    page.goto(f"{items.url}/apps/shop/items")
    table = page.locator("[data-block=items]")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(20)

    # Edit a cell: saved to the base table by primary key.
    table.get_by_role("button", name="Id").click()
    expect(table.locator("th[aria-sort=ascending]")).to_contain_text("Id")
    first = rows.nth(0)
    expect(first.get_by_label("Edit Name")).to_have_value("Item 001")
    first.get_by_label("Edit Name").fill("Renamed in the browser")
    first.get_by_label("Edit Name").press("Enter")
    assert database_value(postgres, "SELECT name FROM items WHERE id = 1", "Renamed in the browser") == (
        "Renamed in the browser"
    )
    expect(first.get_by_label("Edit Name")).to_have_value("Renamed in the browser")

    # A boolean cell is a checkbox.
    seventh = rows.nth(6)  # id 7: not in stock
    expect(seventh.get_by_label("Edit In stock")).not_to_be_checked()
    seventh.get_by_label("Edit In stock").check()
    assert database_value(postgres, "SELECT in_stock FROM items WHERE id = 7", "t") == "t"

    # Someone else changes a row meanwhile: the edit is refused and the cell shows the conflict and the
    # current value; the database keeps the other change.
    postgres.psql("shop", "UPDATE items SET name = 'Changed elsewhere' WHERE id = 2")
    second = rows.nth(1)
    expect(second.get_by_label("Edit Name")).to_have_value("Item 002")  # the page shown is older
    second.get_by_label("Edit Name").fill("My change")
    second.get_by_label("Edit Name").press("Enter")
    conflict = second.get_by_role("alert")
    expect(conflict).to_contain_text("Changed elsewhere")
    expect(second.get_by_label("Edit Name")).to_have_value("Changed elsewhere")  # the page was reloaded
    assert postgres.psql("shop", "SELECT name FROM items WHERE id = 2").strip() == "Changed elsewhere"

    # Editing the cell again (from the current value) saves and clears the conflict.
    second.get_by_label("Edit Name").fill("My change, again")
    second.get_by_label("Edit Name").press("Enter")
    assert database_value(postgres, "SELECT name FROM items WHERE id = 2", "My change, again") == "My change, again"
    expect(second.get_by_role("alert")).to_have_count(0)


def test_a_postgresql_table_adds_and_deletes_rows(items: Dev, postgres: Postgres, page: Page) -> None:
    page.goto(f"{items.url}/apps/shop/items")
    table = page.locator("[data-block=items]")
    pager = table.get_by_role("navigation", name="Items pages")
    expect(pager).to_contain_text(f"Rows 1–20 of {ROWS}")

    # New row: the base table's columns without the key the database fills; a blank field takes its default.
    table.get_by_role("button", name="New row").click()
    form = table.get_by_role("form", name="New row of Items")
    expect(form.get_by_label("Edit Id")).to_have_count(0)
    form.get_by_label("Edit Name").fill("Brand new")
    form.get_by_label("Edit Category").fill("tools")
    form.get_by_label("Edit Price").fill("9.99")
    form.get_by_role("button", name="Add row").click()
    expect(form).to_have_count(0)
    expect(pager).to_contain_text(f"of {ROWS + 1}")
    added = postgres.psql("shop", "SELECT category, price, in_stock FROM items WHERE name = 'Brand new'").strip()
    assert added == "tools|9.99|t"

    # Delete: a row action, after a confirmation.
    page.once("dialog", lambda dialog: dialog.accept())
    table.get_by_role("button", name="Id").click()
    third = table.locator("tbody tr").nth(2)
    expect(third.get_by_label("Edit Name")).to_have_value("Item 003")
    third.get_by_role("button", name="Delete").click()
    expect(pager).to_contain_text(f"of {ROWS}")
    assert database_value(postgres, "SELECT count(*) FROM items WHERE id = 3", "0") == "0"
    expect(table.locator("tbody tr").nth(2).get_by_label("Edit Name")).to_have_value("Item 004")


def test_a_statement_reloads_the_page_the_user_is_on(items: Dev, postgres: Postgres, page: Page) -> None:
    page.goto(f"{items.url}/apps/shop/items")
    table = page.locator("[data-block=items]")
    rows = table.locator("tbody tr")
    pager = table.get_by_role("navigation", name="Items pages")
    expect(pager).to_contain_text(f"Rows 1–20 of {ROWS}")
    table.get_by_role("button", name="Id").click()
    pager.get_by_role("button", name="Next").click()
    expect(pager).to_contain_text(f"Rows 21–40 of {ROWS}")
    expect(rows.nth(2).get_by_label("Edit Name")).to_have_value("Item 023")  # a book: 23 % 3 == 2
    expect(rows.nth(2)).to_contain_text("28,75")

    # A .sql statement with `-- reload: items`: the table shows its new values on the page, order and
    # filters the user chose (not the first page the statement's answer carries), with the statement's message.
    page.get_by_role("button", name="Discount books").click()
    expect(table).to_contain_text("Books are half price now.")
    expect(rows.nth(2)).to_contain_text("14,38")
    expect(pager).to_contain_text(f"Rows 21–40 of {ROWS}")
    expect(table.locator("th[aria-sort=ascending]")).to_contain_text("Id")
    assert postgres.psql("shop", "SELECT price FROM items WHERE id = 23").strip() == "14.38"


def test_reload_of_a_python_table_runs_its_fetcher_in_the_viewer(items: Dev, page: Page) -> None:
    page.goto(f"{items.url}/apps/shop/recent")
    table = page.locator("[data-block=recent]")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").first).to_contain_text("Item 001")
    page.get_by_role("button", name="Rename").click()
    expect(table.locator("tbody tr").first).to_contain_text("Renamed by Python")


@pytest.mark.parametrize(
    "search",
    ["'; DROP TABLE items; --", 'Item" OR 1=1 --', "Ítem ☃ 🚀", "%", "_"],
    ids=["quote", "double-quote", "unicode", "percent", "underscore"],
)
def test_the_filter_box_is_only_ever_a_bound_value(items: Dev, postgres: Postgres, page: Page, search: str) -> None:
    page.goto(f"{items.url}/apps/shop/items")
    table = page.locator("[data-block=items]")
    expect(table.locator("tbody tr")).to_have_count(20)
    table.get_by_label("Filter Items").fill(search)
    expect(table.locator("td.empty")).to_have_text("No rows")  # no name contains it (% and _ are not wildcards)
    table.get_by_label("Filter Items").fill("")
    expect(table.locator("tbody tr")).to_have_count(20)
    assert postgres.psql("shop", "SELECT count(*) FROM items").strip() == str(ROWS)


def test_a_refused_request_shows_its_error_and_keeps_the_rows(items: Dev, page: Page) -> None:
    page.goto(f"{items.url}/apps/shop/items")
    table = page.locator("[data-block=items]")
    expect(table.locator("tbody tr")).to_have_count(20)
    table.get_by_label("Filter Items").fill("nul \u0000 byte")  # PostgreSQL text cannot hold it
    expect(table.locator(".table-error")).to_contain_text("data source shop")
    expect(table.locator("tbody tr")).to_have_count(20)  # the last good page stays
    expect(table.get_by_label("Filter Items")).to_have_value("nul \u0000 byte")  # and what was typed
    table.get_by_label("Filter Items").fill("Item 00")
    expect(table.locator(".table-error")).to_have_count(0)
    expect(table.locator("tbody tr")).to_have_count(9)
