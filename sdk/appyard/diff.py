"""What a run changed in the context: the part of the response the client re-renders.

A function changes the context by assigning fields (``context.orders.data = rows``,
``context.editor.components.ship_by.value = None``). :func:`assigned` finds every field assigned on a
context and its nested models — pydantic records them — so setting a field to ``None`` is a change too (it
clears the field in the browser), while fields left alone are not sent. :func:`select` takes those fields
out of the validated context as JSON, and :func:`merge` applies a change to what a client holds.
Lists (table data, options) are replaced whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel


def assigned(model: BaseModel) -> dict[str, Any]:
    """The fields assigned on ``model`` and its nested models, as a tree of their values."""
    result: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            nested = assigned(value)
            if nested:
                result[name] = nested
            elif name in model.model_fields_set:
                result[name] = {}
        elif name in model.model_fields_set:
            result[name] = value
    return result


def select(values: Mapping[str, Any], shape: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of ``values`` at the paths of ``shape`` (a tree like :func:`assigned` returns)."""
    result: dict[str, Any] = {}
    for key, part in shape.items():
        if key not in values:
            continue
        value = values[key]
        if isinstance(part, Mapping) and part and isinstance(value, Mapping):
            result[key] = select(value, part)
        else:
            result[key] = value
    return result


def merge(base: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``change`` applied (a new mapping; neither argument is modified)."""
    result = dict(base)
    for key, new in change.items():
        old = result.get(key)
        result[key] = merge(old, new) if isinstance(new, Mapping) and isinstance(old, Mapping) else new
    return result
