"""The run protocol shared by the API and the runners (DESIGN.md §3).

::

    API ──publish RunRequest──▶ stream APPYARD_RUNS, subject runs.<namespace>.<app>, Nats-Msg-Id = run id
                                  │ (work queue; one durable pull consumer per app: runner-<app>)
    runner ──events──▶ stream APPYARD_EVENTS, subject events.<namespace>.<app>.<run id>   (status, logs, progress)
    runner ──RunResult──▶ KV bucket APPYARD_RESULTS, key <namespace>.<app>.<run id>      (final results only)
    API ──cancel──▶ subject cancel.<namespace>.<app>.<run id>

A result key is written once: the first final result wins (a cancel that lands first makes the runner's
result a no-op), and a runner acks its message only after the result is stored.
"""

from __future__ import annotations

import os
import time
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RUNS_STREAM = "APPYARD_RUNS"
EVENTS_STREAM = "APPYARD_EVENTS"
RESULTS_BUCKET = "APPYARD_RESULTS"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_run_id() -> str:
    """A ULID: 26 characters, sortable by creation time, safe as a NATS subject token and a KV key part."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def runs_subject(namespace: str, app: str) -> str:
    """Where run requests of an app are published."""
    return f"runs.{namespace}.{app}"


def result_key(namespace: str, app: str, run_id: str) -> str:
    """The KV key of a run's final result."""
    return f"{namespace}.{app}.{run_id}"


def events_subject(namespace: str, app: str, run_id: str) -> str:
    """Where a run's status changes, log lines and progress are published."""
    return f"events.{namespace}.{app}.{run_id}"


def cancel_subject(namespace: str, app: str, run_id: str) -> str:
    """Where a request to cancel a run is published."""
    return f"cancel.{namespace}.{app}.{run_id}"


def consumer_name(namespace: str, app: str) -> str:
    """The durable consumer shared by an app's runner replicas."""
    return f"runner-{namespace}-{app}"


class RunStatus(StrEnum):
    """Where a run is. The last three are final."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def final(self) -> bool:
        return self in (RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled)


ErrorKind = Literal[
    "exception",  # the function raised
    "invalid_state",  # the state did not fit the page (normally caught by the API before dispatch)
    "invalid_context",  # the function returned something that does not fit the page's Context
    "not_found",  # the page or function does not exist in the runner's copy of the app
    "timeout",  # the wall-clock limit was reached and the run's processes were killed
    "memory",  # the memory limit was reached
    "cpu",  # the CPU-time limit was reached
    "crashed",  # the run's process died (signal or exit without a result)
    "gave_up",  # the run was delivered max_deliver times without finishing (it kept killing its runner)
    "cancelled",  # someone cancelled it
    "load",  # the app's code could not be imported
    "data_source",  # a data source is undeclared, unreachable or refused the statement (SQL error, timeout)
]


class RunError(BaseModel):
    """Why a run failed, in a form the web client shows as is."""

    kind: ErrorKind = Field(description="What went wrong, as a category.")
    message: str = Field(description="One line for people.")
    traceback: str | None = Field(None, description="The user's frames only, when the function raised.")
    retryable: bool = Field(False, description="Whether running it again could succeed without any change.")


# -- tables whose fetcher is SQL: the viewer pages, sorts, filters and edits them through the run protocol -----

JsonScalar = str | int | float | bool | None
"""A cell value as JSON (dates and times as ISO strings)."""

ColumnName = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
"""A column of a table as the viewer names it: only ever compared with the query's own columns, never pasted."""

FilterOperator = Literal[
    "equals", "not_equals", "contains", "starts_with", "lt", "lte", "gt", "gte", "in", "is_null", "is_not_null"
]
"""How a filter compares a column with a value (a fixed list: each maps to one SQL expression with a bound value)."""

FILTER_OPERATORS: tuple[FilterOperator, ...] = get_args(FilterOperator)


class SortKey(BaseModel):
    """One column to sort by."""

    model_config = ConfigDict(extra="forbid")

    column: ColumnName
    descending: bool = False


class ColumnFilter(BaseModel):
    """One filter: a declared filter of the table or one the viewer added; the value is always bound."""

    model_config = ConfigDict(extra="forbid")

    column: ColumnName
    operator: FilterOperator
    value: JsonScalar | list[JsonScalar] = Field(None, description="A list only for 'in' (at most 1000 values).")

    @field_validator("value")
    @classmethod
    def _bounded(cls, value: JsonScalar | list[JsonScalar]) -> JsonScalar | list[JsonScalar]:
        if isinstance(value, list) and len(value) > 1000:
            raise ValueError("at most 1000 values")
        if isinstance(value, str) and len(value) > 10_000:
            raise ValueError("at most 10000 characters")
        return value


