"""Table data conversion, option coercion, and the context diff."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
import sqlite3
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ValidationError

from appyard import Option, SelectContextBase, TableContextBase, TableDataError, to_table_data
from appyard.diff import assigned, merge, select


class Person(BaseModel):
    name: str
    born: dt.date


@dataclasses.dataclass
class Point:
    x: int
    y: float


def test_dataframe_rows_become_json() -> None:
    frame = pd.DataFrame(
        {
            "id": np.array([1, 2], dtype=np.int64),
            "score": [1.5, math.nan],
            "at": [pd.Timestamp("2026-01-02 03:04:05"), pd.NaT],
            "name": ["a", None],
        }
    )
    assert to_table_data(frame) == [
        {"id": 1, "score": 1.5, "at": "2026-01-02T03:04:05", "name": "a"},
        {"id": 2, "score": None, "at": None, "name": None},
    ]


def test_rows_of_every_shape() -> None:
    connection = sqlite3.connect(":memory:")
    connection.row_factory = sqlite3.Row
    rows = connection.execute("SELECT 1 AS id, 'x' AS name").fetchall()
    assert to_table_data(rows) == [{"id": 1, "name": "x"}]
    assert to_table_data([Person(name="Ada", born=dt.date(1815, 12, 10))]) == [{"name": "Ada", "born": "1815-12-10"}]
    assert to_table_data([Point(1, 2.5)]) == [{"x": 1, "y": 2.5}]
    identifier = uuid.UUID(int=1)
    assert to_table_data(({"d": decimal.Decimal("1.25"), "u": identifier, "t": dt.time(9)},)) == [
        {"d": 1.25, "u": str(identifier), "t": "09:00:00"}
    ]
    assert to_table_data(iter([{"k": b"\x00\x01"}])) == [{"k": "AAE="}]
    assert to_table_data(None) is None


@pytest.mark.parametrize("value", ["rows", {"a": 1}, 5, [1, 2]])
def test_values_that_are_not_rows_are_refused(value: Any) -> None:
    with pytest.raises(TableDataError):
        to_table_data(value)


def test_table_context_converts_on_assignment() -> None:
    table = TableContextBase()
    table.data = pd.DataFrame({"a": [1]})  # type: ignore[assignment]
    assert table.data == [{"a": 1}]
    table.set_data([Point(3, 4.0)])
    assert table.data == [{"x": 3, "y": 4.0}]
    with pytest.raises(ValidationError):
        table.data = "nope"  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["a", 2], [Option(label="a", value="a"), Option(label="2", value=2)]),
        ([("x", "Ex")], [Option(label="Ex", value="x")]),
        ({"x": "Ex", 1: "One"}, [Option(label="Ex", value="x"), Option(label="One", value=1)]),
        ([{"label": "L", "value": 3}], [Option(label="L", value=3)]),
    ],
)
def test_options_in_every_form(given: Any, expected: list[Option]) -> None:
    select = SelectContextBase()
    select.set_options(given)
    assert select.options == expected


def test_messages() -> None:
    table = TableContextBase()
    table.set_message("Saved", "success")
    assert (table.message, table.message_type) == ("Saved", "success")
    table.clear_message()
    assert (table.message, table.message_type) == ("", None)
    with pytest.raises(ValidationError):
        table.set_message("x", "loud")  # type: ignore[arg-type]


class Inner(BaseModel):
    value: int | None = None
    label: str | None = None


class Outer(BaseModel):
    model_config = {"validate_assignment": True}
    visible: bool | None = None
    inner: Inner = Inner()
    rows: list[int] | None = None


def test_assigned_fields_are_the_changes_even_when_set_to_none() -> None:
    outer = Outer()
    assert assigned(outer) == {}
    outer.inner.value = None  # clearing a value is a change
    outer.rows = [1, 2]
    assert assigned(outer) == {"inner": {"value": None}, "rows": [1, 2]}
    outer.inner = Inner(label="x")
    assert assigned(outer) == {"inner": {"label": "x"}, "rows": [1, 2]}


def test_select_takes_the_validated_values_at_the_assigned_paths() -> None:
    final = {"visible": None, "inner": {"value": None, "label": "x"}, "rows": [1, 2]}
    assert select(final, {"inner": {"value": None}, "rows": []}) == {"inner": {"value": None}, "rows": [1, 2]}
    assert select(final, {}) == {}


def test_merge_applies_nested_changes_and_replaces_lists() -> None:
    base: dict[str, Any] = {"t": {"data": [{"id": 1}, {"id": 2}], "message": None}, "w": {"visible": None}}
    merged = merge(base, {"t": {"data": [{"id": 1}]}, "w": {"visible": False}})
    assert merged == {"t": {"data": [{"id": 1}], "message": None}, "w": {"visible": False}}
    assert base["t"]["data"] == [{"id": 1}, {"id": 2}], "merge does not modify its arguments"
