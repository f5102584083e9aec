"""The audit log: who did what to which app, and how it ended (DESIGN.md §7).

::

    API ──AuditEntry──▶ stream APPYARD_AUDIT, subject audit.<namespace>.<app>   (audit.<namespace>._ for
                         entries about the workspace as a whole), Nats-Msg-Id = the entry's id

An entry names people, apps, pages, functions and scripts, and says how an action ended. It never carries
what people typed or what code produced: no state values, no context, no output, no script source, no
property values, no error messages (they may quote user data) — only the error's kind.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, Field

from .runs import ErrorKind, RunResult, RunStatus, new_run_id

AUDIT_STREAM = "APPYARD_AUDIT"
WORKSPACE_WIDE = "_"
"""The app part of the subject of entries that concern no single app (tokens, workspace changes)."""

AuditAction = Literal[
    "run",  # a function ran (one entry per run, when its result is final)
    "properties_saved",  # a page's properties.json was saved
    "script_saved",  # a page's script was saved
    "app_created",
    "page_created",
    "access_changed",  # an app's access (use/edit/own) was changed
    "token_created",  # an API token was issued
    "token_revoked",
    "denied",  # a request was refused for lack of a role
]

Outcome = Literal["ok", "succeeded", "failed", "cancelled", "denied"]


def audit_subject(namespace: str, app: str | None) -> str:
    """Where entries about ``app`` (None: the workspace as a whole) are published."""
    return f"audit.{namespace}.{app or WORKSPACE_WIDE}"


class AuditEntry(BaseModel):
    """One recorded action. Only names and outcomes: never state values, output or script source."""

    id: str = Field(
        default_factory=new_run_id,
        max_length=64,
        description="Unique per action; the Nats-Msg-Id, so an entry written twice (two API replicas) is kept once.",
    )
    at: float = Field(default_factory=time.time, description="Unix time (seconds) of the action.")
    actor: str | None = Field(None, max_length=256, description="Who acted (None: not known, e.g. a run's owner).")
    via: str = Field(
        "api",
        max_length=32,
        pattern=r"^[a-z_]+$",
        description="How the action reached Appyard: api (an HTTP request), runner (a result), or the sign-in "
        "method once identities carry it.",
    )
    action: AuditAction
    app: str | None = Field(None, max_length=64, description="The app, or None for workspace-wide actions.")
    page: str | None = Field(None, max_length=64)
    function: str | None = Field(None, max_length=128)
    script: str | None = Field(None, max_length=128, description="The script's name (never its source).")
    run_id: str | None = Field(None, max_length=64)
    outcome: Outcome = "ok"
    error_kind: ErrorKind | None = Field(None, description="Why a run failed, as a category (never its message).")
    duration_ms: float | None = Field(None, description="For runs: time spent executing.")
    details: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        max_length=16,
        description="A few facts about the action (counts, an attempt number); never user data.",
    )


_OUTCOMES: dict[RunStatus, Outcome] = {RunStatus.succeeded: "succeeded", RunStatus.cancelled: "cancelled"}


def run_entry(result: RunResult) -> AuditEntry:
    """The entry for a run's final result: who, where, how it ended and how long it took, nothing else."""
    return AuditEntry(
        id=f"run-{result.run_id}",  # the same id from every API replica that sees the result
        at=result.finished_at,
        actor=result.user,
        via="api",
        action="run",
        app=result.app,
        page=result.page,
        function=result.function,
        run_id=result.run_id,
        outcome=_OUTCOMES.get(result.status, "failed"),
        error_kind=result.error.kind if result.error is not None else None,
        duration_ms=result.duration_ms,
        details={"attempt": result.attempt},
    )
