"""Smart tables: a table whose fetcher is a `.sql` query pages, sorts, filters and saves edits in the database.

The runner's parent calls these on a connection inside one of the source's transactions::

    facts = learn(connection, script, bound, "shop")             # at `appyard gen`: written to database.json
    page = fetch_page(connection, "postgres", script, bound, facts, query, table.filters, max_rows)
    fetcher = (script, bound)                                    # edits stay within the rows the table shows
    conflict = update_cell(connection, facts, edit, fetcher=fetcher)  # None when saved
    key = insert_row(connection, facts, values, fetcher=fetcher)
    conflict = delete_row(connection, facts, key, fetcher=fetcher)

- :mod:`.inspection` — what the query returns and which base table and columns it reads.
- :mod:`.paging` — the page: the fetcher as a subquery, whitelisted names, bound values, keyset, capped count.
- :mod:`.edits` — optimistic, NULL-safe updates; inserts and deletes by primary key.
- :mod:`.cells` — the column whitelist and typed values; :class:`TableRequestInvalid` for requests the table
  cannot serve (an unknown column, a value that does not fit, an edit of a read-only column).
"""

from __future__ import annotations

from ..errors import TableRequestInvalid
from .cells import FetcherScript
from .edits import Fetcher, delete_row, insert_row, update_cell
from .inspection import learn
from .paging import COUNT_LIMIT, DeclaredFilter, TablePage, fetch_page

__all__ = [
    "COUNT_LIMIT",
    "DeclaredFilter",
    "Fetcher",
    "FetcherScript",
    "TablePage",
    "TableRequestInvalid",
    "delete_row",
    "fetch_page",
    "insert_row",
    "learn",
    "update_cell",
]
