"""Appyard: internal tools as Python functions behind declared pages.

What user scripts import::

    from appyard import to_table_data, data_dir, db

and what the generated ``state.py``/``context.py`` of each page derive from (:mod:`appyard.bases`). The
catalog (:mod:`appyard.catalog`), validation, code generation and the CLI live in submodules and are not
imported here, so a script's ``import appyard`` stays cheap.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from .bases import *  # noqa: F403 — the bases are the public surface of generated models
from .bases import __all__ as _bases
from .datadir import data_dir
from .progress import report_progress
from .tables import Row, TableDataError, to_json_value, to_table_data

if TYPE_CHECKING:
    from sqlalchemy import Connection

__version__ = "0.1.0"


def db(name: str) -> AbstractContextManager[Connection]:
    """A connection of the data source ``name`` in a transaction: committed when the block ends, rolled back on error.

    ::

        from sqlalchemy import text
        with appyard.db("shop") as connection:
            rows = connection.execute(text("SELECT id, name FROM customers WHERE id = :id"), {"id": 7}).all()

    Connections come from a pool kept by the process; the source's statement timeout applies. An undeclared name
    (not in the app's ``data_sources``) raises an error listing the declared ones.
    """
    from .sql.sources import db as _db  # SQLAlchemy is imported on first use, so `import appyard` stays cheap

    return _db(name)


__all__ = [  # noqa: PLE0604
    *_bases,
    "Row",
    "TableDataError",
    "data_dir",
    "db",
    "report_progress",
    "to_json_value",
    "to_table_data",
]
