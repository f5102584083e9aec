"""The web client in real Chromium: the viewer with the sample apps, and the Studio building a page."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from .conftest import Dev

pytestmark = pytest.mark.e2e

NAME = re.compile(r"^Name\*?$")  # the form marks required properties with *

SEARCH_FUNCTION = '''"""search: fill the results table from the query."""

from ..context import Context
from ..state import State


def search(state: State, context: Context) -> Context:
    query = state.finder.query or ""
    context.results.data = [{"n": index, "word": word} for index, word in enumerate(query.split(), start=1)]
    return context
'''


def test_orders_viewer_selects_edits_and_ships(dev: Dev, page: Page) -> None:
    page.goto(f"{dev.url}/apps/orders/orders")
    table = page.locator("[data-block=orders]")
    expect(table.get_by_role("cell", name="Ada Lovelace")).to_be_visible()
    expect(page.locator("[data-block=details]")).to_have_count(0)  # hidden until a row is selected

    table.get_by_role("cell", name="Ada Lovelace").first.click()
    details = page.locator("[data-block=details]")
    expect(details).to_contain_text("Order 1005")

    table.locator("tr", has_text="Ada Lovelace").get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit order 1005")
    expect(dialog.get_by_label("Quantity")).to_have_value("1")
    dialog.get_by_label("Quantity").fill("0")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_contain_text("Enter a quantity of at least 1.")
    dialog.get_by_label("Quantity").fill("2")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)
    expect(table.locator("tr", has_text="Ada Lovelace")).to_contain_text("698.00")
    expect(table).to_contain_text("Order 1005 saved.")

    # The table's declared filter (not the New order form's Customer select): applied in the database.
    table.get_by_label("Customer", exact=True).fill("Grace")
    table.get_by_label("Customer", exact=True).press("Enter")
    expect(table.locator("tbody tr", has_not_text="Grace Hopper")).to_have_count(0)
    expect(table.locator("tbody tr", has_text="Grace Hopper").first).to_be_visible()


def test_a_display_rule_hides_a_component(dev: Dev, page: Page) -> None:
    page.goto(f"{dev.url}/apps/ops/hashing")
    expect(page.get_by_role("textbox", name="Text", exact=True)).to_be_visible()
    expect(page.get_by_label("Salt", exact=True)).to_have_count(0)
    expect(page.get_by_text("Type some text above to hash it.")).to_be_visible()
    page.get_by_role("switch", name="Add a salt").check()
    expect(page.get_by_label("Salt", exact=True)).to_be_visible()
    page.get_by_role("textbox", name="Text", exact=True).fill("hello")
    expect(page.get_by_text("Type some text above to hash it.")).to_have_count(0)
    page.get_by_role("button", name="Hash").click()
    expect(page.locator("[data-component='hash.result']")).to_contain_text("sha256")


def test_a_failing_function_shows_its_traceback(dev: Dev, page: Page) -> None:
    api = httpx.Client(base_url=dev.url, timeout=30)
    api.put(
        "/api/apps/ops/pages/clock/scripts/broken",
        json={"source": "def explode(state, context):\n    raise RuntimeError('the clock is broken')\n"},
    ).raise_for_status()
    properties = api.get("/api/apps/ops/pages/clock").json()["properties"]
    properties["blocks"][0]["components"].append({"component_type": "button", "name": "boom", "on_click": "explode"})
    api.put("/api/apps/ops/pages/clock/properties", json=properties).raise_for_status()

    page.goto(f"{dev.url}/apps/ops/clock")
    page.get_by_role("button", name="Boom").click()
    panel = page.get_by_role("alert").filter(has_text="explode")
    expect(panel).to_contain_text("RuntimeError: the clock is broken")
    expect(panel.locator(".traceback")).to_contain_text('broken.py", line 2, in explode')


def design_the_page(page: Page) -> None:
    """From scratch: the starter widget removed; a widget with an input and a button; a table."""
    page.locator("[data-block=form] header").click()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="+ Widget", exact=True).click()
    properties = page.get_by_role("complementary", name="Properties")
    properties.get_by_role("textbox", name=NAME).fill("finder")
    page.get_by_role("button", name="+ Input", exact=True).click()
    properties.get_by_role("textbox", name=NAME).fill("query")
    page.locator("[data-block=finder] header").click()
    page.get_by_role("button", name="+ Button", exact=True).click()
    properties.get_by_label("Label", exact=True).fill("Search")
    properties.get_by_label("On Click").select_option("__new__")  # "New function…" → the prompt answers "search"
    expect(page.get_by_text("scripts/search.py")).to_be_visible()
    page.get_by_role("button", name="+ Table", exact=True).click()
    properties.get_by_role("textbox", name=NAME).fill("results")
    page.locator("[data-column='results.id']").click()
    properties.get_by_role("textbox", name=NAME).fill("n")
    properties.get_by_label("Data Type").select_option("integer")
    page.locator("[data-block=results] header").click()
    page.get_by_role("button", name="+ Column", exact=True).click()
    properties.get_by_role("textbox", name=NAME).fill("word")
    page.locator(".studio-toolbar").get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="saved")).to_be_visible()


def write_the_function(page: Page) -> None:
    """In the editor: `state.` completes with the page's blocks; then the function is written and saved."""
    page.locator(".monaco-editor").first.click()
    page.keyboard.press("Control+End")
    page.keyboard.press("ArrowUp")  # the stub's `return context`, inside the function
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.type("state.")
    suggestion = page.locator(".suggest-widget .monaco-list-row", has_text="finder")
    expect(suggestion.first).to_be_visible(timeout=60_000)
    page.keyboard.press("Escape")
    page.keyboard.press("Control+a")
    # Pasted, not typed: typing would re-indent every line as the editor does for a person typing.
    page.evaluate("text => navigator.clipboard.writeText(text)", SEARCH_FUNCTION)
    page.keyboard.press("Control+v")
    page.get_by_role("button", name="Save script").click()
    expect(page.locator(".script-editor .status")).to_have_text("saved")


