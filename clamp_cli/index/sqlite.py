"""What the cache and the libraries share of SQLite: one write transaction, and batches of lookups."""

from __future__ import annotations

import sqlite3


class transaction:
    """`with transaction(db):` BEGIN IMMEDIATE (one writer at a time), COMMIT, or ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False


def chunks(items: list, size: int):
    """Slices of at most `size` (SQLite limits the parameters of one statement)."""
    for i in range(0, len(items), size):
        yield items[i:i + size]
