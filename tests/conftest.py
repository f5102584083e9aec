"""Fixtures shared by every test tier."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "workspace"


@pytest.fixture
def workspace_copy(tmp_path: Path) -> Path:
    """A private copy of the sample workspace that a test may break or change."""
    target = tmp_path / "workspace"
    shutil.copytree(SAMPLES, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(autouse=True)
def _isolated_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps keep their data (the orders SQLite file) in a per-test folder."""
    monkeypatch.setenv("APPYARD_DATA_DIR", str(tmp_path / "data"))
