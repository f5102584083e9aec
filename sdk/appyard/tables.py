"""Turn what scripts have at hand — a pandas DataFrame, a list of dicts, models or database rows — into table data.

Table data is a list of rows; each row maps a column name to a JSON value. Dates and times become ISO
strings, decimals become floats, NaN and NaT become null, numpy scalars become Python numbers. pandas is
not a dependency: anything with ``to_dict(orient="records")`` is treated as a DataFrame.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import enum
import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

JSONValue = str | int | float | bool | None | list[Any] | dict[str, Any]
Row = dict[str, Any]
"""A table row: column name → JSON value (Any, so rows built in scripts type-check before conversion)."""


class TableDataError(ValueError):
    """The value given as table data cannot be turned into rows."""


_AS_IS = frozenset({str, int, bool, type(None)})


def to_json_value(value: Any) -> JSONValue:
    """One cell value as JSON: the conversions listed in the module docstring."""
    kind = type(value)
    # Most cells are plain JSON already (always, when a runner validates what a child returned): one set lookup.
    if kind in _AS_IS:
        return value  # type: ignore[no-any-return]
    if kind is float:
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (bool, str)):  # subclasses (a str enum member is an Enum too, but a str first)
        return value
    if type(value).__name__ in {"NaTType", "NAType"}:  # pandas' missing values (NaT is also a datetime)
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return None if not value.is_finite() else float(value)
    if isinstance(value, (uuid.UUID, enum.Enum)):
        return str(value.value) if isinstance(value, enum.Enum) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, BaseModel):
        return to_json_value(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_value(item) for item in value]
    # numpy scalars and pandas Timestamps expose item() / isoformat()
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if hasattr(value, "item"):
        return to_json_value(value.item())
    if hasattr(value, "tolist"):
        return to_json_value(value.tolist())
    return str(value)


def _row(item: Any, index: int) -> Row:
    if isinstance(item, BaseModel):
        mapping: Mapping[str, Any] = item.model_dump(mode="json")
    elif dataclasses.is_dataclass(item) and not isinstance(item, type):
        mapping = dataclasses.asdict(item)
    elif isinstance(item, Mapping):
        mapping = item
    elif hasattr(item, "keys") and callable(item.keys):  # sqlite3.Row and similar: iterating gives values
        mapping = {key: item[key] for key in item.keys()}  # noqa: SIM118
    else:
        raise TableDataError(
            f"row {index} is a {type(item).__name__}; rows must be dicts, pydantic models, dataclasses or "
            "database rows with named columns"
        )
    return {str(key): to_json_value(value) for key, value in mapping.items()}


def to_table_data(value: Any) -> list[Row] | None:
    """Rows from a DataFrame, or from an iterable of dicts, pydantic models, dataclasses or named rows."""
    if value is None:
        return None
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        records = value.to_dict(orient="records")
        return [_row(record, index) for index, record in enumerate(records)]
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TableDataError(f"table data must be a DataFrame or a list of rows, not a {type(value).__name__}")
    return [_row(item, index) for index, item in enumerate(value)]
