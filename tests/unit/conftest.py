"""Fixtures shared by the unit tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from appyard import execution

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Path]:
    """A copy of the lab workspace; its app's imported modules are forgotten afterwards."""
    target = tmp_path / "lab-workspace"
    shutil.copytree(FIXTURES / "lab", target, ignore=shutil.ignore_patterns("__pycache__"))
    yield target
    execution.unload("lab")
