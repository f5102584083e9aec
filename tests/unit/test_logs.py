"""appyard.logs: the JSON lines of a cluster and the text of a desk, and the runner's line per finished run."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from appyard import logs
from appyard.runs import RunError, RunResult, RunStatus

RFC3339_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(autouse=True)
def restored_root() -> Iterator[None]:
    """Each test configures the root logger: take out what it installed and put the level back."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [each for each in root.handlers if isinstance(each, logs._Handler)]:
        root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _json(level: int = logging.INFO) -> io.StringIO:
    stream = io.StringIO()
    assert logs.configure("json", level, stream=stream) == "json"
    return stream


def test_a_json_line_has_time_level_logger_and_the_formatted_message() -> None:
    stream = _json()
    before = datetime.now(UTC)
    logging.getLogger("appyard.test").warning("%d runs of %s\nand a second line", 3, "greet")
    (line,) = _lines(stream)  # a message with a newline is still one line
    assert list(line) == ["time", "level", "logger", "message"]
    assert line["level"] == "warning" and line["logger"] == "appyard.test"
    assert line["message"] == "3 runs of greet\nand a second line"
    assert RFC3339_MS_UTC.match(line["time"]), line["time"]
    logged = datetime.fromisoformat(line["time"])
    assert before - timedelta(milliseconds=1) <= logged <= datetime.now(UTC)


def test_extra_fields_follow_as_json_or_as_their_repr() -> None:
    stream = _json()
    marker = object()
    fields = {
        "run_id": "01J",
        "attempt": 2,
        "duration_ms": 3.25,
        "tags": ["a", "b"],
        "nested": {"ok": True, "none": None},
        "thing": marker,  # not JSON: its repr
        "by_pair": {(1, 2): "x"},  # a key JSON cannot have: the field's repr, the others as they are
        "ratio": float("nan"),  # not JSON either
        "level": "mine",  # a key of the line's own: renamed, not lost and not overwriting
    }
    logging.getLogger("appyard.test").info("done", extra=fields)
    (line,) = _lines(stream)
    assert line["message"] == "done" and line["level"] == "info"
    assert line["run_id"] == "01J" and line["attempt"] == 2 and line["duration_ms"] == 3.25
    assert line["tags"] == ["a", "b"] and line["nested"] == {"ok": True, "none": None}
    assert line["thing"] == repr(marker)
    assert line["by_pair"] == repr({(1, 2): "x"})
    assert line["ratio"] == "nan"
    assert line["level_"] == "mine"


def test_an_exception_is_its_formatted_traceback() -> None:
    stream = _json()
    known: dict[str, int] = {}
    try:
        known["missing"]
    except KeyError:
        logging.getLogger("appyard.test").exception("lookup failed for %s", "missing")
    (line,) = _lines(stream)
    assert line["level"] == "error" and line["message"] == "lookup failed for missing"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("KeyError: 'missing'")


def test_arguments_that_do_not_fit_the_format_still_make_a_line() -> None:
    stream = _json()
    # Straight to the installed handler: pytest's own capture handler, also on the root logger, raises here.
    (handler,) = [each for each in logging.getLogger().handlers if isinstance(each, logs._Handler)]
    handler.handle(logging.LogRecord("appyard.test", logging.INFO, __file__, 1, "%d runs", ("three",), None))
    (line,) = _lines(stream)
    assert "%d runs" in line["message"] and "three" in line["message"]


def test_levels_below_the_configured_one_write_nothing() -> None:
    stream = _json(logging.WARNING)
    logging.getLogger("appyard.test").info("quiet")
    assert stream.getvalue() == ""


def test_configuring_again_replaces_the_previous_handler() -> None:
    first = _json()
    second = _json()
    logging.getLogger("appyard.test").info("once")
    assert first.getvalue() == ""
    assert [line["message"] for line in _lines(second)] == ["once"]


def test_text_when_nothing_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.ENVIRONMENT_VARIABLE, raising=False)
    stream = io.StringIO()
    assert logs.configure(stream=stream) == "text"
    logging.getLogger("appyard.test").info("hello %s", "there", extra={"run_id": "01J"})
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} appyard.test INFO hello there\n", stream.getvalue())


@pytest.mark.parametrize(("value", "chosen"), [("json", "json"), ("JSON", "json"), (" text ", "text"), ("", "text")])
def test_the_variable_chooses_the_format(monkeypatch: pytest.MonkeyPatch, value: str, chosen: str) -> None:
    monkeypatch.setenv(logs.ENVIRONMENT_VARIABLE, value)
    assert logs.configure(stream=io.StringIO()) == chosen


@pytest.mark.parametrize("value", ["xml", "logfmt", "jsonl", "1"])
def test_an_unknown_format_names_the_variable_and_the_choices(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(logs.ENVIRONMENT_VARIABLE, value)
    with pytest.raises(ValueError, match="APPYARD_LOG_FORMAT") as refused:
        logs.configure(stream=io.StringIO())
    assert repr(value) in str(refused.value) and "json or text" in str(refused.value)


# -- the runner's line per finished run ----------------------------------------------------------------------------


def _result(**fields: Any) -> RunResult:
    base: dict[str, Any] = {
        "run_id": "01JDZQ4S9V6F3T8W2K5M7N1P0R",
        "app": "lab",
        "page": "main",
        "function": "echo",
        "status": RunStatus.succeeded,
        "duration_ms": 3.14159,
        "attempt": 1,
        "context": {"form": {"message": "private-context"}},
        "stdout": "private-output",
    }
    return RunResult(**{**base, **fields})


def test_a_finished_run_is_one_line_of_ids_names_status_and_timing() -> None:
    from appyard_runner.worker import _log_finished

    stream = _json()
    _log_finished(_result())
    failed = RunError(kind="timeout", message="private-message", traceback="private-traceback")
    _log_finished(_result(status=RunStatus.failed, error=failed, attempt=2))
    _log_finished(_result(status=RunStatus.cancelled, error=RunError(kind="cancelled", message="cancelled")))
    ok, timed_out, cancelled = _lines(stream)
    assert ok == {
        "time": ok["time"],
        "level": "info",
        "logger": "appyard.runner",
        "message": "run 01JDZQ4S9V6F3T8W2K5M7N1P0R echo: ok in 3.1 ms",
        "run_id": "01JDZQ4S9V6F3T8W2K5M7N1P0R",
        "app": "lab",
        "page": "main",
        "function": "echo",
        "status": "succeeded",
        "duration_ms": 3.142,
        "attempt": 1,
    }
    assert timed_out["message"] == "run 01JDZQ4S9V6F3T8W2K5M7N1P0R echo: failed (timeout) in 3.1 ms"
    assert (timed_out["status"], timed_out["error_kind"], timed_out["attempt"]) == ("failed", "timeout", 2)
    assert (cancelled["status"], cancelled["error_kind"]) == ("cancelled", "cancelled")
    assert cancelled["message"].endswith(": cancelled in 3.1 ms")
    assert "private" not in stream.getvalue()  # never the context, the output or the error's text (DESIGN §7)
