"""Errors raised by the SDK.

::

    AppyardError                 base of everything below
    ├── PropertiesInvalid        one or more Issues in properties.json files or scripts (permanent until fixed)
    ├── NotFound                 an app, page or function that does not exist
    ├── GenerationFailed         State/Context generation failed (a bug or a broken environment, not user input)
    └── FunctionFailed           a user function raised; carries the formatted traceback of the user's frames
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def shown(path: Path) -> str:
    """A path as people should see it in messages: relative to the current directory when inside it."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


@dataclass(frozen=True, order=True)
class Issue:
    """One problem a person can act on: which file, where in it, and what is wrong."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


class AppyardError(Exception):
    """Base of every error raised by the appyard package."""


class PropertiesInvalid(AppyardError):
    """properties.json or scripts have problems; ``issues`` lists every one of them."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        count = len(issues)
        summary = "\n".join(str(issue) for issue in issues[:20])
        more = f"\n… and {count - 20} more" if count > 20 else ""
        super().__init__(f"{count} problem{'s' if count != 1 else ''}:\n{summary}{more}")


class NotFound(AppyardError):
    """An app, page or function that does not exist; the message lists what does."""


class GenerationFailed(AppyardError):
    """Generating State/Context models failed for a page whose properties are valid."""


class FunctionFailed(AppyardError):
    """A user function raised an exception."""

    def __init__(self, message: str, traceback: str) -> None:
        self.traceback = traceback
        super().__init__(message)
