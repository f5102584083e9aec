"""Fixtures shared by every test tier."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .integration.oidc_issuer import Issuer

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "workspace"


@pytest.fixture
def workspace_copy(tmp_path: Path) -> Path:
    """A private copy of the sample workspace that a test may break or change."""
    target = tmp_path / "workspace"
    shutil.copytree(SAMPLES, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    """A real OpenID Connect issuer on loopback (the sign-in tests of the integration and browser tiers)."""
    server = Issuer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _isolated_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps keep their data (the orders SQLite file) in a per-test folder."""
    monkeypatch.setenv("APPYARD_DATA_DIR", str(tmp_path / "data"))


# What each tier costs, printed at the end of every run (docs/benchmarks.md records it for `make test`).
_TIER_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    parts = report.nodeid.split("/")
    tier = parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"
    _TIER_SECONDS[tier] = _TIER_SECONDS.get(tier, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _TIER_SECONDS:
        shown = ", ".join(f"{tier} {seconds:.0f} s" for tier, seconds in sorted(_TIER_SECONDS.items()))
        terminalreporter.write_line(f"time per tier (setup + test + teardown): {shown}")
