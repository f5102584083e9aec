"""The orders app's data: a SQLite database created from seed.json on first use.

Scripts of every page import it relatively (``from ... import db``), so no script names the app.
The database lives in the app's data folder (``appyard.data_dir``), not in the repository.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appyard import data_dir

SEED = Path(__file__).with_name("seed.json")

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    city TEXT NOT NULL,
    vip INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    product TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price REAL NOT NULL,
    status TEXT NOT NULL,
    placed_at TEXT NOT NULL,
    ship_by TEXT,
    notes TEXT NOT NULL DEFAULT ''
);
"""

STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled")


def database_path() -> Path:
    """Where the database file is (created on first use)."""
    return data_dir("orders") / "orders.sqlite3"


def _seed(connection: sqlite3.Connection) -> None:
    data = json.loads(SEED.read_text(encoding="utf-8"))
    connection.executemany(
        "INSERT OR IGNORE INTO customers (id, name, email, city, vip) VALUES (:id, :name, :email, :city, :vip)",
        data["customers"],
    )
    connection.executemany(
        "INSERT OR IGNORE INTO orders (id, customer_id, product, quantity, unit_price, status, placed_at, notes) "
        "VALUES (:id, :customer_id, :product, :quantity, :unit_price, :status, :placed_at, :notes)",
        data["orders"],
    )


@contextmanager
def connect() -> Iterator[sqlite3.Connection]:
    """A connection in a transaction: committed when the block succeeds, rolled back when it raises."""
    connection = sqlite3.connect(database_path(), timeout=10)
    connection.row_factory = sqlite3.Row
    try:
        with connection:
            connection.executescript(SCHEMA)
            if connection.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == 0:
                _seed(connection)
        with connection:
            yield connection
    finally:
        connection.close()
