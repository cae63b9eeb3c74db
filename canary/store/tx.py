"""Transactions that must not interleave with other writers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlite_utils


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run a read-then-write block under ``BEGIN IMMEDIATE`` so no other writer interleaves.

    Inside it, sqlite-utils calls nest as savepoints; the whole block commits or rolls back at once.
    Nested use joins the outer transaction.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    db.conn.execute("COMMIT")
