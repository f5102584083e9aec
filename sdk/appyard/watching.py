"""Knowing when files under a folder change, without walking it: one watcher for the API, runner and devserver.

A :class:`Watcher` asks the kernel (inotify on Linux, through the ``watchfiles`` package's Rust ``notify``
binding) for changes under its folder, in a background thread, and counts them: :attr:`Watcher.generation`
goes up after each group of changes to files it cares about. A caller remembers the generation it last acted
on and compares, which costs nothing on a hot path (a request, a run)::

    watcher = Watcher(root, suffixes=(".json", ".py"))
    watcher.start()  # watching from here on: change after start() are never missed
    seen = watcher.generation
    ...
    if watcher.generation != seen:
        seen = watcher.generation  # read *before* rescanning: a change during the rescan bumps it again
        rescan()
    ...
    watcher.stop()

Changes are grouped for ``debounce_ms`` at most (an editor's save is several events); the thread looks for them
every ``step_ms``. Both are small by default so that a save is seen within a fraction of a second.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from watchfiles._rust_notify import RustNotify

log = logging.getLogger("appyard.watching")


def _relevant(path: Path, root: Path, suffixes: tuple[str, ...]) -> bool:
    # Hidden and dunder folders (.git, __pycache__, .appyard state) never change what is served or run.
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    if any(part.startswith((".", "__")) for part in parts):
        return False
    return not suffixes or path.name.endswith(suffixes) or path.suffix == ""  # "" : a folder added or removed


def _force_polling() -> bool:
    return os.environ.get("WATCHFILES_FORCE_POLLING", "").strip().lower() not in ("", "0", "false", "no")


class Watcher:
    """Counts the changes to files under ``root`` whose names end with one of ``suffixes`` (all files: empty).

    Start it with :meth:`start` and stop it with :meth:`stop` (the thread ends within ``step_ms``). A folder
    created or deleted counts as a change too (an app or page added or removed). ``on_change``, if given, is
    called from the watcher's thread after each group of changes (e.g. ``loop.call_soon_threadsafe(event.set)``);
    an exception it raises is logged and watching goes on.
    """

    def __init__(
        self,
        root: Path,
        suffixes: Iterable[str] = (),
        *,
        on_change: Callable[[], object] | None = None,
        debounce_ms: int = 50,
        step_ms: int = 10,
        name: str = "",
    ) -> None:
        self.root = root.resolve()
        self.suffixes = tuple(suffixes)
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.on_change = on_change  # called from the watcher's thread after the generation went up
        self.name = name or f"watch {self.root}"
        self._generation = 0
        self._changed: set[Path] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def generation(self) -> int:
        """How many groups of relevant changes were seen since :meth:`start` (0 before any)."""
        return self._generation

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def take(self) -> set[Path]:
        """The files (and folders) changed since the last call, forgetting them."""
        with self._lock:
            changed, self._changed = self._changed, set()
        return changed

    def start(self) -> None:
        """Begin watching; when this returns, every later change is seen. Raises OSError if ``root`` is missing."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already started")
        self._stop.clear()
        # Made here, not in the thread: the kernel watches exist once start() returns, so a caller that scans
        # after start() cannot miss a change made during or after its scan.
        # Folders where the kernel sends no events (network filesystems, some VM mounts): WATCHFILES_FORCE_POLLING=1
        # polls instead, as everywhere watchfiles is used.
        notify = RustNotify([str(self.root)], False, _force_polling(), 300, True, False)
        self._thread = threading.Thread(target=self._run, args=(notify,), name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and wait for the thread to end (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, notify: RustNotify) -> None:
        with notify:
            while not self._stop.is_set():
                try:
                    raw = notify.watch(self.debounce_ms, self.step_ms, 0, self._stop)
                except Exception:  # the kernel's watch failed (e.g. the folder was removed): say so, stop counting
                    log.exception("%s failed; changes are no longer seen", self.name)
                    return
                if isinstance(raw, str):  # "stop" (or "timeout"/"signal", which a background thread never gets)
                    continue
                changed = {Path(path) for _, path in raw}
                relevant = {path for path in changed if _relevant(path, self.root, self.suffixes)}
                if relevant:
                    with self._lock:
                        self._changed |= relevant
                        self._generation += 1
                    if self.on_change is not None:
                        try:
                            self.on_change()
                        except Exception:
                            log.exception("%s: reacting to a change failed", self.name)
