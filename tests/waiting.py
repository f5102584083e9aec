"""Waiting in tests for something another thread does (a file watcher's thread, say)."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Call ``check`` until it is true; the timeout only bounds a failing test (never asserts a duration)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
