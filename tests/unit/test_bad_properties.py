"""Broken copies of the sample workspace: each problem is reported with its file, JSON path and a message a
person can act on; `appyard validate` and `appyard gen` exit 1, and nothing is written.

The SQL cases run on the samples plus a small `shop` app (:func:`install_shop`): a PostgreSQL source whose URL
is never set (so `appyard gen` cannot learn anything and keeps the committed database.json), a `.sql` fetcher
over one table, a `.sql` statement on a button, and the database.json facts `appyard gen` would have written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from appyard import codegen
from appyard.cli import app
from appyard.database import PageDatabase
from appyard.workspace import load_page

Json = dict[str, Any]
Mutation = Callable[[Path], None]

ORDERS = "orders/orders/properties.json"
CUSTOMERS = "orders/customers/properties.json"
CLOCK = "ops/clock/properties.json"
WORKSPACE = "properties.json"
SHOP_APP = "shop/properties.json"
SHOP = "shop/items/properties.json"
SHOP_DB = "shop/items/database.json"
LIST_ITEMS = "shop/items/scripts/list_items.sql"
MARK_SOLD = "shop/items/scripts/mark_sold.sql"

SHOP_PAGE: Json = {
    "blocks": [
        {
            "block_type": "widget",
            "name": "filters",
            "components": [
                {"component_type": "input", "name": "name"},
                {"component_type": "button", "name": "mark", "on_click": "mark_sold"},
            ],
        },
        {
            "block_type": "table",
            "name": "items",
            "fetcher": "list_items",
            "columns": [
                {"name": "id"},
                {"name": "name", "editable": True},
                {"name": "price", "display_type": "currency", "currency": "EUR", "locale": "de-DE", "editable": True},
                {"name": "total"},
            ],
            "filters": [{"column": "name", "operator": "contains"}],
            "deletable": True,
        },
    ]
}

LIST_ITEMS_SQL = """-- The shop's items, filtered by name.
-- source: shop
SELECT id, name, price, price * 2 AS total
FROM items
WHERE :filters.name IS NULL OR name LIKE :filters.name
"""

MARK_SOLD_SQL = """-- Mark the selected item as sold.
-- reload: items
-- message: Marked as sold.
UPDATE items SET sold = true WHERE id = :items.id
"""

SHOP_FACTS: Json = {
    "tables": {
        "items": {
            "source": "shop",
            "base_table": "items",
            "primary_key": ["id"],
            "columns": {
                "id": {
                    "data_type": "integer",
                    "db_type": "INTEGER",
                    "nullable": False,
                    "primary_key": True,
                    "base_column": "id",
                    "has_default": True,
                },
                "name": {"data_type": "text", "db_type": "TEXT", "nullable": False, "base_column": "name"},
                "price": {"data_type": "float", "db_type": "NUMERIC(10, 2)", "base_column": "price"},
                "total": {"data_type": "float", "db_type": "NUMERIC"},
            },
        }
    }
}


def edit(relative: str, change: Callable[[Json], None]) -> Mutation:
    def apply(root: Path) -> None:
        path = root / relative
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data, indent=2))

    return apply


def write(relative: str, text: str) -> Mutation:
    def apply(root: Path) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    return apply


def component(data: Json, block: int, index: int) -> Json:
    found: Json = data["blocks"][block]["components"][index]
    return found


def set_(target: Callable[[Json], Json], key: str, value: Any) -> Callable[[Json], None]:
    return lambda data: target(data).__setitem__(key, value)


def drop(target: Callable[[Json], Json], key: str) -> Callable[[Json], None]:
    return lambda data: target(data).pop(key)


def first_input(data: Json) -> Json:
    return component(data, 0, 0)  # orders page: new_order.customer (a select)


def orders_table(data: Json) -> Json:
    table: Json = data["blocks"][1]
    return table


CASES: list[tuple[str, Mutation, str, str, str]] = [
    # id, mutation, file, JSON path, message fragment
    (
        "malformed-json",
        write(ORDERS, '{\n  "blocks": [\n    {"block_type": "widget",, "name": "x"}\n  ]\n}\n'),
        ORDERS,
        "$",
        "invalid JSON at line 3, column 29",
    ),
    (
        "unknown-component-type",
        edit(ORDERS, set_(first_input, "component_type", "slider")),
        ORDERS,
        "blocks[0].components[0].component_type",
        "unknown component_type 'slider'; valid types: boolean, button, input, select, text",
    ),
    (
        "missing-component-type",
        edit(ORDERS, drop(first_input, "component_type")),
        ORDERS,
        "blocks[0].components[0]",
        "missing component_type; one of: boolean, button, input, select, text",
    ),
    (
        "unknown-block-type",
        edit(ORDERS, lambda data: data["blocks"][1].__setitem__("block_type", "chart")),
        ORDERS,
        "blocks[1].block_type",
        "unknown block_type 'chart'; valid types: table, widget",
    ),
    (
        "unknown-property-suggestion",
        edit(ORDERS, set_(first_input, "lable", "Customer")),
        ORDERS,
        "blocks[0].components[0].lable",
        "unknown property 'lable'; did you mean 'label'?",
    ),
    (
        "duplicate-block",
        edit(ORDERS, lambda data: data["blocks"][2].__setitem__("name", "orders")),
        ORDERS,
        "blocks[2].name",
        "duplicate block name 'orders' (also at blocks[1].name)",
    ),
    (
        "duplicate-component",
        edit(ORDERS, lambda data: component(data, 0, 2).__setitem__("name", "customer")),
        ORDERS,
        "blocks[0].components[2].name",
        "duplicate component name 'customer' (also at blocks[0].components[0].name)",
    ),
    (
        "duplicate-column",
        edit(ORDERS, lambda data: orders_table(data)["columns"][2].__setitem__("name", "id")),
        ORDERS,
        "blocks[1].columns[2].name",
        "duplicate column name 'id'",
    ),
    (
        "name-not-identifier",
        edit(ORDERS, set_(first_input, "name", "customer name")),
        ORDERS,
        "blocks[0].components[0].name",
        "'customer name' is not a valid Python identifier",
    ),
    (
        "name-keyword",
        edit(ORDERS, set_(first_input, "name", "class")),
        ORDERS,
        "blocks[0].components[0].name",
        "'class' is a Python keyword",
    ),
    (
        "name-reserved-pydantic",
        edit(ORDERS, lambda data: data["blocks"][0].__setitem__("name", "model_dump")),
        ORDERS,
        "blocks[0].name",
        "'model_dump' is reserved by the generated State/Context models",
    ),
    (
        "name-reserved-json",
        edit(ORDERS, set_(first_input, "name", "json")),
        ORDERS,
        "blocks[0].components[0].name",
        "'json' is reserved",
    ),
    (
        "name-underscore",
        edit(ORDERS, set_(first_input, "name", "_hidden")),
        ORDERS,
        "blocks[0].components[0].name",
        "starts with an underscore",
    ),
    (
        "on-click-missing-function",
        edit(ORDERS, lambda data: component(data, 0, 4).__setitem__("on_click", "serch")),
        ORDERS,
        "blocks[0].components[4].on_click",
        "function 'serch' not found",
    ),
    (
        "options-fetcher-missing-function-suggests",
        edit(ORDERS, set_(first_input, "options_fetcher", "customer_option")),
        ORDERS,
        "blocks[0].components[0].options_fetcher",
        "did you mean 'customer_options'?",
    ),
    (
        "on-row-change-missing-function",
        edit(ORDERS, lambda data: orders_table(data).__setitem__("on_row_change", "nothing_here")),
        ORDERS,
        "blocks[1].on_row_change",
        "the page's functions are: close_editor, create_order, customer_options, list_orders, open_editor, "
        "save_order, ship_order, show_order",
    ),
    (
        "on-edit-missing-function",
        edit(ORDERS, lambda data: orders_table(data).__setitem__("on_edit", "gone")),
        ORDERS,
        "blocks[1].on_edit",
        "function 'gone' not found",
    ),
    (
        "button-column-missing-function",
        edit(ORDERS, lambda data: orders_table(data)["columns"][8].__setitem__("on_click", "ship")),
        ORDERS,
        "blocks[1].columns[8].on_click",
        "function 'ship' not found",
    ),
    (
        "fetcher-missing-function",
        edit(ORDERS, lambda data: orders_table(data).__setitem__("fetcher", "fetch")),
        ORDERS,
        "blocks[1].fetcher",
        "function 'fetch' not found",
    ),
    (
        "options-fetcher-missing-function",
        edit(CUSTOMERS, lambda data: component(data, 0, 0).__setitem__("options_fetcher", "cities")),
        CUSTOMERS,
        "blocks[0].components[0].options_fetcher",
        "function 'cities' not found",
    ),
    (
        "rule-target-missing",
        edit(ORDERS, lambda data: data["blocks"][2]["display_rules"]["when"].__setitem__("target", "orders.idd")),
        ORDERS,
        "blocks[2].display_rules.when.target",
        "display rule target 'orders.idd' does not exist; did you mean 'orders.id'?",
    ),
    (
        "rule-nested-target-missing",
        edit(
            ORDERS,
            lambda data: component(data, 2, 1)["display_rules"]["when"]["all"][1]["any"][0].__setitem__(
                "target", "orders.state"
            ),
        ),
        ORDERS,
        "blocks[2].components[1].display_rules.when.all[1].any[0].target",
        "display rule target 'orders.state' does not exist",
    ),
    (
        "rule-value-wrong-type",
        edit(
            ORDERS,
            lambda data: component(data, 2, 1)["display_rules"]["when"]["all"][0].__setitem__("value", "lots"),
        ),
        ORDERS,
        "blocks[2].components[1].display_rules.when.all[0].value",
        '"lots" is not a float value',
    ),
    (
        "rule-gt-on-boolean",
        edit(
            CUSTOMERS,
            lambda data: component(data, 2, 4)["display_rules"]["when"].__setitem__("operator", "gt"),
        ),
        CUSTOMERS,
        "blocks[2].components[4].display_rules.when.operator",
        "gt cannot compare boolean values",
    ),
    (
        "default-not-integer",
        edit(CLOCK, lambda data: component(data, 2, 2).__setitem__("default", "abc")),
        CLOCK,
        "blocks[2].components[2].default",
        '"abc" is not an integer value (for example 42)',
    ),
    (
        "default-not-date",
        edit(CLOCK, lambda data: component(data, 2, 1).__setitem__("default", "yesterday")),
        CLOCK,
        "blocks[2].components[1].default",
        '"yesterday" is not a date value',
    ),
    (
        "multiline-integer",
        edit(CLOCK, lambda data: component(data, 2, 2).__setitem__("multiline", True)),
        CLOCK,
        "blocks[2].components[2]",
        "multiline applies to text inputs only, not to integer",
    ),
    (
        "select-default-not-an-option",
        edit(ORDERS, lambda data: component(data, 3, 1).__setitem__("default", "lost")),
        ORDERS,
        "blocks[3].components[1]",
        "default 'lost' is not one of the options",
    ),
    (
        "display-type-incompatible",
        edit(ORDERS, lambda data: orders_table(data)["columns"][6].__setitem__("display_type", "currency")),
        ORDERS,
        "blocks[1].columns[6]",
        "display_type 'currency' cannot show datetime values",
    ),
    (
        "layout-too-wide",
        edit(ORDERS, lambda data: data["blocks"][2].__setitem__("layout", {"x": 8, "w": 6})),
        ORDERS,
        "blocks[2].layout",
        "x + w is 14, wider than the 12-column grid",
    ),
    (
        "workspace-missing-app-folder",
        edit("properties.json", lambda data: data["apps"].append({"name": "billing"})),
        "properties.json",
        "apps[3].name",
        "app folder",
    ),
    (
        "app-missing-page-folder",
        edit("orders/properties.json", lambda data: data["pages"].append({"name": "returns"})),
        "orders/properties.json",
        "pages[2].name",
        "page folder",
    ),
    (
        "unlisted-page-folder",
        edit("orders/properties.json", lambda data: data["pages"].pop()),
        "orders/properties.json",
        "pages",
        "folder customers/ has a page properties.json but is not listed in pages",
    ),
    (
        "duplicate-page-entry",
        edit("orders/properties.json", lambda data: data["pages"].append({"name": "orders"})),
        "orders/properties.json",
        "pages[2].name",
        "page 'orders' is listed twice",
    ),
    (
        "app-name-shadows-stdlib",
        edit("properties.json", lambda data: data["apps"].append({"name": "json"})),
        "properties.json",
        "apps[3].name",
        "'json' is the name of a Python module",
    ),
    (
        "script-syntax-error",
        write("ops/clock/scripts/broken.py", "def oops(state, context)\n    return context\n"),
        "ops/clock/scripts/broken.py",
        "line 1",
        "syntax error: expected ':'",
    ),
    (
        "function-defined-twice",
        write("ops/clock/scripts/again.py", "def zone_options(state, context):\n    return context\n"),
        "ops/clock/scripts/zones.py",
        "line",
        "function 'zone_options' is also defined in again.py",
    ),
    (
        "runner-limit-out-of-range",
        edit("ops/properties.json", lambda data: data["runner"].__setitem__("memory_mb", 1)),
        "ops/properties.json",
        "runner.memory_mb",
        "greater than or equal to 32",
    ),
]


def install_shop(root: Path) -> None:
    """Add the `shop` app (a SQL table over a PostgreSQL source) with its generated models to a workspace copy."""
    workspace = json.loads((root / WORKSPACE).read_text())
    workspace["apps"].append({"name": "shop"})
    workspace["data_sources"]["shop"] = {"kind": "postgres", "url_env": "APPYARD_TEST_SHOP_URL_NEVER_SET"}
    (root / WORKSPACE).write_text(json.dumps(workspace, indent=2))
    files = {
        SHOP_APP: json.dumps({"label": "Shop", "pages": [{"name": "items"}], "data_sources": ["shop"]}),
        SHOP: json.dumps(SHOP_PAGE, indent=2),
        SHOP_DB: json.dumps(SHOP_FACTS, indent=2),
        LIST_ITEMS: LIST_ITEMS_SQL,
        MARK_SOLD: MARK_SOLD_SQL,
    }
    for relative, text in files.items():
        write(relative, text)(root)
    page = load_page("shop", root / "shop" / "items")
    codegen.write(page.dir, codegen.generate(page.properties, page.database))


def shop(*mutations: Mutation) -> Mutation:
    """A mutation of the samples with the `shop` app installed first."""

    def apply(root: Path) -> None:
        install_shop(root)
        for mutation in mutations:
            mutation(root)

    return apply


def shop_table(data: Json) -> Json:
    table: Json = data["blocks"][1]
    return table


def shop_column(index: int) -> Callable[[Json], Json]:
    return lambda data: shop_table(data)["columns"][index]


def facts_column(name: str) -> Callable[[Json], Json]:
    return lambda data: data["tables"]["items"]["columns"][name]


SQL_CASES: list[tuple[str, Mutation, str, str, str]] = [
    (
        "app-source-undeclared",
        shop(edit(SHOP_APP, lambda data: data.__setitem__("data_sources", ["shp"]))),
        SHOP_APP,
        "data_sources[0]",
        "data source 'shp' is not declared in the workspace's properties.json; did you mean 'shop'?",
    ),
    (
        "default-url-on-postgres",
        shop(edit(WORKSPACE, lambda data: data["data_sources"]["shop"].__setitem__("default_url", "sqlite:///x.db"))),
        WORKSPACE,
        "data_sources.shop.default_url",
        "default_url is for sqlite sources only; a postgres URL belongs in the environment variable "
        "APPYARD_TEST_SHOP_URL_NEVER_SET",
    ),
    (
        "seed-on-postgres",
        shop(edit(WORKSPACE, lambda data: data["data_sources"]["shop"].__setitem__("seed", "seed.sql"))),
        WORKSPACE,
        "data_sources.shop.seed",
        "seed applies only to a sqlite source with a default_url",
    ),
    (
        "sql-source-undeclared",
        shop(write(LIST_ITEMS, LIST_ITEMS_SQL.replace("source: shop", "source: shopp"))),
        LIST_ITEMS,
        "line 2",
        "data source 'shopp' is not declared; did you mean 'shop'? (this app's data sources: shop)",
    ),
    (
        "sql-no-source",
        shop(
            write(LIST_ITEMS, LIST_ITEMS_SQL.replace("-- source: shop\n", "")),
            edit(SHOP_APP, lambda data: data.__setitem__("data_sources", [])),
        ),
        LIST_ITEMS,
        "$",
        "no data source to run on: add the source to data_sources in workspace/shop/properties.json",
    ),
    (
        "sql-parameter-matches-nothing",
        shop(write(LIST_ITEMS, LIST_ITEMS_SQL.replace("OR name LIKE :filters.name", "OR name LIKE :filters.nam"))),
        LIST_ITEMS,
        "line 5",
        "filters.nam",
    ),
    (
        "sql-statement-as-fetcher",
        shop(edit(SHOP, lambda data: shop_table(data).__setitem__("fetcher", "mark_sold"))),
        SHOP,
        "blocks[1].fetcher",
        "mark_sold.sql is a statement, not a query: a table's fetcher must return rows",
    ),
    (
        "sql-query-on-a-button",
        shop(edit(SHOP, lambda data: component(data, 0, 1).__setitem__("on_click", "list_items"))),
        SHOP,
        "blocks[0].components[1].on_click",
        "list_items.sql is a query (it returns rows): bind it as a table's fetcher",
    ),
    (
        "sql-reload-names-no-table",
        shop(write(MARK_SOLD, MARK_SOLD_SQL.replace("reload: items", "reload: itemz"))),
        MARK_SOLD,
        "line 2",
        "`-- reload:` names 'itemz', which is no table of this page; did you mean 'items'? (tables: items)",
    ),
    (
        "sql-and-py-function-clash",
        shop(write("shop/items/scripts/helpers.py", "def list_items(state, context):\n    return context\n")),
        LIST_ITEMS,
        "$",
        "function 'list_items' is also defined in helpers.py (line 1); rename one of them",
    ),
    (
        "sql-file-name-not-identifier",
        shop(write("shop/items/scripts/list-all.sql", "SELECT 1\n")),
        "shop/items/scripts/list-all.sql",
        "$",
        "'list-all.sql' is not a function name",
    ),
    (
        "data-type-contradicts-database",
        shop(edit(SHOP, set_(shop_column(1), "data_type", "integer"))),
        SHOP,
        "blocks[1].columns[1].data_type",
        "data_type 'integer' contradicts the database: name is TEXT (text); drop data_type",
    ),
    (
        "display-type-database-cannot-show",
        shop(edit(SHOP, set_(shop_column(1), "display_type", "currency"))),
        SHOP,
        "blocks[1].columns[1].display_type",
        "display_type 'currency' cannot show text values; use one of ['text', 'link', 'select', 'tags'] "
        "(TEXT in the database)",
    ),
    (
        "filter-on-column-the-query-does-not-return",
        shop(
            edit(SHOP, lambda data: shop_table(data)["columns"].append({"name": "colour"})),
            edit(SHOP, lambda data: shop_table(data).__setitem__("filters", [{"column": "colour"}])),
        ),
        SHOP,
        "blocks[1].filters[0].column",
        "the fetcher's query does not return column 'colour' (it returns: id, name, price, total)",
    ),
    (
        "filter-on-undeclared-column",
        shop(edit(SHOP, lambda data: shop_table(data).__setitem__("filters", [{"column": "nmae"}]))),
        SHOP,
        "blocks[1].filters[0].column",
        "'nmae' is not a data column of the table; did you mean 'name'? (columns: id, name, price, total)",
    ),
    (
        "filter-operator-unknown",
        shop(edit(SHOP, lambda data: shop_table(data)["filters"][0].__setitem__("operator", "like"))),
        SHOP,
        "blocks[1].filters[0].operator",
        "'equals', 'not_equals', 'contains', 'starts_with'",
    ),
    (
        "editable-computed-column",
        shop(edit(SHOP, set_(shop_column(3), "editable", True))),
        SHOP,
        "blocks[1].columns[3].editable",
        "column 'total' is editable but the query computes it (it is no column of items)",
    ),
    (
        "editable-primary-key",
        shop(edit(SHOP, set_(shop_column(0), "editable", True))),
        SHOP,
        "blocks[1].columns[0].editable",
        "it is the primary key of items, which is never edited",
    ),
    (
        "editable-without-facts",
        shop(lambda root: (root / SHOP_DB).unlink()),
        SHOP,
        "blocks[1].columns[1].editable",
        "database.json knows nothing of this table yet, so edits cannot be saved by primary key: run `appyard gen` "
        "with the data source reachable, or set on_edit",
    ),
    (
        "deletable-not-smart",
        shop(edit(SHOP_DB, lambda data: data["tables"]["items"].__setitem__("base_table", None))),
        SHOP,
        "blocks[1].deletable",
        "deletable needs the fetcher to read one table with its whole primary key",
    ),
    (
        "database-json-malformed",
        shop(edit(SHOP_DB, set_(facts_column("name"), "data_type", "string"))),
        SHOP_DB,
        "tables.items.columns.name.data_type",
        "it is generated: run `appyard gen`",
    ),
    (
        "currency-not-iso-4217",
        shop(edit(SHOP, set_(shop_column(2), "currency", "euro"))),
        SHOP,
        "blocks[1].columns[2].currency",
        "String should match pattern '^[A-Z]{3}$'",
    ),
    (
        "link-text-without-link",
        shop(edit(SHOP, set_(shop_column(1), "link_text", "open"))),
        SHOP,
        "blocks[1].columns[1]",
        "link_text applies only when display_type is 'link'",
    ),
]

MESSAGE_CASES: list[tuple[str, Mutation, str, str, str]] = [
    (
        "alias-tables-for-blocks",
        edit(ORDERS, lambda data: data.__setitem__("tables", [])),
        ORDERS,
        "tables",
        "unknown property 'tables'; did you mean 'blocks'?",
    ),
    (
        "alias-size-for-page-size",
        edit(ORDERS, lambda data: orders_table(data).__setitem__("size", 50)),
        ORDERS,
        "blocks[1].size",
        "unknown property 'size'; did you mean 'page_size'?",
    ),
    (
        "alias-type-for-column-type",
        edit(ORDERS, lambda data: orders_table(data)["columns"][8].__setitem__("type", "button")),
        ORDERS,
        "blocks[1].columns[8].type",
        "unknown property 'type'; the key is 'column_type' (one of: button, data)",
    ),
    (
        "column-type-is-a-display-type",
        edit(ORDERS, lambda data: orders_table(data)["columns"][4].__setitem__("column_type", "currency")),
        ORDERS,
        "blocks[1].columns[4].column_type",
        "unknown column_type 'currency'; valid types: button, data ('currency' is a display_type: keep column_type "
        "'data' and set display_type)",
    ),
    (
        "column-type-unknown",
        edit(ORDERS, lambda data: orders_table(data)["columns"][8].__setitem__("column_type", "chart")),
        ORDERS,
        "blocks[1].columns[8].column_type",
        "unknown column_type 'chart'; valid types: button, data",
    ),
    (
        "on-click-not-a-name",
        edit(ORDERS, lambda data: component(data, 0, 4).__setitem__("on_click", 5)),
        ORDERS,
        "blocks[0].components[4].on_click",
        'expected a function name (text such as "list_orders"), got 5',
    ),
    (
        "suggestion-is-never-the-same-name",
        edit(ORDERS, lambda data: data["blocks"][2].__setitem__("layout", {"x": 0, "label": "x"})),
        ORDERS,
        "blocks[2].layout.label",
        "unknown property 'label'",
    ),
    (
        "editable-without-on-edit",
        edit(CUSTOMERS, lambda data: data["blocks"][1].pop("on_edit")),
        CUSTOMERS,
        "blocks[1].columns[4].editable",
        "column 'vip' is editable but the table has no on_edit to save edits",
    ),
    (
        "column-named-edited-cell",
        edit(ORDERS, lambda data: orders_table(data)["columns"][7].__setitem__("name", "edited_cell")),
        ORDERS,
        "blocks[1].columns[7].name",
        "'edited_cell' is reserved by the table's State",
    ),
]

CASES += MESSAGE_CASES + SQL_CASES


def generated(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for pattern in ("*/*/state.py", "*/*/context.py") for path in root.glob(pattern)}


@pytest.fixture
def cli(workspace_copy: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(workspace_copy.parent)
    return CliRunner()


def test_the_samples_are_valid(cli: CliRunner) -> None:
    result = cli.invoke(app, ["validate", "workspace"])
    assert result.exit_code == 0, result.output
    assert "3 apps, 5 pages, no problems" in result.output


def test_a_sql_table_with_smart_edits_is_valid(cli: CliRunner, workspace_copy: Path) -> None:
    install_shop(workspace_copy)
    result = cli.invoke(app, ["validate", "--no-imports", "workspace"])
    assert result.exit_code == 0, result.output
    page = load_page("shop", workspace_copy / "shop" / "items")
    assert page.functions["list_items"].kind == "sql"
    assert page.database == PageDatabase.model_validate(SHOP_FACTS)


@pytest.mark.parametrize(("mutate", "file", "path", "message"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_broken_properties_are_reported_precisely(
    cli: CliRunner, workspace_copy: Path, mutate: Mutation, file: str, path: str, message: str
) -> None:
    mutate(workspace_copy)
    before = generated(workspace_copy)

    result = cli.invoke(app, ["validate", "--no-imports", "workspace"])  # imports: their own test below

    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("workspace/")]
    prefix = f"workspace/{file}: {path}"
    matching = [line for line in lines if line.startswith(prefix) and message in line]
    assert matching, f"no line starts with {prefix!r} and contains {message!r}; got:\n" + "\n".join(lines)
    assert not [line for line in lines if "did you mean" in line and _suggests_itself(line)]

    generation = cli.invoke(app, ["gen", "workspace"])
    assert generation.exit_code == 1
    assert generated(workspace_copy) == before, "gen wrote files although the workspace is invalid"


def test_every_problem_of_a_page_is_reported_at_once(cli: CliRunner, workspace_copy: Path) -> None:
    def break_twice(data: Json) -> None:
        component(data, 0, 4)["on_click"] = "nope"
        data["blocks"][2]["name"] = "orders"

    edit(ORDERS, break_twice)(workspace_copy)
    result = cli.invoke(app, ["validate", "--no-imports", "workspace"])
    assert result.exit_code == 1
    assert "blocks[0].components[4].on_click: function 'nope' not found" in result.stdout
    assert "blocks[2].name: duplicate block name 'orders'" in result.stdout
    assert "2 problems in 1 file" in result.output


def _suggests_itself(line: str) -> bool:
    if "unknown property " not in line:
        return False
    unknown = line.rsplit("unknown property ", maxsplit=1)[-1].split(";", maxsplit=1)[0]
    return f"did you mean {unknown}?" in line


def test_structure_errors_do_not_hide_function_checks(cli: CliRunner, workspace_copy: Path) -> None:
    def break_twice(data: Json) -> None:
        component(data, 0, 0)["component_type"] = "slider"
        component(data, 0, 4)["on_click"] = "list_order"

    edit(ORDERS, break_twice)(workspace_copy)
    result = cli.invoke(app, ["validate", "--no-imports", "workspace"])
    assert result.exit_code == 1
    assert "blocks[0].components[0].component_type: unknown component_type 'slider'" in result.stdout
    missing = "blocks[0].components[4].on_click: function 'list_order' not found; did you mean 'list_orders'?"
    assert missing in result.stdout


def test_structure_errors_do_not_hide_sql_parameter_checks(cli: CliRunner, workspace_copy: Path) -> None:
    shop(
        edit(SHOP, lambda data: data["blocks"][1].__setitem__("page_size", 0)),
        write(LIST_ITEMS, LIST_ITEMS_SQL.replace("LIKE :filters.name", "LIKE :filters.nam")),
    )(workspace_copy)
    result = cli.invoke(app, ["validate", "--no-imports", "workspace"])
    assert result.exit_code == 1
    assert f"workspace/{SHOP}: blocks[1].page_size" in result.stdout
    assert f"workspace/{LIST_ITEMS}: line 5" in result.stdout and "filters.nam" in result.stdout


def test_validate_before_the_first_gen_says_to_generate(cli: CliRunner, workspace_copy: Path) -> None:
    (workspace_copy / "ops" / "clock" / "state.py").unlink()
    (workspace_copy / "ops" / "clock" / "context.py").unlink()
    result = cli.invoke(app, ["validate", "--no-imports", "workspace"])
    assert result.exit_code == 1
    assert "workspace/ops/clock/state.py: $: not generated yet; run `appyard gen`" in result.stdout
    assert "differs" not in result.stdout
    assert cli.invoke(app, ["gen", "workspace"]).exit_code == 0
    assert cli.invoke(app, ["validate", "--no-imports", "workspace"]).exit_code == 0


def test_validate_reports_failing_imports(cli: CliRunner, workspace_copy: Path) -> None:
    broken = {
        "ops/clock/scripts/missing_module.py": (
            "import appyard_no_such_module\n",
            "line 1",
            "ModuleNotFoundError: No module named 'appyard_no_such_module'",
        ),
        "ops/hashing/scripts/missing_name.py": (
            "from appyard import no_such_name\n",
            "line 1",
            "ImportError: cannot import name 'no_such_name'",
        ),
        "orders/customers/scripts/raises.py": (
            "X = 1\nraise RuntimeError('needs a token')\n",
            "line 2",
            "RuntimeError: needs a token",
        ),
    }
    for relative, (script, _, _) in broken.items():
        write(relative, script)(workspace_copy)
    result = cli.invoke(app, ["validate", "workspace"])
    assert result.exit_code == 1, result.output
    for relative, (_, line, message) in broken.items():
        assert f"workspace/{relative}: {line}: importing failed: {message}" in result.stdout, result.stdout
    assert "3 problems in 3 files" in result.output
