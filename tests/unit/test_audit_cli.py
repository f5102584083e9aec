"""`appyard audit` refuses times it cannot read before it asks the API anything."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from appyard.cli import app


@pytest.mark.parametrize(
    ("option", "value"),
    [("--since", "yesterday"), ("--since", "1y"), ("--until", "-2h"), ("--since", "2026-13-01")],
)
def test_unreadable_times_are_refused_with_the_forms_that_work(option: str, value: str) -> None:
    result = CliRunner().invoke(app, ["audit", option, value, "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert f"{option} {value!r} is neither a duration (30m, 1h, 2d, 1w) nor an ISO 8601 time" in result.stderr


@pytest.mark.parametrize("limit", ["0", "1001"])
def test_the_limit_is_bounded(limit: str) -> None:
    result = CliRunner().invoke(app, ["audit", "--limit", limit])
    assert result.exit_code == 2
