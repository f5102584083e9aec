"""Blocks: the top-level parts of a page — widgets (containers of components) and tables.

Blocks are placed on a 12-column grid by their ``layout``; a page without layouts stacks its blocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from ..runs import FilterOperator
from . import datatypes
from ._fields import CatalogModel, FunctionRef, Name, label_from_name, prop
from .components import ButtonColor, Component, Option
from .rules import DisplayRules

if TYPE_CHECKING:
    from ..database import ColumnFacts, TableFacts

GRID_COLUMNS = 12

DisplayType = Literal[
    "text",
    "link",
    "integer",
    "float",
    "currency",
    "percent",
    "boolean",
    "date",
    "datetime",
    "time",
    "json",
    "select",
    "tags",
]

# Which display types can show which data types; the first one is the default. The one mapping: validation
# checks declared columns and database.json's types against it, and the web client renders from it.
DISPLAY_TYPES: dict[datatypes.DataType, tuple[DisplayType, ...]] = {
    "text": ("text", "link", "select", "tags"),
    "integer": ("integer", "currency", "percent", "select", "text"),
    "float": ("float", "currency", "percent", "select", "text"),
    "boolean": ("boolean", "text"),
    "date": ("date", "text"),
    "datetime": ("datetime", "date", "time", "text"),
    "time": ("time", "text"),
    "json": ("json", "tags", "text"),
}

RESERVED_COLUMNS = frozenset({"edited_cell"})
"""Column names a table's generated State already uses (:class:`appyard.bases.TableStateBase`)."""

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["USD", "EUR", "JPY"])]
"""An ISO 4217 currency code."""

Locale = Annotated[
    str, Field(max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", examples=["en-US", "de-DE", "ja"])
]
"""A BCP 47 language tag."""


class Layout(CatalogModel):
    """Position and size of a block on the page's 12-column grid (rows are ~40 px)."""

    x: int = prop(0, group="layout", description="Column of the left edge (0–11).", ge=0, lt=GRID_COLUMNS)
    y: int = prop(0, group="layout", description="Row of the top edge.", ge=0)
    w: int = prop(GRID_COLUMNS, group="layout", description="Width in columns (1–12).", ge=1, le=GRID_COLUMNS)
    h: int = prop(6, group="layout", description="Height in rows.", ge=1, le=200)

    @model_validator(mode="after")
    def _fits(self) -> Layout:
        if self.x + self.w > GRID_COLUMNS:
            raise ValueError(f"x + w is {self.x + self.w}, wider than the {GRID_COLUMNS}-column grid")
        return self


class BlockBase(CatalogModel):
    """Properties every block has."""

    block_type: str
    name: Name = prop(group="general", description="Identifier used in scripts: state.<name> and context.<name>.")
    label: str | None = prop(None, group="general", description="Title shown above the block; defaults to the name.")
    description: str | None = prop(None, group="general", description="Help text shown under the title.")
    display_rules: DisplayRules | None = prop(
        None, group="display", description="Show or hide the whole block depending on components' values."
    )
    layout: Layout | None = prop(None, group="layout", description="Where the block sits on the page grid.")

    context_base: ClassVar[str]
    """The class in appyard.bases that the block's generated context class derives from."""

    @property
    def display_label(self) -> str:
        """The title users see."""
        return self.label or label_from_name(self.name)


class Widget(BlockBase):
    """A container of components: a panel on the page, a modal dialog, or an inline strip without a frame."""

    block_type: Literal["widget"] = prop(group="general", description="Always 'widget'.")
    widget_type: Literal["base", "modal", "inline"] = prop(
        "base",
        group="display",
        description="'base': a titled panel; 'modal': a dialog opened by setting context.<name>.visible; "
        "'inline': components in a row without a frame.",
    )
    components: list[Component] = prop(
        [], group="general", description="The widget's components, top to bottom (left to right when inline)."
    )

    context_base: ClassVar[str] = "WidgetContextBase"


class DataColumn(CatalogModel):
    """A column that shows one field of each row."""

    column_type: Literal["data"] = prop("data", group="general", description="'data' (the default) or 'button'.")
    name: Name = prop(
        group="general", description="Key of the field in each row; the selected row's value is state.<table>.<name>."
    )
    label: str | None = prop(None, group="general", description="Column header; defaults to the name.")
    description: str | None = prop(None, group="general", description="Tooltip on the column header.")
    data_type: datatypes.DataType | None = prop(
        None,
        group="data",
        description="Type of the values; decides the type of state.<table>.<name>. Leave it out to take it from the "
        "database (a table with a .sql fetcher, from database.json); otherwise it is text.",
    )
    display_type: DisplayType | None = prop(
        None, group="display", description="How values are shown and edited; defaults to one matching data_type."
    )
    options: list[Option] = prop([], group="display", description="Choices when display_type is 'select'.")
    currency: CurrencyCode = prop(
        "USD", group="display", description="ISO 4217 code of the currency shown when display_type is 'currency'."
    )
    locale: Locale | None = prop(
        None,
        group="display",
        description="BCP 47 locale (e.g. 'de-DE') for numbers, currencies and dates; defaults to the browser's.",
    )
    link_text: str | None = prop(
        None,
        group="display",
        description="When display_type is 'link': the text shown instead of the address.",
        max_length=200,
    )
    editable: bool = prop(
        False,
        group="data",
        description="Users can edit cells: saved by primary key in a smart table (a .sql fetcher over one table), "
        "else the table's on_edit runs.",
    )
    hidden: bool = prop(False, group="display", description="Hide the column (its value is still in State).")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_COLUMNS:
            raise ValueError(f"{value!r} is reserved by the table's State (the edited cell); choose another name")
        return value

    @model_validator(mode="after")
    def _display_fits_data(self) -> DataColumn:
        if self.data_type is not None:
            problem = self.display_problem(self.data_type)
            if problem:
                raise ValueError(problem)
        if self.options and self.display_type != "select" and self.data_type is None:
            raise ValueError("options apply only when display_type is 'select'")
        if self.link_text is not None and self.display_type != "link":
            raise ValueError("link_text applies only when display_type is 'link'")
        return self

    def display_problem(self, data_type: datatypes.DataType) -> str | None:
        """What is wrong with this column's display for values of ``data_type`` (declared or the database's)."""
        allowed = DISPLAY_TYPES[data_type]
        if self.display_type is not None and self.display_type not in allowed:
            return f"display_type {self.display_type!r} cannot show {data_type} values; use one of {list(allowed)}"
        if self.options and (self.display_type or allowed[0]) != "select":
            return "options apply only when display_type is 'select'"
        for index, option in enumerate(self.options):
            problem = datatypes.check_value(option.value, data_type)
            if problem:
                return f"options[{index}].value: {problem}"
        return None

    @property
    def display_label(self) -> str:
        """The header users see."""
        return self.label or label_from_name(self.name)

    def effective_data_type(self, facts: ColumnFacts | None = None) -> datatypes.DataType:
        """The type of the column's values: declared, else the database's (``facts``), else text."""
        if self.data_type is not None:
            return self.data_type
        return facts.data_type if facts is not None else "text"

    def effective_display_type(self, facts: ColumnFacts | None = None) -> DisplayType:
        """The display type in use: the declared one or the default for the (effective) data type."""
        return self.display_type or DISPLAY_TYPES[self.effective_data_type(facts)][0]


class ButtonColumn(CatalogModel):
    """A column with a button in every row; clicking selects the row and runs a function."""

    column_type: Literal["button"] = prop(group="general", description="Always 'button'.")
    name: Name = prop(group="general", description="Identifier of the column in context.<table>.columns.")
    label: str | None = prop(None, group="general", description="Text on the buttons; defaults to the name.")
    description: str | None = prop(None, group="general", description="Tooltip on the buttons.")
    color: ButtonColor = prop("blue", group="display", description="Colour of the buttons.")
    confirm: str | None = prop(
        None, group="events", description="When set, ask this question and run only if the user agrees."
    )
    on_click: FunctionRef = prop(group="events", description="Function to run; state.<table> holds the clicked row.")

    @property
    def display_label(self) -> str:
        """The text users see on the buttons."""
        return self.label or label_from_name(self.name)


def _column_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("column_type", "data"))
    return str(getattr(value, "column_type", "data"))


