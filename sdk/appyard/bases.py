"""Base classes of the generated State and Context models, and the helpers scripts call on them.

A page's ``state.py`` and ``context.py`` are generated from its properties.json; every class in them derives
from one of these. Scripts therefore get, on any page:

- ``state.<block>.<component>``: what the user entered (typed; ``None`` when empty);
- ``context.<table>.data = rows_or_dataframe`` (converted by :func:`appyard.to_table_data`);
- ``context.<block>.set_message("Saved", "success")``;
- ``context.<widget>.components.<component>.visible / .label / .value / .options / .message``;
- ``context.<table>.columns.<column>.visible / .label``.

Every context field defaults to ``None``, meaning "leave as it is": a run's response carries only the
fields a script set (see :mod:`appyard.diff`). Assignments are validated, so a typo or a wrong type fails
at the line that caused it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .catalog._fields import MessageType
from .tables import Row, to_table_data


class StateBase(BaseModel):
    """Base of every generated State class: the values users entered, validated against the page."""

    # validate_default turns defaults written as JSON in properties.json ("09:00:00") into typed values.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True)


class EditedCell(BaseModel):
    """Which cell of a table the user changed (``state.<table>.edited_cell`` in the table's ``on_edit``)."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(description="The edited column.")
    old: Any = Field(None, description="The value before the edit.")
    new: Any = Field(None, description="The value the user entered.")


class TableStateBase(StateBase):
    """Base of a table's State: its selected (or edited, or clicked) row, one attribute per data column."""

    edited_cell: EditedCell | None = Field(
        None, description="In the table's on_edit: the cell that changed (its row is the rest of this state)."
    )


class ContextModel(BaseModel):
    """Base of every Context class; unknown attributes and wrong types are errors."""

    # validate_default turns the generated `= {}` defaults of nested models into model instances.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True)


class ContextBase(ContextModel):
    """Base of a page's ``Context``: one attribute per block."""


class _Messages(ContextModel):
    message: str | None = Field(None, description="A message shown with this block or component.")
    message_type: MessageType | None = Field(None, description="info, success, warning or error.")

    def set_message(self, text: str, message_type: MessageType = "info") -> None:
        """Show ``text`` to the user, styled by ``message_type`` (info, success, warning or error)."""
        self.message = text
        self.message_type = message_type

    def clear_message(self) -> None:
        """Remove a message shown earlier."""
        self.message = ""
        self.message_type = None


class BlockContextBase(_Messages):
    """What scripts can change on any block."""

    visible: bool | None = Field(
        None, description="Show (True) or hide (False) the block; for a modal widget, open or close it."
    )
    label: str | None = Field(None, description="Replace the block's title.")


class WidgetContextBase(BlockContextBase):
    """Base of ``context.<widget>``; its components are under ``.components``."""


class ComponentsBase(ContextModel):
    """Base of ``context.<widget>.components``: one attribute per component."""


class ColumnsBase(ContextModel):
    """Base of ``context.<table>.columns``: one attribute per column."""


TableData = Annotated[list[Row] | None, BeforeValidator(to_table_data)]


class CellConflict(ContextModel):
    """A cell edit that was not saved because the row changed (or went away) since the user saw it."""

    key: dict[str, Any] = Field(description="The row's primary key values.")
    column: str = Field(description="The edited column.")
    message: str = Field(description="What happened, for the user.")
    current: Any = Field(None, description="The value the database holds now (None when the row is gone).")


class TableContextBase(BlockContextBase):
    """Base of ``context.<table>``; assign ``data`` a DataFrame or a list of rows."""

    data: TableData = Field(None, description="The table's rows (a DataFrame or a list of dicts is converted).")
    total: int | None = Field(
        None, description="Rows matching the table's filters in the database (unset when counting would be slow)."
    )
    offset: int | None = Field(None, description="Position of the first row of data among all matching rows.")
    more: bool | None = Field(None, description="Whether rows follow this page (SQL tables page in the database).")
    conflicts: list[CellConflict] | None = Field(
        None, description="Edits that were not saved because the row changed meanwhile; shown on their cells."
    )
    reload_requested: bool | None = Field(
        None, description="Set by reload(): the table's fetcher runs again after this function."
    )

    def set_data(self, rows: object) -> None:
        """Show ``rows``: a DataFrame, or a list of dicts, pydantic models, dataclasses or database rows."""
        self.data = to_table_data(rows)

    def reload(self) -> None:
        """Run the table's fetcher again after this function (its first page, with the viewer's filters)."""
        self.reload_requested = True


class ColumnContext(ContextModel):
    """``context.<table>.columns.<column>``: what scripts can change on a table column."""

    visible: bool | None = Field(None, description="Show (True) or hide (False) the column.")
    label: str | None = Field(None, description="Replace the column header.")


class ComponentContextBase(_Messages):
    """What scripts can change on any component."""

    visible: bool | None = Field(None, description="Show (True) or hide (False), overriding display rules.")
    label: str | None = Field(None, description="Replace the component's label.")
    disabled: bool | None = Field(None, description="Disable (True) or enable (False) the component.")


class InputContextBase(ComponentContextBase):
    """``context.<widget>.components.<input>``; setting ``value`` fills the field."""

    value: Any = Field(None, description="Set the field's value.")


class TextInputContext(InputContextBase):
    """A text input's context."""

    value: str | None = Field(None, description="Set the field's value.")


class IntegerInputContext(InputContextBase):
    """An integer input's context."""

    value: int | None = Field(None, description="Set the field's value.")


class FloatInputContext(InputContextBase):
    """A float input's context."""

    value: float | None = Field(None, description="Set the field's value.")


class DateInputContext(InputContextBase):
    """A date input's context."""

    value: dt.date | None = Field(None, description="Set the field's value.")


class DatetimeInputContext(InputContextBase):
    """A datetime input's context."""

    value: dt.datetime | None = Field(None, description="Set the field's value.")


class TimeInputContext(InputContextBase):
    """A time input's context."""

    value: dt.time | None = Field(None, description="Set the field's value.")


class Option(BaseModel):
    """A choice of a select, as scripts set it."""

    label: str = Field(description="Text shown in the list.")
    value: str | int | float = Field(description="Value put in State when this option is chosen.")


def _to_options(value: Any) -> Any:
    """Accept options as Option models, ``{"label", "value"}`` dicts, plain values or a {value: label} map."""
    if isinstance(value, Mapping):
        return [{"label": str(label), "value": key} for key, label in value.items()]
    if isinstance(value, (list, tuple)):
        return [
            item
            if isinstance(item, (Option, Mapping))
            else {"label": str(item[1]), "value": item[0]}
            if isinstance(item, tuple) and len(item) == 2
            else {"label": str(item), "value": item}
            for item in value
        ]
    return value


class SelectContextBase(ComponentContextBase):
    """``context.<widget>.components.<select>``; set ``options`` to fill the list, ``value`` to choose."""

    value: Any = Field(None, description="Set the choice (a list when the select allows several).")
    options: Annotated[list[Option] | None, BeforeValidator(_to_options)] = Field(
        None, description="Replace the choices: Options, {'label', 'value'} dicts, plain values or (value, label)."
    )

    def set_options(self, options: object) -> None:
        """Replace the choices: a list of plain values, (value, label) pairs, Options or dicts, or a {value: label}."""
        self.options = _to_options(options)


class TextSelectContext(SelectContextBase):
    """A select's context (text values)."""

    value: str | None = Field(None, description="Set the choice.")


class IntegerSelectContext(SelectContextBase):
    """A select's context (integer values)."""

    value: int | None = Field(None, description="Set the choice.")


class FloatSelectContext(SelectContextBase):
    """A select's context (float values)."""

    value: float | None = Field(None, description="Set the choice.")


class TextMultiSelectContext(SelectContextBase):
    """A multiple select's context (text values)."""

    value: list[str] | None = Field(None, description="Set the choices.")


class IntegerMultiSelectContext(SelectContextBase):
    """A multiple select's context (integer values)."""

    value: list[int] | None = Field(None, description="Set the choices.")


class FloatMultiSelectContext(SelectContextBase):
    """A multiple select's context (float values)."""

    value: list[float] | None = Field(None, description="Set the choices.")


class BooleanContext(ComponentContextBase):
    """``context.<widget>.components.<boolean>``."""

    value: bool | None = Field(None, description="Switch on (True) or off (False).")


class ButtonContext(ComponentContextBase):
    """``context.<widget>.components.<button>``."""


class TextContext(ComponentContextBase):
    """``context.<widget>.components.<text>``."""

    text: str | None = Field(None, description="Replace the markdown shown.")


__all__ = [
    "BlockContextBase",
    "BooleanContext",
    "ButtonContext",
    "CellConflict",
    "ColumnContext",
    "ColumnsBase",
    "ComponentContextBase",
    "ComponentsBase",
    "ContextBase",
    "ContextModel",
    "DateInputContext",
    "DatetimeInputContext",
    "EditedCell",
    "FloatInputContext",
    "FloatMultiSelectContext",
    "FloatSelectContext",
    "InputContextBase",
    "IntegerInputContext",
    "IntegerMultiSelectContext",
    "IntegerSelectContext",
    "Option",
    "SelectContextBase",
    "StateBase",
    "TableContextBase",
    "TableStateBase",
    "TextContext",
    "TextInputContext",
    "TextMultiSelectContext",
    "TextSelectContext",
    "TimeInputContext",
    "WidgetContextBase",
]
