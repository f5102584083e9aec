"""Broken copies of the sample workspace: each problem is reported with its file, JSON path and a message a
person can act on; `appyard validate` and `appyard gen` exit 1, and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from appyard.cli import app

Json = dict[str, Any]
Mutation = Callable[[Path], None]

ORDERS = "orders/orders/properties.json"
CUSTOMERS = "orders/customers/properties.json"
CLOCK = "ops/clock/properties.json"


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


@pytest.mark.parametrize(("mutate", "file", "path", "message"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_broken_properties_are_reported_precisely(
    cli: CliRunner, workspace_copy: Path, mutate: Mutation, file: str, path: str, message: str
) -> None:
    mutate(workspace_copy)
    before = generated(workspace_copy)

    result = cli.invoke(app, ["validate", "workspace"])

    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("workspace/")]
    prefix = f"workspace/{file}: {path}"
    matching = [line for line in lines if line.startswith(prefix) and message in line]
    assert matching, f"no line starts with {prefix!r} and contains {message!r}; got:\n" + "\n".join(lines)

    generation = cli.invoke(app, ["gen", "workspace"])
    assert generation.exit_code == 1
    assert generated(workspace_copy) == before, "gen wrote files although the workspace is invalid"


def test_every_problem_of_a_page_is_reported_at_once(cli: CliRunner, workspace_copy: Path) -> None:
    def break_twice(data: Json) -> None:
        component(data, 0, 4)["on_click"] = "nope"
        data["blocks"][2]["name"] = "orders"

    edit(ORDERS, break_twice)(workspace_copy)
    result = cli.invoke(app, ["validate", "workspace"])
    assert result.exit_code == 1
    assert "blocks[0].components[4].on_click: function 'nope' not found" in result.stdout
    assert "blocks[2].name: duplicate block name 'orders'" in result.stdout
    assert "2 problems in 1 file" in result.output
