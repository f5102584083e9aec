"""Reporting progress from a long-running function: ``report_progress(3, 10, "copying rows")``.

The runner passes a pipe to each run in ``APPYARD_PROGRESS_FD``; progress reported there reaches the browser
as events. Outside a runner (``appyard run``) the calls do nothing.
"""

from __future__ import annotations

import json
import os
import time

_MIN_INTERVAL = 0.05
_last = 0.0


def report_progress(done: float, total: float | None = None, message: str | None = None) -> None:
    """Tell the user how far the run is: ``done`` of ``total`` (or a fraction when total is None)."""
    global _last  # noqa: PLW0603 — one reporter per run process
    fd = os.environ.get("APPYARD_PROGRESS_FD")
    if not fd:
        return
    now = time.monotonic()
    final = total is not None and done >= total
    if not final and now - _last < _MIN_INTERVAL:
        return
    _last = now
    line = json.dumps({"done": done, "total": total, "message": message}) + "\n"
    try:
        os.write(int(fd), line.encode())
    except OSError:  # the runner stopped listening; progress is best effort
        return
