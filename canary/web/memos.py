"""Canary memos and "last triggered": what the canaries list adds to each row for the people triaging."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from canary.errors import CanaryError, NotFound
from canary.store.events import utcnow
from canary.store.tx import write_transaction
from canary.web.audit import Actor, record

MAX_MEMO = 500  # characters: a line or two, not a case file


def set_memo(db: sqlite_utils.Database, actor: Actor, canary_id: str, memo: str) -> str | None:
    """Store (or, when blank, clear) the memo of ``canary_id``, audited; return what is stored."""
    # One line of printable text: line breaks and control characters would forge rows in exports and logs.
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in memo).split())
    if len(text) > MAX_MEMO:
        raise CanaryError(f"memo: at most {MAX_MEMO} characters ({len(text)} given)")
    if not db.execute("SELECT 1 FROM canaries WHERE id = ?", [canary_id]).fetchone():
        raise NotFound(f"unknown canary {canary_id!r}")
    with write_transaction(db):
        if text:
            db.execute("INSERT INTO canary_memos (canary_id, memo, updated_by, updated_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(canary_id) DO UPDATE SET memo = excluded.memo, updated_by = excluded.updated_by, "
                       "updated_at = excluded.updated_at", [canary_id, text, actor.name, utcnow()])
        else:
            db.execute("DELETE FROM canary_memos WHERE canary_id = ?", [canary_id])
        record(db, actor, "canary.memo", f"canary:{canary_id}", {"memo": text or None})
    return text or None


def memo_of(db: sqlite_utils.Database, canary_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT memo, updated_by, updated_at FROM canary_memos WHERE canary_id = ?", [canary_id]))
    return rows[0] if rows else None


def with_triage(db: sqlite_utils.Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with ``last_triggered`` (time of the canary's newest event, None if never) and ``memo``."""
    ids = [row["id"] for row in rows]
    if not ids:
        return rows
    marks = ", ".join("?" * len(ids))
    # One indexed look-up per canary of the page (events_canary), never a scan of the events.
    last = dict(db.execute(f"SELECT id, (SELECT MAX(time) FROM events WHERE canary_id = canaries.id) FROM canaries "
                           f"WHERE id IN ({marks})", ids).fetchall())
    memos = dict(db.execute(f"SELECT canary_id, memo FROM canary_memos WHERE canary_id IN ({marks})", ids).fetchall())
    return [{**row, "last_triggered": last.get(row["id"]), "memo": memos.get(row["id"])} for row in rows]
