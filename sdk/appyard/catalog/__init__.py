"""The component catalog: the single source of truth for what a page can contain.

Blocks (:class:`Widget`, :class:`Table`) sit on the page; components (:class:`Input`, :class:`Select`,
:class:`Boolean`, :class:`Button`, :class:`Text`) sit in widgets; tables have columns (:class:`DataColumn`,
:class:`ButtonColumn`). Every property has a description and a group (see :mod:`._fields`), so the JSON
schemas from :func:`catalog_schema` are enough to draw a property panel.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ._fields import GROUPS, MessageType, label_from_name
from .blocks import (
    BLOCK_TYPES,
    DISPLAY_TYPES,
    Block,
    BlockBase,
    ButtonColumn,
    Column,
    DataColumn,
    Layout,
    Table,
    TableFilter,
    Widget,
)
from .components import (
    COMPONENT_TYPES,
    Boolean,
    Button,
    Component,
    ComponentBase,
    Input,
    Option,
    Select,
    Text,
)
from .rules import AllOf, AnyOf, Comparison, DisplayRules, evaluate

COLUMN_TYPES: dict[str, type[BaseModel]] = {"data": DataColumn, "button": ButtonColumn}


def all_models() -> list[type[BaseModel]]:
    """Every catalog model a properties.json can contain, including the three file-level models."""
    from .. import properties

    return [
        *COMPONENT_TYPES.values(),
        *BLOCK_TYPES.values(),
        *COLUMN_TYPES.values(),
        TableFilter,
        Option,
        Layout,
        DisplayRules,
        Comparison,
        AllOf,
        AnyOf,
        properties.WorkspaceProperties,
        properties.AppEntry,
        properties.AppProperties,
        properties.PageEntry,
        properties.Access,
        properties.RunnerSettings,
        properties.PageProperties,
    ]


def catalog_schema() -> dict[str, Any]:
    """JSON schemas of every component, block and column type, keyed by type, plus the property groups and
    which display types can show each data type (the first is the default)."""
    return {
        "groups": list(GROUPS),
        "display_types": {data_type: list(shown) for data_type, shown in DISPLAY_TYPES.items()},
        "components": {name: model.model_json_schema() for name, model in COMPONENT_TYPES.items()},
        "blocks": {name: model.model_json_schema() for name, model in BLOCK_TYPES.items()},
        "columns": {name: model.model_json_schema() for name, model in COLUMN_TYPES.items()},
    }


__all__ = [
    "BLOCK_TYPES",
    "COLUMN_TYPES",
    "COMPONENT_TYPES",
    "DISPLAY_TYPES",
    "GROUPS",
    "AllOf",
    "AnyOf",
    "Block",
    "BlockBase",
    "Boolean",
    "Button",
    "ButtonColumn",
    "Column",
    "Comparison",
    "Component",
    "ComponentBase",
    "DataColumn",
    "DisplayRules",
    "Input",
    "Layout",
    "MessageType",
    "Option",
    "Select",
    "Table",
    "TableFilter",
    "Text",
    "Widget",
    "all_models",
    "catalog_schema",
    "evaluate",
    "label_from_name",
]
