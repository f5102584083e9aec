"""Keeping an app's declared secrets out of everything that leaves the runner.

An app lists the environment variables its functions may read in ``runner.secrets``. Their values (those
longer than 3 characters: shorter ones would blot out ordinary words) are replaced by ``[secret NAME]`` in
every streamed log line and progress message, and in a result's captured output, context, error message and
traceback. The runner's parent does this, on its side of the pipes, so a function cannot opt out.

It catches the value as written, not transformed: base64 of a secret, its reversal or its characters one per
line pass through (docs/security.md says so). An app that declares no secrets pays nothing: every
method returns its argument unchanged after one ``is None`` check.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic_core

from appyard.runs import RunError, RunResult, RunStatus

MIN_LENGTH = 4
_TRUNCATED = "\n[output truncated: "  # the notice the sandbox appends when the output limit was reached


class Redactor:
    """Replaces the values of one app's secrets with ``[secret NAME]``."""

    def __init__(self, values: Mapping[str, str]) -> None:
        """``values`` maps each secret's name to its value."""
        by_value = {value: name for name, value in values.items() if len(value) >= MIN_LENGTH}
        self._names = by_value
        # Longest first: a secret that contains another is replaced whole, not around the shorter one.
        ordered = sorted(by_value, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._prefixes = [value[:-1] for value in ordered]
        # The same values as pydantic writes them inside a JSON string: escaping is per character, so a value
        # in any string of some data is in the data's JSON in this form. One search of the JSON the runner
        # writes anyway tells whether the (slower) walk over every string is needed at all.
        in_json = (pydantic_core.to_json(value)[1:-1] for value in ordered)
        self._in_json = re.compile(b"|".join(map(re.escape, in_json))) if ordered else None

    @classmethod
    def from_environment(cls, names: Iterable[str], environ: Mapping[str, str] = os.environ) -> Redactor:
        """The secrets ``names`` with the values this process's environment gives them (missing ones: none)."""
        return cls({name: environ[name] for name in names if name in environ})

    @property
    def active(self) -> bool:
        """Whether there is anything to redact."""
        return self._pattern is not None

    def _replace(self, match: re.Match[str]) -> str:
        return f"[secret {self._names[match.group()]}]"

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(self._replace, value)

    def leaks(self, payload: bytes) -> bool:
        """Whether JSON written by pydantic (a result's payload) may hold a secret (a number may look like one)."""
        return self._in_json is not None and self._in_json.search(payload) is not None

    def value(self, data: Any) -> Any:
        """JSON data with every string (keys too) redacted, and a number that holds a secret replaced."""
        if not self.leaks(pydantic_core.to_json(data, fallback=str)):
            return data
        return self._walk(data)

    def _walk(self, data: Any) -> Any:
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {self.text(key) if isinstance(key, str) else key: self._walk(item) for key, item in data.items()}
        if isinstance(data, list):
            return [self._walk(item) for item in data]
        if isinstance(data, (int, float)) and not isinstance(data, bool) and self.text(str(data)) != str(data):
            return self.text(str(data))  # a numeric secret (a PIN) returned as a number
        return data

    def error(self, error: RunError | None) -> RunError | None:
        if self._pattern is None or error is None:
            return error
        traceback = self.text(error.traceback) if error.traceback is not None else None
        return error.model_copy(update={"message": self.text(error.message), "traceback": traceback})

    def output(self, text: str) -> str:
        """Captured output: redacted, and a secret cut off by the output limit does not leave its beginning."""
        if self._pattern is None:
            return text
        kept, notice, rest = text.rpartition(_TRUNCATED)
        if not notice:
            return self.cut(self.text(text))
        return self.cut(self.text(kept)) + notice + rest

    def cut(self, text: str) -> str:
        """``text`` whose end may be a secret's beginning, cut off: that beginning is replaced when it is long
        enough to tell (``MIN_LENGTH`` characters); a shorter one passes, as it is most likely a coincidence."""
        size = self.held_back(text)
        if size < MIN_LENGTH:
            return text
        name = next(self._names[value] for value in self._names if value.startswith(text[-size:]))
        return f"{text[:-size]}[secret {name}, cut]"

    def result(self, result: RunResult) -> RunResult:
        """The result with its output, context, error message and traceback redacted.

        Callers on the run path check :meth:`leaks` on the payload they write first: most results hold no
        secret, and one search of the payload is far cheaper than this walk.
        """
        if self._pattern is None:
            return result
        return result.model_copy(
            update={
                "stdout": self.output(result.stdout),
                "context": self._walk(result.context),
                "error": self.error(result.error),
            }
        )

    def payload(self, result: RunResult, max_bytes: int) -> bytes:
        """The result as stored: redacted, or (over ``max_bytes``) a failure saying so with the end of its output."""
        payload = result.model_dump_json().encode()
        if self.leaks(payload):
            result = self.result(result)
            payload = result.model_dump_json().encode()
        if len(payload) <= max_bytes:
            return payload
        size, limit = len(payload) / 1_048_576, max_bytes / 1_048_576
        message = f"the result is {size:.1f} MiB, more than the {limit:.0f} MiB limit; return less data"
        update = {
            "status": RunStatus.failed,
            "context": {},
            "error": RunError(kind="invalid_context", message=message),
            "stdout": result.stdout[-65536:],
        }
        return result.model_copy(update=update).model_dump_json().encode()

    def stream(self) -> StreamRedactor:
        """A redactor for output that arrives in pieces (one per run)."""
        return StreamRedactor(self)

    def held_back(self, text: str) -> int:
        """How many characters at the end of ``text`` could be the start of a secret (0 if none)."""
        longest = 0
        for prefix in self._prefixes:
            for size in range(min(len(prefix), len(text)), longest, -1):
                if text.endswith(prefix[:size]):
                    longest = size
                    break
        return longest


class StreamRedactor:
    """Redacts output read in chunks: a secret split across two chunks is still caught.

    The end of a chunk that could begin a secret is held back until the next chunk (or the end of the run)
    shows whether it does; everything else passes at once.
    """

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._held = ""

    def feed(self, text: str) -> str:
        """What of ``text`` (after anything held back) may be sent now, redacted."""
        if not self.redactor.active:
            return text
        redacted = self.redactor.text(self._held + text)
        hold = self.redactor.held_back(redacted)
        self._held = redacted[len(redacted) - hold :] if hold else ""
        return redacted[: len(redacted) - hold]

    def flush(self) -> str:
        """What is still held back, at the end of the run: a secret's beginning (cut by the output limit) is
        replaced, a few characters that merely look like one pass."""
        held, self._held = self._held, ""
        return self.redactor.cut(held)
