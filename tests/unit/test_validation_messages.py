"""The checks the API and the Studio run when a page is saved (:func:`appyard.validation.validate_page`): every
problem at once, including bound functions of a page whose structure is broken, and messages that name the fix."""

from __future__ import annotations

from typing import Any

import pytest

from appyard.errors import PropertiesInvalid
from appyard.validation import suggest, validate_page

FUNCTIONS = {"list_orders", "save_order"}


def problems(data: Any) -> list[str]:
    with pytest.raises(PropertiesInvalid) as raised:
        validate_page(data, file="page.json", functions=FUNCTIONS)
    return [f"{issue.path}: {issue.message}" for issue in raised.value.issues]


def widget(*components: dict[str, Any]) -> dict[str, Any]:
    return {"block_type": "widget", "name": "form", "components": list(components)}


def test_a_broken_structure_does_not_hide_missing_functions() -> None:
    found = problems(
        {
            "blocks": [
                widget(
                    {"component_type": "slider", "name": "amount"},
                    {"component_type": "button", "name": "go", "on_click": "save_ordr"},
                ),
                {"block_type": "table", "name": "orders", "fetcher": "list_order", "page_size": 0},
            ]
        }
    )
    assert any(line.startswith("blocks[0].components[0].component_type: unknown component_type") for line in found)
    assert any(line.startswith("blocks[1].page_size: ") for line in found)
    assert "blocks[0].components[1].on_click: function 'save_ordr' not found; did you mean 'save_order'?" in " | ".join(
        found
    )
    assert any(line.startswith("blocks[1].fetcher: function 'list_order' not found") for line in found)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"tables": []}, "tables: unknown property 'tables'; did you mean 'blocks'?"),
        ({"title": "Orders"}, "title: unknown property 'title'; did you mean 'label'?"),
        (
            {"blocks": [{"block_type": "table", "name": "t", "pageSize": 5}]},
            "blocks[0].pageSize: unknown property 'pageSize'; did you mean 'page_size'?",
        ),
        (
            {"blocks": [widget({"type": "input", "name": "x"})]},
            "blocks[0].components[0]: missing component_type; one of: boolean, button, input, select, text",
        ),
        (
            {"blocks": [widget({"component_type": "button", "name": "go", "on_click": ["save_order"]})]},
            "blocks[0].components[0].on_click: expected a function name "
            '(text such as "list_orders"), got ["save_order"]',
        ),
        (
            {"blocks": [{"block_type": "table", "name": "t", "columns": [{"name": "a", "column_type": "integer"}]}]},
            "blocks[0].columns[0].column_type: unknown column_type 'integer'; valid types: button, data ('integer' is "
            "a data_type and a display_type: keep column_type 'data' and set data_type or display_type)",
        ),
    ],
    ids=["tables", "title", "pageSize", "type-instead-of-component-type", "on-click-list", "column-type-data-type"],
)
def test_messages_name_the_fix(data: Any, expected: str) -> None:
    assert expected in problems(data)


def test_did_you_mean_never_suggests_the_word_itself() -> None:
    assert suggest("label", ["label", "labels"]) == "; did you mean 'labels'?"
    assert suggest("label", ["label"]) == ""
    found = problems({"blocks": [widget({"component_type": "text", "name": "t", "options": []})]})
    assert found == ["blocks[0].components[0].options: unknown property 'options'"]
