"""Shared building blocks for catalog models: property groups, names and function references.

Every property of every catalog model is declared with :func:`prop`, which requires a description and a
group, so a property panel can be drawn from the JSON schema alone (the Studio groups fields by
``group`` and shows ``description`` as help text).
"""

from __future__ import annotations

import keyword
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Group = Literal["general", "data", "validation", "display", "events", "layout"]
"""Property groups, in the order a property panel shows them."""

GROUPS: tuple[Group, ...] = ("general", "data", "validation", "display", "events", "layout")

MessageType = Literal["info", "success", "warning", "error"]

# Attribute names that generated State/Context models already use; a block, component or column with one
# of these names would shadow them.
_RESERVED = frozenset(name for name in dir(BaseModel) if not name.startswith("_")) | {
    "set_message",
    "clear_message",
    "components",
    "columns",
}


def prop(default: Any = ..., *, group: Group, description: str, **kwargs: Any) -> Any:
    """A catalog property: a pydantic ``Field`` that always carries a description and a group."""
    extra = kwargs.pop("json_schema_extra", {})
    return Field(default, description=description, json_schema_extra={"group": group, **extra}, **kwargs)


def _check_identifier(value: str) -> str:
    if not value:
        raise ValueError("name must not be empty")
    if not (value.isascii() and value.isidentifier()):
        raise ValueError(
            f"{value!r} is not a valid Python identifier: use ASCII letters, digits and underscores, "
            "and do not start with a digit"
        )
    if keyword.iskeyword(value):
        raise ValueError(f"{value!r} is a Python keyword; choose another name")
    if value.startswith("_"):
        raise ValueError(f"{value!r} starts with an underscore, which pydantic treats as private")
    return value


def _check_name(value: str) -> str:
    if value in _RESERVED or value.startswith("model_"):
        raise ValueError(f"{value!r} is reserved by the generated State/Context models; choose another name")
    return value


Identifier = Annotated[
    str,
    AfterValidator(_check_identifier),
    Field(max_length=64, json_schema_extra={"pattern": "^[A-Za-z][A-Za-z0-9_]*$"}),
]
"""A valid Python identifier that is not a keyword and does not start with an underscore."""

Name = Annotated[
    str,
    AfterValidator(_check_identifier),
    AfterValidator(_check_name),
    Field(max_length=64, json_schema_extra={"pattern": "^[A-Za-z][A-Za-z0-9_]*$"}),
]
"""A block, component or column name: a valid, non-reserved Python identifier (it becomes an attribute)."""


def _check_function(value: str) -> str:
    if not (value.isascii() and value.isidentifier()) or keyword.iskeyword(value):
        raise ValueError(f"{value!r} is not a valid Python function name")
    return value


FunctionRef = Annotated[
    str,
    AfterValidator(_check_function),
    Field(json_schema_extra={"x-appyard-ref": "function"}),
]
"""The name of a function of the page (a top-level ``def name(state, context)`` in ``scripts/``)."""


class CatalogModel(BaseModel):
    """Base of every catalog model: unknown properties are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=False)


def label_from_name(name: str) -> str:
    """The default label for a name: ``customer_name`` → ``Customer name``."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]
