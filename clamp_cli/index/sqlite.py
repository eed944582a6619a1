"""What the cache and the libraries share of SQLite: one write transaction, and batches of lookups."""

from __future__ import annotations

import sqlite3


class transaction:
    """`with transaction(db):` BEGIN IMMEDIATE (one writer at a time), COMMIT, or ROLLBACK on any exception.

    A COMMIT that fails (a full disk) is rolled back too. SQLite rolls some failed statements back on its
    own (SQLITE_FULL, SQLITE_IOERR): then there is nothing left to roll back, and the error that caused it
    is the one raised, never "cannot rollback - no transaction is active".
    """

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
                return False
            except BaseException:
                rollback(self.db)
                raise
        rollback(self.db)
        return False


def rollback(db: sqlite3.Connection) -> None:
    """Roll back what is open, if anything; a rollback that fails itself (the disk gone) must not hide
    the error that led to it (SQLite then rolls back when the connection closes or next opens)."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def chunks(items: list, size: int):
    """Slices of at most `size` (SQLite limits the parameters of one statement)."""
    for i in range(0, len(items), size):
        yield items[i:i + size]
