"""Previewing the next runs of a daily job."""

from __future__ import annotations

import datetime as dt

from ..context import Context
from ..state import State

MAX_RUNS = 30


def next_runs(at: dt.time, start: dt.date, count: int, skip_weekends: bool) -> list[dt.datetime]:
    """The next ``count`` run times at ``at`` from ``start`` on, optionally on weekdays only."""
    runs: list[dt.datetime] = []
    day = start
    while len(runs) < count:
        if not (skip_weekends and day.weekday() >= 5):
            runs.append(dt.datetime.combine(day, at))
        day += dt.timedelta(days=1)
    return runs


def preview_runs(state: State, context: Context) -> Context:
    """Fill the runs table, or explain why not."""
    form = state.schedule
    count = form.count if form.count is not None else 5
    if not 1 <= count <= MAX_RUNS:
        context.schedule.components.count.set_message(f"Choose between 1 and {MAX_RUNS}.", "error")
        return context
    if form.at is None:
        context.schedule.components.at.set_message("Enter a time.", "error")
        return context
    today = dt.date.today()
    start = form.start or today
    runs = next_runs(form.at, start, count, bool(form.skip_weekends))
    context.runs.set_data(
        {"number": index, "run_at": run, "weekday": run.strftime("%A"), "in_days": (run.date() - today).days}
        for index, run in enumerate(runs, start=1)
    )
    context.schedule.components.count.clear_message()
    return context
