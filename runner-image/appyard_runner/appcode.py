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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from appyard import execution, generated
from appyard.errors import AppyardError, NotFound
from appyard.properties import AppProperties
from appyard.properties import RunnerSettings as AppRunnerSettings
from appyard.workspace import PROPERTIES, Page, load_page, read_properties

if TYPE_CHECKING:
    from appyard.watching import Watcher

log = logging.getLogger("appyard.runner.code")


# The files of an app that its code is made of (a change to any other file needs no reload).
_CODE = (".py", ".json", ".txt", ".sql")


class AppCode:
    """The loaded pages of one app."""

    def __init__(self, root: Path, app: str, *, functions: bool = True) -> None:
        self.root = root.resolve()
        self.app = app
        self.functions = functions
        self.settings = AppRunnerSettings()
        self.data_sources: list[str] = []  # the workspace's data sources the app uses; the first is the default
        self.pages: dict[str, execution.LoadedPage] = {}
        self.problems: dict[str, str] = {}
        self._watcher: Watcher | None = None
        self._generation = 0  # the watcher's generation the loaded code was read after

    def watch(self, on_change: Callable[[], object] | None = None) -> None:
        """Watch the app's files (dev) so :meth:`reload_if_changed` knows; ``on_change`` is called from the
        watcher's thread after each group of changes. Start it before :meth:`load`: no change is then missed."""
        from appyard.watching import Watcher  # watchfiles and anyio: not in the zygote, which never watches

        self._watcher = Watcher(self.root / self.app, _CODE, on_change=on_change, name=f"appyard-runner {self.app}")
        self._watcher.start()

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def load(self) -> None:
        """(Re)import every page of the app; pages that fail to load are remembered with the reason."""
        folder = self.root / self.app
        # Read before the files: a change made while they are read bumps the generation again, so it reloads.
        self._generation = self._watcher.generation if self._watcher is not None else 0
        execution.unload(self.app)
        properties = read_properties(folder / PROPERTIES, AppProperties)
        self.settings = properties.runner
        self.data_sources = list(properties.data_sources)
        pages: dict[str, execution.LoadedPage] = {}
        problems: dict[str, str] = {}
        read: dict[str, Page] = {}
        for entry in properties.pages:
            try:
                read[entry.name] = load_page(self.app, folder / entry.name)
            except AppyardError as error:
                problems[entry.name] = str(error)
        if self.functions:  # the zygote: children forked from it would copy the generator's memory
            generated.generate_apart((page.properties, page.database) for page in read.values())
        for name, page in read.items():
            try:
                pages[name] = execution.load(page, self.root, functions=self.functions)
            except AppyardError as error:
                problems[name] = str(error)
        problems = {entry.name: problems[entry.name] for entry in properties.pages if entry.name in problems}
        for name, problem in problems.items():
            log.warning("page %s/%s cannot run: %s", self.app, name, problem)
        self.pages, self.problems = pages, problems
        # Objects allocated so far are never collected again: children forked later share their memory pages
        # instead of copying them when the garbage collector would touch them.
        gc.collect()
        gc.freeze()
        log.info(
            "loaded app %s: %d pages%s", self.app, len(pages), f", {len(problems)} with problems" if problems else ""
        )

    def reload_if_changed(self) -> bool:
        """Reload when the watcher (see :meth:`watch`) saw a file of the app change since the code was loaded."""
        if self._watcher is None or self._watcher.generation == self._generation:
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
