"""Database fixtures for the SQL tests: one real PostgreSQL per test session, and SQLite files.

Import the fixtures into a test module (pytest finds them by name)::

    from .databases import postgres, sqlite_url  # noqa: F401 — fixtures

``postgres`` is shared by every module of the session (starting one takes about a second): give each test its own
database (``postgres.url(unique_name)``) or its own tables, and never stop it in a test (start a private
``Postgres`` for that).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..postgres import Postgres


def start_postgres() -> Postgres:
    """A new private PostgreSQL server (the caller stops it; ``stop()`` removes its files).

    Its files are in a new folder directly under the system's temporary folder, not under pytest's ``tmp_path``:
    run as root, the tests start the server as the ``postgres`` user, which cannot enter pytest's folders (0700).
    """
    return Postgres.start(Path(tempfile.mkdtemp(prefix="appyard-pg-")))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server for the whole session (superuser ``appyard``, password auth over TCP)."""
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The SQLAlchemy URL of a new, empty SQLite file private to the test."""
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"
