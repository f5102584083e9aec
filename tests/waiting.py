"""Waiting in tests for something another thread does (a file watcher's thread, say)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Call ``check`` until it is true; the timeout only bounds a failing test (never asserts a duration)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def eventually(
    check: Callable[[], T | None],
    what: str,
    timeout: float = 60.0,
    *,
    interval: float = 0.2,
    explain: Callable[[], str] = str,
) -> T:
    """Call ``check`` until it returns something truthy, and return that; an exception counts as "not yet" (a
    server still starting) and the last one is reported with ``explain()`` (logs, objects) when time is up. The
    timeout only bounds a failing test."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception as error:
            last, value = error, None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} after {timeout:g} s (last error: {last})\n{explain()}")
