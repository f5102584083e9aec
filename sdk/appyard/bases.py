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

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .catalog._fields import MessageType
from .tables import Row, to_table_data


class StateBase(BaseModel):
    """Base of every generated State class: the values users entered, validated against the page."""

    # validate_default turns defaults written as JSON in properties.json ("09:00:00") into typed values.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True)


class ContextModel(BaseModel):
    """Base of every generated Context class; unknown attributes and wrong types are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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


class TableContextBase(BlockContextBase):
    """Base of ``context.<table>``; assign ``data`` a DataFrame or a list of rows."""

    data: TableData = Field(None, description="The table's rows (a DataFrame or a list of dicts is converted).")


class ColumnContextBase(ContextModel):
    """What scripts can change on a table column."""

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


class BooleanContextBase(ComponentContextBase):
    """``context.<widget>.components.<boolean>``."""

    value: bool | None = Field(None, description="Switch on (True) or off (False).")


class ButtonContextBase(ComponentContextBase):
    """``context.<widget>.components.<button>``."""


class TextContextBase(ComponentContextBase):
    """``context.<widget>.components.<text>``."""

    text: str | None = Field(None, description="Replace the markdown shown.")
