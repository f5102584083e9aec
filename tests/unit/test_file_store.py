"""The local store's page versions: a version always names the properties served with it."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from appyard_api.adapters import store as store_module
from appyard_api.adapters.store import FileStore


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The store's monotonic clock, moved by the test (so "before the next recheck" is exact)."""
    now = [1000.0]
    monkeypatch.setattr(store_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    return now


def _relabel(page_dir: Path, label: str) -> None:
    path = page_dir / "properties.json"
    data = json.loads(path.read_text())
    data["blocks"][0]["label"] = label
    path.write_text(json.dumps(data, indent=2))


def test_a_version_changes_only_with_the_properties_it_is_served_with(workspace_copy: Path, clock: list[float]) -> None:
    store = FileStore(workspace_copy, recheck_seconds=0.5)
    before = store.page("ops", "clock")
    version = store.version(before)

    # Changed on disk, asked again before the store rechecks: the old properties, so the old version.
    _relabel(before.dir, "Changed elsewhere")
    clock[0] += 0.1
    cached = store.page("ops", "clock")
    assert cached.properties.blocks[0].label == before.properties.blocks[0].label
    assert store.version(cached) == version, "a new version with old properties hides the change from clients"

    # After the recheck: new properties and a new version together.
    clock[0] += 1
    after = store.page("ops", "clock")
    assert after.properties.blocks[0].label == "Changed elsewhere"
    assert store.version(after) != version
    assert store.version(before) != store.version(after), "a page of an older scan never passes for the new one"


def test_versions_are_per_page(workspace_copy: Path, clock: list[float]) -> None:
    store = FileStore(workspace_copy)
    clock_page, orders_page = store.page("ops", "clock"), store.page("orders", "orders")
    clock_version, orders_version = store.version(clock_page), store.version(orders_page)
    assert clock_version != orders_version

    _relabel(orders_page.dir, "Orders, changed")
    clock[0] += 1
    assert store.version(store.page("ops", "clock")) == clock_version, "another page's change"
    assert store.version(store.page("orders", "orders")) != orders_version