Column = Annotated[
    Annotated[DataColumn, Tag("data")] | Annotated[ButtonColumn, Tag("button")],
    Discriminator(_column_kind),
]


class TableFilter(CatalogModel):
    """A filter the viewer shows above a table: one input per filter, applied in the database with a bound value."""

    column: Name = prop(group="general", description="The data column to filter (one of the table's columns).")
    operator: FilterOperator = prop(
        "equals",
        group="general",
        description="How the column is compared with the input: equals, not_equals, contains, starts_with, lt, "
        "lte, gt, gte, in, is_null, is_not_null.",
    )
    label: str | None = prop(None, group="general", description="Label of the input; defaults to the column's.")


class Table(BlockBase):
    """Rows of data from a function, with paging, sorting, filtering, row selection, editing and buttons."""

    block_type: Literal["table"] = prop(group="general", description="Always 'table'.")
    columns: list[Column] = prop(
        [], group="data", description="Columns in display order. Row fields without a column are not shown."
    )
    fetcher: FunctionRef | None = prop(
        None, group="data", description="Function run when the page opens that sets context.<name>.data."
    )
    page_size: int = prop(20, group="display", description="Rows per page.", ge=1, le=1000)
    selectable: bool = prop(True, group="data", description="Users can select a row; it becomes state.<name>.")
    on_row_change: FunctionRef | None = prop(
        None, group="events", description="Function to run when the selected row changes."
    )
    on_edit: FunctionRef | None = prop(
        None,
        group="events",
        description="Function to run after a cell of an editable column changes; state.<name> holds the edited row "
        "and state.<name>.edited_cell the cell. In a smart table it runs after the edit is saved.",
    )
    filters: list[TableFilter] = prop(
        [],
        group="data",
        description="Filters shown above the table, each an input for one column (a smart table applies them in "
        "the database).",
        max_length=32,
    )
    insertable: bool = prop(
        False, group="data", description="Users can add rows (a smart table: a .sql fetcher over one table)."
    )
    deletable: bool = prop(
        False, group="data", description="Users can delete rows (a smart table: a .sql fetcher over one table)."
    )

    context_base: ClassVar[str] = "TableContextBase"

    def data_columns(self) -> list[DataColumn]:
        """Columns that hold values (and so appear in State)."""
        return [column for column in self.columns if isinstance(column, DataColumn)]

    def column_type(self, column: DataColumn, facts: TableFacts | None = None) -> datatypes.DataType:
        """A column's effective data type given what database.json says about this table (``facts``)."""
        return column.effective_data_type(facts.columns.get(column.name) if facts is not None else None)


BLOCK_TYPES: dict[str, type[BlockBase]] = {"widget": Widget, "table": Table}

Block = Annotated[Widget | Table, Discriminator("block_type")]
