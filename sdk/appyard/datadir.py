"""Where an app keeps files between runs (a SQLite database, a cache).

Each run has a private temporary directory that is deleted afterwards, so data that must outlive a run goes
under :func:`data_dir`: ``$APPYARD_DATA_DIR/<app>`` (a volume in a cluster, set by the runner), or
``~/.local/share/appyard/<app>`` on a developer's machine.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir(app: str) -> Path:
    """The app's persistent data folder (created when missing)."""
    configured = os.environ.get("APPYARD_DATA_DIR")
    shared = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    path = (Path(configured) if configured else shared / "appyard") / app
    path.mkdir(parents=True, exist_ok=True)
    return path
