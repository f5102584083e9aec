"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from appyard.database import TableFacts
from appyard.properties import Role
from appyard.runs import RunError, RunStatus, TableRequest

from .params import NAME


class ErrorPublic(BaseModel):
    """Every error response: what went wrong, for programs (code) and for people (message)."""

    code: str = Field(description="Machine-readable, e.g. not_found, invalid_properties, too_large, internal.")
    message: str = Field(description="What went wrong and, where it helps, what to do.")
    details: Any = Field(None, description="Every problem found (file, path, message), a limit, or an error id.")


class HealthPublic(BaseModel):
    status: str = Field(description="ok, or degraded when NATS is unreachable (the response is then a 503).")
    nats: str
    apps: int | None = Field(None, description="Number of apps (only shown to signed-in callers).")
    problems: int | None = Field(
        None, description="Problems found in the workspace (see `appyard validate`; only shown to signed-in callers)."
    )
    version: str | None = Field(None, description="API version (only shown to signed-in callers).")


class MePublic(BaseModel):
    """The caller, and what they may do."""

    name: str
    email: str | None
    groups: list[str]
    admin: bool = Field(description="Workspace admin: owns every app and may create apps.")
    auth: Literal["local", "oidc", "proxy"] = Field(description="How this API identifies callers.")
    via: str = Field(description="How this caller was identified (local, oidc, session, proxy, token).")
    read_only: str | None = Field(description="Why pages cannot be changed through this API (cluster mode), or null.")
    apps: dict[str, list[Role]] = Field(description="The caller's roles on each app they hold any role on.")
    logout_url: str | None = Field(description="POST here to sign out (oidc mode), or null.")


class SignedOut(BaseModel):
    signed_out: bool = True
    issuer_logout_url: str | None = Field(
        description="The issuer's end-session endpoint: visit it to end the sign-in at the issuer too."
    )


class TokenCreate(BaseModel):
    """A new API token: the role it carries on some apps."""

    apps: list[Annotated[str, Field(pattern=r"^(\*|[a-z][a-z0-9_]{0,39})$")]] = Field(
        min_length=1, max_length=100, description='App names, or ["*"] for every app.'
    )
    role: Role = Field("use", description="Highest role the token carries (never more than its owner's).")
    expires_in_days: int = Field(30, ge=1, le=3650, description="Days until the token stops working.")
    description: str = Field("", max_length=200, description="What the token is for.")


class TokenPublic(BaseModel):
    """An API token as listed (never its secret)."""

    id: str
    owner: str
    apps: list[str]
    role: Role
    description: str
    created_at: float
    expires_at: float
    revoked: bool


class TokenCreated(TokenPublic):
    token: str = Field(description="The token (ayt_<id>_<secret>); shown only now. Send it as a Bearer token.")


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
    script: str = Field(description="The script file (without .py or .sql) that defines it.")
    line: int
    doc: str | None = Field(description="The docstring, or a `.sql` file's leading comment lines.")
    kind: Literal["python", "sql"] = Field("python", description="A Python function or a `.sql` file.")


class PagePublic(BaseModel):
    app: str
    name: str
    label: str
    version: str = Field(description="Changes whenever the page's files change (on disk or through the API).")
    properties: dict[str, Any] = Field(description="The page's properties.json, as validated.")
    state_schema: dict[str, Any]
    context_schema: dict[str, Any]
    functions: list[FunctionPublic]
    scripts: list[str] = Field(description="Script files in scripts/: Python without .py, SQL with .sql.")
    tables: dict[str, TableFacts] = Field(
        default_factory=dict,
        description="What the database says about each table whose fetcher is SQL (the page's database.json): "
        "its columns' types, primary key and which cells can be saved.",
    )


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
    table: TableRequest | None = Field(
        None,
        description="Page, sort, filter or edit a table whose fetcher is SQL: `function` must be that fetcher.",
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


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written out where they are used.

    For request bodies the OpenAPI document declares by hand (routes that read the raw body): a ``$ref`` into
    the model's own ``$defs`` would not resolve from there. The models it is used on are not recursive.
    """
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {key: value for key, value in node.items() if key != "$ref"}
                return {**inline(defs[ref.removeprefix("#/$defs/")]), **inline(rest)}
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined
