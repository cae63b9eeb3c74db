"""Schema migrations, applied once each, in order, and recorded in ``_migrations``.

The core tables live in :mod:`canary.store.schema`. Each domain that needs tables of its own declares
``MIGRATIONS`` in its ``schema`` module, with its place in the order, in :mod:`canary.domains`; names are prefixed
with the domain so they never clash. Migrations are only ever appended, never edited.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils

from canary.domains import MIGRATION_MODULES
from canary.store.tx import write_transaction

Migration = tuple[str, Callable[[sqlite_utils.Database], None]]


def all_migrations() -> list[Migration]:
    out: list[Migration] = []
    for module_name in MIGRATION_MODULES:
        module = importlib.import_module(module_name)
        out.extend(getattr(module, "MIGRATIONS", []))
    return out


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations; return the names applied."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for name, fn in all_migrations():
        if name in done:
            continue
        with write_transaction(db):
            # Another process may have applied it while we waited for the lock.
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", [name]).fetchone():
                continue
            fn(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                [name, datetime.now(UTC).isoformat(timespec="seconds")],
            )
        applied.append(name)
    return applied