class TableQuery(BaseModel):
    """Which rows of a SQL table the viewer shows: a page, an order and filters, all run in the database."""

    model_config = ConfigDict(extra="forbid")

    offset: int = Field(0, ge=0, le=100_000_000, description="Rows to skip (ignored when `after` is set).")
    limit: int = Field(50, ge=1, le=1000, description="Rows in the page.")
    sort: list[SortKey] = Field(default_factory=list, max_length=4)
    filters: list[ColumnFilter] = Field(default_factory=list, max_length=32)
    search: str | None = Field(None, max_length=200, description="The viewer's filter box: text columns containing it.")
    after: list[JsonScalar] | None = Field(
        None,
        max_length=8,
        description="Keyset paging: the sort columns' values (then the primary key's) of the last row already shown.",
    )
    count: bool = Field(True, description="Also count the matching rows (skipped when the count would be slow).")


class CellEdit(BaseModel):
    """A cell the viewer changed: saved only if the cell still holds ``old`` (else a conflict)."""

    model_config = ConfigDict(extra="forbid")

    key: dict[ColumnName, JsonScalar] = Field(max_length=8, description="The row's primary key values.")
    column: ColumnName
    old: JsonScalar = None
    new: JsonScalar = None


class TableRequest(BaseModel):
    """An operation on a table whose fetcher is a `.sql` function (the run's ``function`` is that fetcher)."""

    model_config = ConfigDict(extra="forbid")

    table: str = Field(min_length=1, max_length=63, pattern=r"^[a-z_][a-z0-9_]*$", description="The table block.")
    action: Literal["query", "update", "insert", "delete"]
    query: TableQuery = Field(
        default_factory=TableQuery, description="The page to answer with (after an edit too: the page is reloaded)."
    )
    edit: CellEdit | None = Field(None, description="For 'update'.")
    values: dict[ColumnName, JsonScalar] | None = Field(None, max_length=256, description="For 'insert'.")
    key: dict[ColumnName, JsonScalar] | None = Field(None, max_length=8, description="For 'delete'.")

    @model_validator(mode="after")
    def _operands(self) -> TableRequest:
        needed = {"update": self.edit, "insert": self.values, "delete": self.key}
        if self.action in needed and needed[self.action] is None:
            field = {"update": "edit", "insert": "values", "delete": "key"}[self.action]
            raise ValueError(f"action {self.action!r} needs {field!r}")
        return self


class RunRequest(BaseModel):
    """What the API publishes for a runner to execute."""

    run_id: str
    namespace: str
    app: str
    page: str
    function: str
    state: dict[str, Any] = Field(default_factory=dict, description="Already validated against the page's State.")
    submitted_at: float = Field(description="Unix time (seconds) when the API accepted the run.")
    user: str | None = Field(None, description="Who started it (for logs and audit).")
    table: TableRequest | None = Field(
        None, description="Page, sort, filter or edit a table whose fetcher (the function) is a .sql function."
    )


class RunResult(BaseModel):
    """A run's final outcome, stored in the results bucket and returned by the API."""

    run_id: str
    app: str
    page: str
    function: str
    user: str | None = Field(None, description="Who started it, copied from the request (for 'read own runs').")
    status: RunStatus
    context: dict[str, Any] = Field(default_factory=dict, description="Only what the function changed.")
    stdout: str = Field("", description="Captured stdout and stderr (cut at the app's max_output_kb).")
    error: RunError | None = None
    duration_ms: float = Field(0.0, description="Time spent executing, from fork to result.")
    attempt: int = Field(1, description="Which delivery of the run produced this result.")
    finished_at: float = Field(default_factory=time.time)

    @classmethod
    def of(cls, request: RunRequest, status: RunStatus, **fields: Any) -> RunResult:
        """The result of ``request``: which run, app, page and function, and who started it, come from it."""
        return cls(
            run_id=request.run_id,
            app=request.app,
            page=request.page,
            function=request.function,
            user=request.user,
            status=status,
            **fields,
        )


class RunEvent(BaseModel):
    """Something that happened during a run: a status change, output, or progress reported by the script."""

    type: Literal["status", "log", "progress"]
    run_id: str
    at: float = Field(default_factory=time.time)
    status: RunStatus | None = None
    text: str | None = Field(None, description="Output text (log) or a progress message.")
    done: float | None = Field(None, description="Progress so far (of total, or a fraction when total is unset).")
    total: float | None = None
