"""How Appyard's processes log: JSON lines in a cluster (for ``kubectl logs … | jq``), readable text at a desk.

The API, the operator and the runner call :func:`configure` first thing in ``main()``. The format comes from its
argument, else from ``APPYARD_LOG_FORMAT`` (``json`` or ``text``), else text: the chart and the operator's runner
Deployments set ``json``; ``appyard dev`` sets nothing, so its processes log text.

A JSON line is one object::

    {"time": "2026-12-01T00:12:03.417Z", "level": "info", "logger": "appyard.runner",
     "message": "run 01J… greet: ok in 3.1 ms", "run_id": "01J…", "function": "greet", …}

``time`` is RFC 3339 in UTC with milliseconds, ``level`` the level's name in lower case, ``message`` the call's
%-formatted message; ``exception`` (the formatted traceback) when the call passed one, ``stack`` when it asked for
the stack; then every field the call passed with ``extra={...}``, as JSON when it can be, else as its ``repr``.
An extra field named like one of those keys is renamed with a trailing underscore (``level_``) rather than lost.

A log call never raises because of its record: a message whose arguments do not fit its format is logged as the
format and the arguments' ``repr``, a field that cannot be JSON as its ``repr``. (The standard library itself
refuses an ``extra`` key that names a record attribute, such as ``message`` or ``name``, at the call.)
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, Final, Literal, TextIO, cast

LogFormat = Literal["json", "text"]
"""What a process's log lines look like: one JSON object a line, or ``time logger LEVEL message``."""

ENVIRONMENT_VARIABLE: Final = "APPYARD_LOG_FORMAT"
"""The variable that chooses the format when :func:`configure` is not told: ``json`` or ``text``."""

FORMATS: Final[tuple[LogFormat, ...]] = ("json", "text")

TEXT_FORMAT: Final = "%(asctime)s %(name)s %(levelname)s %(message)s"
"""The text format: what the processes logged before JSON existed, and still do outside a cluster."""

# Every attribute a LogRecord has before ``extra`` is applied: whatever else a record carries came from ``extra``.
_RECORD_ATTRIBUTES: Final = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",  # set by Formatter.format
    "asctime",  # set by Formatter.format when the format asks for it
    "taskName",  # Python 3.12+
    "color_message",  # uvicorn's copy of its message with terminal colours: the same text again
    "settings",  # kopf's object loggers pass the operator's whole settings object (k8s_ref, the object, is kept)
    "k8s_skip",  # kopf's: whether its Kubernetes-event poster skips the record
}
_RESERVED: Final = frozenset({"time", "level", "logger", "message", "exception", "stack"})

# One encoder for every line: compact, UTF-8 kept as is, anything it cannot encode as its repr. NaN and infinities
# are not JSON: a value holding one fails and is logged as its repr (see _Json.format).
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=repr)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line (the keys are described in the module's docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""

    def _time(self, created: float, msecs: float) -> str:
        # strftime is the slow part, and a busy process logs many lines in the same second: format each second once.
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: the line still says what was meant
            message = f"{record.msg!r} (arguments that do not fit it: {record.args!r})"
        line: dict[str, Any] = {
            "time": self._time(record.created, record.msecs),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        if record.exc_info and not record.exc_text:  # cached on the record, as logging.Formatter does
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES:
                line[f"{key}_" if key in _RESERVED else key] = value
        try:
            return _ENCODER.encode(line)
        except (TypeError, ValueError, RecursionError):  # a dict with tuple keys, NaN, a cycle: that field as repr
            return _ENCODER.encode({key: _jsonable(value) for key, value in line.items()})


def _jsonable(value: Any) -> Any:
    try:
        _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError):
        return repr(value)
    return value


def chosen_format(environ: dict[str, str] | None = None) -> LogFormat:
    """The format ``APPYARD_LOG_FORMAT`` asks for (text when unset or empty).

    Raises ValueError, naming the variable and the values it may take, for anything else: a typo must not leave
    a cluster's logs unreadable by the tools that expect JSON.
    """
    value = (os.environ if environ is None else environ).get(ENVIRONMENT_VARIABLE, "").strip()
    if not value:
        return "text"
    if value.lower() not in FORMATS:
        raise ValueError(
            f"{ENVIRONMENT_VARIABLE} is {value!r}, which is not a log format: set it to json or text "
            "(or leave it unset for text)"
        )
    return cast(LogFormat, value.lower())


class _Handler(logging.StreamHandler[TextIO]):
    """The handler :func:`configure` installs (a class of its own, so a second call replaces it)."""


def configure(
    format: LogFormat | None = None,
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> LogFormat:
    """Send every logger's records at ``level`` or above to ``stream`` (stderr) in ``format``; returns the format.

    ``format``: ``json`` or ``text``; None reads ``APPYARD_LOG_FORMAT`` (see :func:`chosen_format`). Calling it
    again replaces what the previous call installed, and leaves handlers that others added alone.
    """
    chosen = chosen_format() if format is None else format
    if chosen not in FORMATS:
        raise ValueError(f"log format {chosen!r} is not one of {', '.join(FORMATS)}")
    handler = _Handler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for previous in [each for each in root.handlers if isinstance(each, _Handler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)
    return chosen
