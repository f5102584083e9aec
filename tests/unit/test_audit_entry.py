"""Audit entries: names and outcomes of an action, never the data it touched."""

from __future__ import annotations

import pytest

from appyard.audit import AuditEntry, audit_subject, run_entry
from appyard.runs import RunError, RunResult, RunStatus

MARKER = "MARKER-4b1e-user-data"


def result(status: RunStatus, error: RunError | None = None) -> RunResult:
    return RunResult(
        run_id="01M8P5KX0G9REA16KB642MHNJE",
        app="orders",
        page="refunds",
        function="refund",
        user="ada@example.com",
        status=status,
        context={"form": {"message": MARKER}, MARKER: [MARKER]},
        stdout=f"printed {MARKER}\n",
        error=error,
        duration_ms=12.5,
        attempt=2,
    )


@pytest.mark.parametrize(
    ("status", "error", "outcome", "kind"),
    [
        (RunStatus.succeeded, None, "succeeded", None),
        (
            RunStatus.failed,
            RunError(kind="exception", message=f"ValueError: {MARKER}", traceback=MARKER),
            "failed",
            "exception",
        ),
        (RunStatus.failed, RunError(kind="timeout", message="took too long"), "failed", "timeout"),
        (RunStatus.cancelled, RunError(kind="cancelled", message="cancelled by bob"), "cancelled", "cancelled"),
    ],
)
def test_a_run_entry_says_who_where_and_how_it_ended_and_nothing_of_its_data(
    status: RunStatus, error: RunError | None, outcome: str, kind: str | None
) -> None:
    entry = run_entry(result(status, error))
    assert (entry.actor, entry.app, entry.page, entry.function) == ("ada@example.com", "orders", "refunds", "refund")
    assert (entry.action, entry.outcome, entry.error_kind, entry.duration_ms) == ("run", outcome, kind, 12.5)
    assert entry.details == {"attempt": 2}
    assert MARKER not in entry.model_dump_json()


def test_a_run_has_one_id_whoever_records_it() -> None:
    # Every API replica records the same result; the id (the Nats-Msg-Id) makes the server keep one copy.
    first, second = run_entry(result(RunStatus.succeeded)), run_entry(result(RunStatus.succeeded))
    assert first.id == second.id == "run-01M8P5KX0G9REA16KB642MHNJE"
    assert AuditEntry(action="app_created").id != AuditEntry(action="app_created").id


def test_subjects_per_app_and_for_the_workspace() -> None:
    assert audit_subject("team-a", "orders") == "audit.team-a.orders"
    assert audit_subject("team-a", None) == "audit.team-a._"
