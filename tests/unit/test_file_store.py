"""The local store's page versions: a version always names the properties served with it.

The store rescans when its watcher saw files change; a version is made with its scan, never read from the disk
later, so a client holding a version never pairs it with other properties.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appyard_api.adapters.store import FileStore

from ..waiting import until


def _relabel(page_dir: Path, label: str) -> None:
    path = page_dir / "properties.json"
    data = json.loads(path.read_text())
    data["blocks"][0]["label"] = label
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture
def started(workspace_copy: Path) -> Iterator[FileStore]:
    """A store watching its folder, as the API runs it (start and stop as in the API's lifespan)."""
    store = FileStore(workspace_copy)
    asyncio.run(store.start())
    yield store
    asyncio.run(store.stop())


def test_a_version_changes_only_with_the_properties_it_is_served_with(workspace_copy: Path) -> None:
    store = FileStore(workspace_copy)
    before = store.page("ops", "clock")
    version = store.version(before)

    # Changed on disk before the store knows (its watcher is not started yet): the old properties, the old version.
    _relabel(before.dir, "Changed elsewhere")
    cached = store.page("ops", "clock")
    assert cached.properties.blocks[0].label == before.properties.blocks[0].label
    assert store.version(cached) == version, "a new version with old properties hides the change from clients"

    # Started, the store rescans and then follows the watcher: new properties and a new version together.
    asyncio.run(store.start())
    try:
        after = store.page("ops", "clock")
        assert after.properties.blocks[0].label == "Changed elsewhere"
        assert store.version(after) != version
        assert store.version(before) != store.version(after), "a page of an older scan never passes for the new one"

        # Changed again while watched: at every moment, the label served and its version move together.
        served: set[tuple[str | None, str]] = {(after.properties.blocks[0].label, store.version(after))}

        def moved() -> bool:
            page = store.page("ops", "clock")
            label, current = page.properties.blocks[0].label, store.version(page)
            served.add((label, current))
            return label == "Changed again"

        _relabel(before.dir, "Changed again")
        until(moved, "the store to serve the new label")
        versions_of = {label: {v for known, v in served if known == label} for label, _ in served}
        assert all(len(versions) == 1 for versions in versions_of.values()), f"one version per label: {served}"
        assert len({v for _, v in served}) == 2, f"two labels, two versions: {served}"
    finally:
        asyncio.run(store.stop())


def test_versions_are_per_page(started: FileStore) -> None:
    store = started
    clock_page, orders_page = store.page("ops", "clock"), store.page("orders", "orders")
    clock_version, orders_version = store.version(clock_page), store.version(orders_page)
    assert clock_version != orders_version

    _relabel(orders_page.dir, "Orders, changed")
    until(lambda: store.version(store.page("orders", "orders")) != orders_version, "the orders page's new version")
    assert store.page("orders", "orders").properties.blocks[0].label == "Orders, changed"
    assert store.version(store.page("ops", "clock")) == clock_version, "another page's change"


def test_a_store_without_a_watcher_serves_its_scan_until_it_writes(workspace_copy: Path) -> None:
    """Cluster mode's store (no watcher): files change only through the store, which then rescans."""
    store = FileStore(workspace_copy, watch=False)
    asyncio.run(store.start())
    try:
        page = store.page("ops", "clock")
        _relabel(page.dir, "Changed elsewhere")
        time.sleep(0.2)  # longer than a watcher's debounce: a watching store would have rescanned by now
        assert store.page("ops", "clock") is page
        store.create_page("ops", "extra", None)  # a write through the store: it rescans
        assert store.page("ops", "clock").properties.blocks[0].label == "Changed elsewhere"
    finally:
        asyncio.run(store.stop())
