"""Data types that components and table columns hold, and how each maps to JSON schema and Python.

This is the one exhaustive mapping used by validation (is this default an integer?) and by codegen (what
type does ``state.filters.amount`` have?).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal, get_args

from pydantic import TypeAdapter, ValidationError

DataType = Literal["text", "integer", "float", "boolean", "date", "datetime", "time", "json"]

DATA_TYPES: tuple[DataType, ...] = get_args(DataType)

_JSON_SCHEMAS: dict[DataType, dict[str, Any]] = {
    "text": {"type": "string"},
    "integer": {"type": "integer"},
    "float": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "time": {"type": "string", "format": "time"},
    "json": {},
}

_PYTHON_TYPES: dict[DataType, Any] = {
    "text": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "date": dt.date,
    "datetime": dt.datetime,
    "time": dt.time,
    "json": Any,
}

_EXAMPLES: dict[DataType, str] = {
    "text": '"some text"',
    "integer": "42",
    "float": "4.2",
    "boolean": "true",
    "date": '"2026-11-24"',
    "datetime": '"2026-11-24T09:30:00"',
    "time": '"09:30:00"',
    "json": "any JSON value",
}


def json_schema(data_type: DataType, *, multiple: bool = False) -> dict[str, Any]:
    """The JSON schema of one value of this data type (a list of them when ``multiple``)."""
    schema = dict(_JSON_SCHEMAS[data_type])
    return {"type": "array", "items": schema} if multiple else schema


def _adapter(data_type: DataType, multiple: bool) -> TypeAdapter[Any]:
    python_type = _PYTHON_TYPES[data_type]
    return TypeAdapter(list[python_type] if multiple else python_type)  # type: ignore[valid-type]


def check_value(value: Any, data_type: DataType, *, multiple: bool = False) -> str | None:
    """None when ``value`` (as written in JSON) is a valid ``data_type``; otherwise what is wrong with it."""
    if value is None:
        return None
    try:
        _adapter(data_type, multiple).validate_json(json.dumps(value), strict=True)
    except ValidationError:
        article = "an" if data_type[0] in "aeiou" else "a"
        kind = f"a list of {data_type} values" if multiple else f"{article} {data_type} value"
        example = f"[{_EXAMPLES[data_type]}]" if multiple else _EXAMPLES[data_type]
        return f"{json.dumps(value)} is not {kind} (for example {example})"
    return None
