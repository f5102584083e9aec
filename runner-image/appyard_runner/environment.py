"""What of the runner's environment reaches runs: a short allow-list and the app's declared secrets, nothing else.

The runner's environment holds its broker credentials and URL (APPYARD_RUNNER_*). At start, before anything
runs user code, :func:`seal` takes every APPYARD_*/NATS_* variable out of ``os.environ`` and makes the process
non-dumpable. Taking them out of ``os.environ`` is not enough on its own: ``/proc/<pid>/environ`` shows the
environment the process was *started* with, readable by any process of the same user (a run's child) — unless
the process is non-dumpable, which also forbids ptrace and reading its memory. The zygote and its children are
started with :func:`for_runs` only.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable, Mapping

_PR_SET_DUMPABLE = 4
# Not credentials, and needed by runs: where to find programs, locale, time zone, the home and data folders,
# and Python's own settings.
_ALLOWED = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "VIRTUAL_ENV", "XDG_DATA_HOME"}
)
_ALLOWED_PREFIXES = ("LC_", "PYTHON")
_KEPT_APPYARD = frozenset({"APPYARD_DATA_DIR"})  # where apps keep files (appyard.datadir); not a secret
_PRIVATE_PREFIXES = ("APPYARD_", "NATS_")


def _private(name: str) -> bool:
    return name.startswith(_PRIVATE_PREFIXES) and name not in _KEPT_APPYARD


def seal() -> None:
    """Remove the runner's own settings from its environment and make it non-dumpable (call once, first)."""
    for name in [name for name in os.environ if _private(name)]:
        del os.environ[name]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def for_runs(secrets: Iterable[str], data_sources: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the zygote and every run: the allow-list, the app's declared secrets, and what
    ``appyard.db()`` needs of the app's data sources (``data_sources``, from ``Sources.child_environment()``).

    Secrets are read from the environment as :func:`seal` left it, so an app that declares APPYARD_RUNNER_NATS_CREDS
    (or any APPYARD_*/NATS_* name) as a secret gets nothing.
    """
    allowed = {
        name: value
        for name, value in os.environ.items()
        if (name in _ALLOWED or name.startswith(_ALLOWED_PREFIXES) or name in _KEPT_APPYARD) and not _private(name)
    }
    declared = {name: os.environ[name] for name in secrets if name in os.environ and not _private(name)}
    return {**allowed, **declared, **(data_sources or {})}
