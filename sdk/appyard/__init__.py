"""Appyard: internal tools as Python functions behind declared pages.

What user scripts import::

    from appyard import to_table_data, data_dir

and what the generated ``state.py``/``context.py`` of each page derive from (:mod:`appyard.bases`). The
catalog (:mod:`appyard.catalog`), validation, code generation and the CLI live in submodules and are not
imported here, so a script's ``import appyard`` stays cheap.
"""

from __future__ import annotations

from .bases import *  # noqa: F403 — the bases are the public surface of generated models
from .bases import __all__ as _bases
from .datadir import data_dir
from .progress import report_progress
from .tables import Row, TableDataError, to_json_value, to_table_data

__version__ = "0.1.0"

__all__ = [  # noqa: PLE0604
    *_bases,
    "Row",
    "TableDataError",
    "data_dir",
    "report_progress",
    "to_json_value",
    "to_table_data",
]
