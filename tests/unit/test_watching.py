"""The shared file watcher: a change to a watched file is seen, others are not, and stopping ends its thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appyard import watching as watching_module
from appyard.watching import Watcher

from ..waiting import until


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[Watcher]:
    (tmp_path / "app" / "page").mkdir(parents=True)
    (tmp_path / "app" / "page" / "properties.json").write_text("{}")
    watcher = Watcher(tmp_path, (".json", ".py"))
    watcher.start()
    yield watcher
    watcher.stop()


def test_a_change_to_a_watched_file_is_seen(watcher: Watcher, tmp_path: Path) -> None:
    assert watcher.generation == 0
    changed = tmp_path / "app" / "page" / "properties.json"
    changed.write_text('{"label": "new"}')
    until(lambda: watcher.generation > 0, "the change")
    assert changed in watcher.take()
    assert watcher.take() == set(), "take() forgets what it returned"


def test_a_new_file_in_a_new_folder_is_seen(watcher: Watcher, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    until(lambda: watcher.generation > 0, "the new folder")
    seen = watcher.generation
    (tmp_path / "other" / "script.py").write_text("x = 1\n")
    until(lambda: watcher.generation > seen, "the file in the new folder")
    assert tmp_path / "other" / "script.py" in watcher.take()


def test_changes_it_does_not_care_about_are_not_counted(watcher: Watcher, tmp_path: Path) -> None:
    (tmp_path / "app" / "notes.md").write_text("ignored")  # not a watched suffix
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.json").write_text("{}")  # inside a hidden folder
    (tmp_path / "app" / "flag.json").write_text("{}")  # counted: the marker that the others were looked at
    until(lambda: watcher.generation > 0, "the watched file")
    assert watcher.take() == {tmp_path / "app" / "flag.json"}


def test_on_change_is_called_after_the_generation_went_up(tmp_path: Path) -> None:
    called = threading.Event()
    generations: list[int] = []

    def on_change() -> None:
        generations.append(watching.generation)
        called.set()

    watching = Watcher(tmp_path, (".py",), on_change=on_change)
    watching.start()
    try:
        (tmp_path / "script.py").write_text("x = 1\n")
        assert called.wait(10), "on_change was not called"
        assert generations[0] >= 1
    finally:
        watching.stop()


def test_stop_ends_the_thread_and_changes_are_no_longer_counted(watcher: Watcher, tmp_path: Path) -> None:
    threads = {thread.name for thread in threading.enumerate()}
    assert watcher.name in threads
    watcher.stop()
    assert not watcher.running
    assert watcher.name not in {thread.name for thread in threading.enumerate()}
    (tmp_path / "app" / "page" / "properties.json").write_text('{"after": "stop"}')
    time.sleep(0.2)  # longer than the watcher's debounce: a running watcher would have counted it
    assert watcher.generation == 0
    watcher.stop()  # stopping twice is harmless


def test_a_missing_folder_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Watcher(tmp_path / "missing").start()


def test_polling_is_there_for_folders_without_kernel_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # WATCHFILES_FORCE_POLLING, as watchfiles reads it: for network filesystems and VM mounts that send no events.
    for value, polls in (("", False), ("0", False), ("false", False), ("1", True), ("yes", True)):
        monkeypatch.setenv("WATCHFILES_FORCE_POLLING", value)
        assert watching_module._force_polling() is polls, value
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "1")
    (tmp_path / "properties.json").write_text("{}")
    watcher = Watcher(tmp_path, (".json",))
    watcher.start()
    try:
        # A poller lists the folder in its own time after start(): change the file until a poll sees it.
        written = 0

        def seen() -> bool:
            nonlocal written
            written += 1
            (tmp_path / "properties.json").write_text(f'{{"label": "polled {written}"}}')
            time.sleep(0.1)
            return watcher.generation > 0

        until(seen, "the polled change")
        assert tmp_path / "properties.json" in watcher.take()
    finally:
        watcher.stop()
