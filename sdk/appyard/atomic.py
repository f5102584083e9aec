"""Writing a group of files so that readers see either all old or all new contents.

Each file is first written in full to a temporary file beside it and flushed to disk; only then are the
temporary files renamed over the targets. If a rename fails part-way, the files already replaced are put
back, so a failed save never leaves a half-written file or a mixed (stale) set — e.g. a new
``properties.json`` beside old ``state.py``/``context.py``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def _temporary_copy(path: Path, content: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(name, path.stat().st_mode & 0o777)
        else:
            os.chmod(name, 0o644)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    return Path(name)


def write_all(files: Mapping[Path, str]) -> None:
    """Replace every file with its new content, all or nothing."""
    staged: dict[Path, Path] = {}
    previous: dict[Path, str | None] = {}
    try:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            previous[path] = path.read_text(encoding="utf-8") if path.exists() else None
            staged[path] = _temporary_copy(path, content)
        replaced: list[Path] = []
        try:
            for path, temporary in staged.items():
                os.replace(temporary, path)
                replaced.append(path)
        except BaseException:
            _restore(replaced, previous)
            raise
    finally:
        for temporary in staged.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def _restore(replaced: list[Path], previous: Mapping[Path, str | None]) -> None:
    for path in replaced:
        old = previous[path]
        if old is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        else:
            os.replace(_temporary_copy(path, old), path)