def test_build_a_page_in_the_studio_and_use_it(dev: Dev, page: Page) -> None:
    page.on("dialog", lambda dialog: dialog.accept("search") if dialog.type == "prompt" else dialog.accept())
    page.goto(f"{dev.url}/studio")
    page.get_by_label("New app name").fill("words")
    page.get_by_label("Label").fill("Words")
    page.get_by_role("button", name="Create app").click()
    expect(page.get_by_text("words / Home")).to_be_visible()
    design_the_page(page)
    write_the_function(page)

    page.get_by_role("button", name="Preview").click()
    page.get_by_label("Query").fill("red green blue")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("[data-block=results] tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("green")

    # What the Studio wrote is clean: valid properties, generated models, the script.
    saved = httpx.get(f"{dev.url}/api/apps/words/pages/home", timeout=30).json()
    assert [block["name"] for block in saved["properties"]["blocks"]] == ["finder", "results"]
    assert "search" in [item["name"] for item in saved["functions"]]
    home = dev.workspace / "words" / "home"
    assert json.loads((home / "properties.json").read_text())["blocks"][0]["components"][1]["on_click"] == "search"
    assert re.search(r"query: str \| None = None", (home / "state.py").read_text())
    assert "def search(state: State, context: Context)" in (home / "scripts" / "search.py").read_text()


def test_changes_on_disk_show_up_in_the_studio(dev: Dev, page: Page) -> None:
    page.goto(f"{dev.url}/studio/ops/clock")
    expect(page.locator("[data-block=when]")).to_be_visible()
    path = dev.workspace / "ops" / "clock" / "properties.json"
    data = json.loads(path.read_text())
    data["blocks"][0]["label"] = "Changed elsewhere"
    path.write_text(json.dumps(data, indent=2))
    expect(page.locator("[data-block=when] header")).to_contain_text("Changed elsewhere", timeout=15_000)


def test_validation_errors_show_at_the_property(dev: Dev, page: Page) -> None:
    page.goto(f"{dev.url}/studio/orders/orders")
    page.locator("[data-component='new_order.customer']").click()
    properties = page.get_by_role("complementary", name="Properties")
    properties.get_by_role("textbox", name=NAME).fill("product")  # the New order form has a `product` already
    page.locator(".studio-toolbar").get_by_role("button", name="Save", exact=True).click()
    problems = page.get_by_role("list", name="Problems")
    expect(problems).to_contain_text("blocks[0].components[1].name: duplicate component name 'product'")
    expect(page.locator("[data-component='new_order.product'].has-problem")).to_have_count(1)
    problems.get_by_role("button", name="blocks[0].components[1].name").click()  # selects what it is about
    expect(properties.get_by_role("heading", name="product")).to_be_visible()
    expect(properties).to_contain_text("duplicate component name 'product' (also at blocks[0].components[0].name)")
    on_disk = json.loads((dev.workspace / "orders" / "orders" / "properties.json").read_text())
    assert on_disk["blocks"][0]["components"][0]["name"] == "customer", "nothing is written while invalid"
