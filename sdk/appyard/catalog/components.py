"""Components: the controls inside a widget — input, select, boolean, button and text.

Each component model declares, besides its properties, how it appears in the generated models:
``state_schema()`` is the JSON schema of its value in ``state.<widget>.<component>`` (None for components
without state), and ``context_class()`` names the class of :mod:`appyard.bases` that is its entry in
``context.<widget>.components.<component>``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, ValidationInfo, field_validator, model_validator

from . import datatypes
from ._fields import CatalogModel, FunctionRef, Name, label_from_name, prop
from .rules import DisplayRules

InputType = Literal["text", "integer", "float", "date", "datetime", "time"]
SelectType = Literal["text", "integer", "float"]
ButtonColor = Literal["blue", "gray", "green", "red", "orange"]


class ComponentBase(CatalogModel):
    """Properties every component has."""

    component_type: str
    name: Name = prop(
        group="general",
        description="Identifier used in scripts: state.<widget>.<name> and context.<widget>.components.<name>.",
    )
    label: str | None = prop(
        None, group="general", description="Text shown to users; defaults to the name in sentence case."
    )
    description: str | None = prop(None, group="general", description="Help text shown under the component.")
    display_rules: DisplayRules | None = prop(
        None, group="display", description="Show or hide this component depending on other components' values."
    )

    stateful: ClassVar[bool] = True

    @property
    def display_label(self) -> str:
        """The label users see."""
        return self.label or label_from_name(self.name)

    @field_validator("default", check_fields=False)
    @classmethod
    def _default_has_data_type(cls, value: Any, info: ValidationInfo) -> Any:
        data_type = info.data.get("data_type")
        if data_type is None:  # no data_type, or an invalid one that is reported on its own
            return value
        problem = datatypes.check_value(value, data_type, multiple=bool(info.data.get("multiple")))
        if problem:
            raise ValueError(problem)
        return value

    def state_schema(self) -> dict[str, Any] | None:
        """JSON schema of this component's value in State, or None when it has no state."""
        return None

    def context_class(self) -> str:
        """The class of appyard.bases for this component in context (``TextInputContext``)."""
        return f"{type(self).__name__}Context"


class Input(ComponentBase):
    """A field where users type a value: text (single or multi-line), a number, a date, a datetime or a time."""

    component_type: Literal["input"] = prop(group="general", description="Always 'input'.")
    data_type: InputType = prop(
        "text", group="data", description="What the field holds; decides the type of its value in State."
    )
    multiline: bool = prop(False, group="display", description="Show a multi-line text area (text inputs only).")
    placeholder: str | None = prop(None, group="display", description="Greyed hint shown while the field is empty.")
    default: str | int | float | None = prop(
        None, group="data", description="Initial value, written as JSON (dates as ISO strings)."
    )
    required: bool = prop(
        False, group="validation", description="Buttons of the same widget refuse to run while this is empty."
    )
    on_change: FunctionRef | None = prop(
        None, group="events", description="Function to run when the value changes (when the field loses focus)."
    )
    on_submit: FunctionRef | None = prop(None, group="events", description="Function to run when Enter is pressed.")

    def context_class(self) -> str:
        return f"{self.data_type.capitalize()}InputContext"

    @model_validator(mode="after")
    def _multiline_is_text(self) -> Input:
        if self.multiline and self.data_type != "text":
            raise ValueError(f"multiline applies to text inputs only, not to {self.data_type}")
        return self

    def state_schema(self) -> dict[str, Any]:
        return datatypes.json_schema(self.data_type)


class Option(CatalogModel):
    """One choice of a select."""

    label: str = prop(group="general", description="Text shown in the list.")
    value: str | int | float = prop(group="general", description="Value put in State when this option is chosen.")


class Select(ComponentBase):
    """A drop-down of options, fixed in properties.json or filled by a function; one or several choices."""

    component_type: Literal["select"] = prop(group="general", description="Always 'select'.")
    data_type: SelectType = prop("text", group="data", description="Type of the option values.")
    multiple: bool = prop(False, group="data", description="Allow several choices; the value is then a list.")
    options: list[Option] = prop(
        [], group="data", description="Fixed options. Leave empty when options_fetcher fills them."
    )
    options_fetcher: FunctionRef | None = prop(
        None,
        group="data",
        description="Function run when the page opens that sets context.<widget>.components.<name>.options.",
    )
    placeholder: str | None = prop(None, group="display", description="Greyed hint shown while nothing is chosen.")
    default: str | int | float | list[str | int | float] | None = prop(
        None, group="data", description="Initial choice (a list when multiple)."
    )
    required: bool = prop(
        False, group="validation", description="Buttons of the same widget refuse to run while nothing is chosen."
    )
    on_change: FunctionRef | None = prop(None, group="events", description="Function to run when the choice changes.")

    def context_class(self) -> str:
        return f"{self.data_type.capitalize()}{'Multi' if self.multiple else ''}SelectContext"

    @model_validator(mode="after")
    def _options_match(self) -> Select:
        for index, option in enumerate(self.options):
            problem = datatypes.check_value(option.value, self.data_type)
            if problem:
                raise ValueError(f"options[{index}].value: {problem}")
        values = [option.value for option in self.options]
        if len(set(map(str, values))) != len(values):
            raise ValueError("options have duplicate values")
        if self.options and not self.options_fetcher and self.default is not None:
            chosen = self.default if isinstance(self.default, list) else [self.default]
            missing = [value for value in chosen if value not in values]
            if missing:
                raise ValueError(f"default {missing[0]!r} is not one of the options {values}")
        return self

    def state_schema(self) -> dict[str, Any]:
        return datatypes.json_schema(self.data_type, multiple=self.multiple)


class Boolean(ComponentBase):
    """A yes/no toggle, shown as a switch or a checkbox."""

    component_type: Literal["boolean"] = prop(group="general", description="Always 'boolean'.")
    display: Literal["switch", "checkbox"] = prop("switch", group="display", description="How the toggle looks.")
    default: bool = prop(False, group="data", description="Initial value.")
    on_toggle: FunctionRef | None = prop(None, group="events", description="Function to run when it is toggled.")

    def state_schema(self) -> dict[str, Any]:
        return datatypes.json_schema("boolean")


class Button(ComponentBase):
    """A button that runs a function. It has no state."""

    component_type: Literal["button"] = prop(group="general", description="Always 'button'.")
    color: ButtonColor = prop("blue", group="display", description="Colour of the button.")
    confirm: str | None = prop(
        None, group="events", description="When set, ask this question and run only if the user agrees."
    )
    check_required: bool = prop(
        True,
        group="validation",
        description="Refuse to run while a required field of the widget is empty (turn off for a Cancel button).",
    )
    on_click: FunctionRef | None = prop(None, group="events", description="Function to run when clicked.")

    stateful: ClassVar[bool] = False


class Text(ComponentBase):
    """Markdown text. It has no state; scripts can replace the text through context."""

    component_type: Literal["text"] = prop(group="general", description="Always 'text'.")
    text: str = prop("", group="general", description="Markdown to show.")

    stateful: ClassVar[bool] = False


COMPONENT_TYPES: dict[str, type[ComponentBase]] = {
    "input": Input,
    "select": Select,
    "boolean": Boolean,
    "button": Button,
    "text": Text,
}

Component = Annotated[Input | Select | Boolean | Button | Text, Discriminator("component_type")]
