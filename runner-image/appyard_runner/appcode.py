"""The app's code, imported once in the warm parent and reloaded when its files change (dev).

In the zygote (``functions=True``) importing runs the module-level code of the app's scripts; every function
call then happens in a forked child (see :mod:`.sandbox`), which starts from this already-imported state. The
runner's parent (``functions=False``, it holds the broker connection) imports nothing of the app: its pages'
models are built from our generator's output, and a page whose committed ``state.py``/``context.py`` differ
from it does not load (see :func:`appyard.execution.load`).
"""

from __future__ import annotations

import gc
import logging
import os
import time
from pathlib import Path

from appyard import execution
from appyard.errors import AppyardError, NotFound
from appyard.properties import AppProperties
from appyard.properties import RunnerSettings as AppRunnerSettings
from appyard.workspace import PROPERTIES, load_page, read_properties

log = logging.getLogger("appyard.runner.code")


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    entries = []
    for path, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(files):
            if name.endswith((".py", ".json", ".txt", ".sql")):
                stat = os.stat(os.path.join(path, name))
                entries.append((os.path.join(path, name), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


class AppCode:
    """The loaded pages of one app."""

    def __init__(self, root: Path, app: str, *, functions: bool = True) -> None:
        self.root = root.resolve()
        self.app = app
        self.functions = functions
        self.settings = AppRunnerSettings()
        self.pages: dict[str, execution.LoadedPage] = {}
        self.problems: dict[str, str] = {}
        self._fingerprint: tuple[tuple[str, int, int], ...] = ()
        self._checked = 0.0

    def load(self) -> None:
        """(Re)import every page of the app; pages that fail to load are remembered with the reason."""
        folder = self.root / self.app
        self._fingerprint = _fingerprint(folder)
        execution.unload(self.app)
        properties = read_properties(folder / PROPERTIES, AppProperties)
        self.settings = properties.runner
        pages: dict[str, execution.LoadedPage] = {}
        problems: dict[str, str] = {}
        for entry in properties.pages:
            try:
                page = load_page(self.app, folder / entry.name)
                pages[entry.name] = execution.load(page, self.root, functions=self.functions)
            except AppyardError as error:
                problems[entry.name] = str(error)
                log.warning("page %s/%s cannot run: %s", self.app, entry.name, error)
        self.pages, self.problems = pages, problems
        # Objects allocated so far are never collected again: children forked later share their memory pages
        # instead of copying them when the garbage collector would touch them.
        gc.collect()
        gc.freeze()
        log.info(
            "loaded app %s: %d pages%s", self.app, len(pages), f", {len(problems)} with problems" if problems else ""
        )

    def reload_if_changed(self, every: float = 0.5) -> bool:
        """Reload when any file of the app changed (checked at most every ``every`` seconds)."""
        now = time.monotonic()
        if now - self._checked < every:
            return False
        self._checked = now
        if _fingerprint(self.root / self.app) == self._fingerprint:
            return False
        log.info("files of app %s changed; reloading", self.app)
        gc.unfreeze()
        try:
            self.load()
        except AppyardError as error:
            log.error("reload of app %s failed, keeping the previous code: %s", self.app, error)
            gc.freeze()
            return False
        return True

    def page(self, name: str) -> execution.LoadedPage:
        if name in self.pages:
            return self.pages[name]
        if name in self.problems:
            raise NotFound(f"page {self.app}/{name} cannot run: {self.problems[name]}")
        raise NotFound(f"app {self.app!r} has no page {name!r} (pages: {', '.join(self.pages) or 'none'})")
