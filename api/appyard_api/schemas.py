"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from appyard.runs import RunError, RunStatus

from .params import NAME


class ErrorPublic(BaseModel):
    """Every error response: what went wrong, for programs (code) and for people (message)."""

    code: str = Field(description="Machine-readable, e.g. not_found, invalid_properties, too_large, internal.")
    message: str = Field(description="What went wrong and, where it helps, what to do.")
    details: Any = Field(None, description="Every problem found (file, path, message), a limit, or an error id.")


class HealthPublic(BaseModel):
    status: str = Field(description="ok, or degraded when NATS is unreachable (the response is then a 503).")
    nats: str
    apps: int
    problems: int = Field(description="Problems found in the workspace (see `appyard validate`).")
    version: str


class PageSummary(BaseModel):
    name: str
    label: str


class AppSummary(BaseModel):
    name: str
    label: str
    description: str | None
    pages: list[PageSummary]


class FunctionPublic(BaseModel):
    name: str
    script: str = Field(description="The script file (without .py) that defines it.")
    line: int
    doc: str | None


class PagePublic(BaseModel):
    app: str
    name: str
    label: str
    version: str = Field(description="Changes whenever the page's files change (on disk or through the API).")
    properties: dict[str, Any] = Field(description="The page's properties.json, as validated.")
    state_schema: dict[str, Any]
    context_schema: dict[str, Any]
    functions: list[FunctionPublic]
    scripts: list[str] = Field(description="Script files in scripts/, without .py.")


class AppPublic(AppSummary):
    properties: dict[str, Any]


class AppCreate(BaseModel):
    name: str = Field(description="Lowercase letters, digits and underscores.", pattern=NAME)
    label: str | None = Field(None, max_length=200)


class PageCreate(BaseModel):
    name: str = Field(description="Lowercase letters, digits and underscores.", pattern=NAME)
    label: str | None = Field(None, max_length=200)


class ScriptPublic(BaseModel):
    name: str
    source: str
    functions: list[FunctionPublic]


class ScriptUpdate(BaseModel):
    source: str = Field(description="The whole new content of the script.")


class RunCreate(BaseModel):
    function: str = Field(description="A function of the page.")
    state: dict[str, Any] = Field(default_factory=dict, description="What the user entered (only what they touched).")
    run_id: str | None = Field(
        None,
        pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$",
        description="A ULID chosen by the client, so it can follow the run's events before the response arrives.",
    )


class RunAccepted(BaseModel):
    run_id: str
    status: RunStatus


class RunPublic(BaseModel):
    run_id: str
    status: RunStatus
    context: dict[str, Any] = Field(default_factory=dict, description="Only what the function changed.")
    stdout: str = ""
    error: RunError | None = None
    duration_ms: float | None = Field(None, description="Execution time in the runner.")
