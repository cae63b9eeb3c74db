"""When a registry was restored from a backup, and of when that backup was: a restore loses what came
after the backup, and ids handed out then (alerts, events) are handed out again. Whoever derives
outside identifiers from those ids (the alerts' idempotency keys) adds the restore generation.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlite_utils

from canary.store.events import utcnow


def stamp_backup(conn: sqlite3.Connection) -> str:
    """Write into a backup image (never the live registry) when it was taken."""
    taken_at = utcnow()
    conn.execute("INSERT INTO backup_taken (id, taken_at) VALUES (1, ?) "
                 "ON CONFLICT(id) DO UPDATE SET taken_at = excluded.taken_at", [taken_at])
    return taken_at


def record_restore(db: sqlite_utils.Database, backup_file: str) -> dict[str, Any]:
    """After a restore: a new generation, with the backup's time (None for a backup that did not say)."""
    row = db.execute("SELECT taken_at FROM backup_taken WHERE id = 1").fetchone()
    with db.conn:
        db.execute("INSERT INTO restores (backup_taken_at, restored_at, backup_file) VALUES (?, ?, ?)",
                   [row[0] if row else None, utcnow(), backup_file])
    restore = last_restore(db)
    assert restore is not None
    return restore


def last_restore(db: sqlite_utils.Database) -> dict[str, Any] | None:
    row = db.execute("SELECT generation, backup_taken_at, restored_at, backup_file FROM restores "
                     "ORDER BY generation DESC LIMIT 1").fetchone()
    if row is None:
        return None
    return {"generation": row[0], "backup_taken_at": row[1], "restored_at": row[2], "backup_file": row[3]}


def restore_generation(db: sqlite_utils.Database) -> int:
    row = db.execute("SELECT MAX(generation) FROM restores").fetchone()
    return int(row[0] or 0)


def restore_notice(restore: dict[str, Any]) -> str:
    """The one line an operator must read after a restore."""
    taken = restore["backup_taken_at"] or "an unknown time (the backup does not say)"
    return f"restored from a backup of {taken}; events and alerts after it are gone"
