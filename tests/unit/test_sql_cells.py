"""A viewer's value becomes the column's type before it is bound, or an error naming the column (table-driven)."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from appyard.catalog.datatypes import DataType
from appyard.database import ColumnFacts
from appyard.errors import TableRequestInvalid
from appyard.sql.cells import cell_value


@pytest.mark.parametrize(
    ("data_type", "db_type", "value", "typed"),
    [
        ("text", "TEXT", "x", "x"),
        ("text", "TEXT", 12, "12"),
        ("integer", "INTEGER", "42", 42),
        ("integer", "INTEGER", 3.0, 3),
        ("float", "NUMERIC(10, 2)", "12.50", decimal.Decimal("12.50")),
        ("float", "NUMERIC(10, 2)", 0.1, decimal.Decimal("0.1")),
        ("float", "DOUBLE PRECISION", "2.5", 2.5),
        ("boolean", "BOOLEAN", "false", False),
        ("boolean", "BOOLEAN", True, True),
        ("date", "DATE", "2026-11-24", dt.date(2026, 11, 24)),
        ("date", "DATE", "2026-11-24T00:00:00.000Z", dt.date(2026, 11, 24)),
        ("datetime", "TIMESTAMP", "2026-11-24T09:30:00Z", dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC)),
        ("time", "TIME", "09:30", dt.time(9, 30)),
        ("integer", "INTEGER", None, None),
    ],
)
def test_values_take_their_columns_type(data_type: DataType, db_type: str, value: Any, typed: Any) -> None:
    converted = cell_value("c", ColumnFacts(data_type=data_type, db_type=db_type), value, "shop")
    assert converted == typed and type(converted) is type(typed)


@pytest.mark.parametrize(
    ("data_type", "value", "complaint"),
    [
        ("integer", "abc", "column 'amount' holds integer values; 'abc' is not one"),
        ("integer", True, "holds integer values; True is not one"),
        ("integer", 2.5, "holds integer values; 2.5 is not one"),
        ("integer", "'; DROP TABLE orders; --", "holds integer values"),
        ("float", "nan", "holds float values; 'nan' is not one"),
        ("float", "Infinity", "holds float values"),
        ("float", False, "holds float values"),
        ("boolean", "yes", "holds boolean values; 'yes' is not one"),
        ("boolean", 1, "holds boolean values"),
        ("date", "24/11/2026", "holds date values"),
        ("date", 20261124, "holds date values"),
        ("datetime", 5, "holds datetime values; 5 is not one"),
        ("time", "noon", "holds time values"),
        ("text", True, "holds text values; True is not one"),
        ("integer", "9" * 100 + "x", "holds integer values; '999999999999999999999999999999999999…"),
        ("json", "{}", "json values, which tables cannot filter or save here; use the table's on_edit"),
    ],
)
def test_values_that_do_not_fit_name_the_column(data_type: DataType, value: Any, complaint: str) -> None:
    with pytest.raises(TableRequestInvalid, match=r"^data source shop: ") as raised:
        cell_value("amount", ColumnFacts(data_type=data_type, db_type=""), value, "shop")
    assert complaint in str(raised.value) and raised.value.source == "shop"
