"""Where each watched audit trail stopped, and what went wrong with it: what the running services write.

Kept apart from ``sources`` (adding and listing trails, which knows every kind of endpoint) so the
services of each kind can write their state without importing the kinds that sit above them.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from canary.store.registry import now_iso


def source_exists(db: sqlite_utils.Database, name: str) -> bool:
    return db.execute("SELECT 1 FROM accesslog_sources WHERE name = ?", [name]).fetchone() is not None


# --- positions -----------------------------------------------------------------------------------

def get_position(db: sqlite_utils.Database, source: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM accesslog_positions WHERE source = ?", [source]))
    return rows[0] if rows else None


def save_position(db: sqlite_utils.Database, source: str, *, path: str | None = None, inode: int | None = None,
                  device: int | None = None, offset: int = 0, cursor: str | None = None) -> None:
    db.execute(
        """INSERT INTO accesslog_positions (source, path, inode, device, offset, cursor, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(source) DO UPDATE SET path = excluded.path, inode = excluded.inode,
               device = excluded.device, offset = excluded.offset, cursor = excluded.cursor,
               updated_at = excluded.updated_at""",
        [source, path, inode, device, offset, cursor, now_iso()],
    )


def record_error(db: sqlite_utils.Database, source: str, message: str) -> None:
    """Note a source-level failure (unreachable server, unreadable file) for ``canary logs list``."""
    db.execute("UPDATE accesslog_sources SET last_error = ?, last_error_at = ? WHERE name = ?",
               [message[:300], now_iso(), source])


def clear_error(db: sqlite_utils.Database, source: str) -> None:
    db.execute("UPDATE accesslog_sources SET last_error = NULL WHERE name = ? AND last_error IS NOT NULL",
               [source])
