"""kstatus conditions: Ready, Reconciling and Stalled, folded into status once per reconcile."""

from __future__ import annotations

import datetime as dt

from appyard.resources import Condition, ConditionStatus


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def condition(
    previous: list[Condition], kind: str, status: ConditionStatus, reason: str, message: str, generation: int | None
) -> Condition:
    """A condition that keeps its transition time while its status does not change."""
    before = next((item for item in previous if item.type == kind), None)
    changed = before is None or before.status != status
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message[:4000],
        last_transition_time=now() if changed or before is None else before.last_transition_time,
        observed_generation=generation,
    )


def fold(
    previous: list[Condition],
    generation: int | None,
    *,
    ready: tuple[bool, str, str],
    reconciling: tuple[bool, str, str] | None = None,
    stalled: tuple[bool, str, str] | None = None,
) -> list[Condition]:
    """The three conditions from what a reconcile found: each is (holds, reason, message)."""
    result = [condition(previous, "Ready", "True" if ready[0] else "False", ready[1], ready[2], generation)]
    for kind, value in (("Reconciling", reconciling), ("Stalled", stalled)):
        if value is not None and value[0]:
            result.append(condition(previous, kind, "True", value[1], value[2], generation))
    return result
