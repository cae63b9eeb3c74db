"""The plantings table: planned -> planted -> retired (or failed), one row per canary and target."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from canary.store.registry import get_system, now_iso
from canary.store.tx import write_transaction


def plan(db: sqlite_utils.Database, system: str, canary_ids: list[str], channel: str, target: str,
         options: dict[str, Any]) -> None:
    """Make sure every canary has a row for this target; refresh the options of rows still to do."""
    now = now_iso()
    text = json.dumps(options, sort_keys=True)
    with write_transaction(db):
        for canary_id in canary_ids:
            db.execute(
                "INSERT INTO plantings (canary_id, system, channel, target, state, options, planned_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'planned', ?, ?, ?) ON CONFLICT (canary_id, target) DO NOTHING",
                [canary_id, system, channel, target, text, now, now],
            )
        db.execute(
            "UPDATE plantings SET options = ?, updated_at = ? "
            "WHERE system = ? AND target = ? AND state IN ('planned', 'failed', 'planted')",
            [text, now, system, target],
        )


def forget_unreached_target(db: sqlite_utils.Database, system: str, target: str) -> int:
    """Drop the rows of a target that never took a single canary of ``system``; how many were dropped.

    A mistyped or dead target must not leave ``planned`` rows forever (they read as canaries waiting to
    be planted). Nothing is dropped once any row of this system and target was planted, retired, or
    may have been delivered (in flight): those rows are what the next run resumes from.
    """
    with write_transaction(db):
        reached = db.execute(
            "SELECT COUNT(*) FROM plantings WHERE system = ? AND target = ? "
            "AND (state IN ('planted', 'retired') OR in_flight = 1 OR planted_at IS NOT NULL)",
            [system, target]).fetchone()[0]
        if reached:
            return 0
        cursor = db.execute("DELETE FROM plantings WHERE system = ? AND target = ? AND state = 'planned'",
                            [system, target])
    return cursor.rowcount


def rows_to_do(db: sqlite_utils.Database, system: str, target: str) -> list[dict[str, Any]]:
    """Rows of active canaries not yet planted here (planned, or failed on an earlier run)."""
    return list(db.query(
        "SELECT p.* FROM plantings p JOIN canaries c ON c.id = p.canary_id "
        "WHERE p.system = ? AND p.target = ? AND p.state IN ('planned', 'failed') AND c.status = 'active' "
        "ORDER BY p.id", [system, target]))


def begin_attempt(db: sqlite_utils.Database, planting_id: int) -> None:
    """Committed before sending: a crash after this point leaves a row that says its outcome is unknown."""
    db.execute("UPDATE plantings SET attempts = attempts + 1, in_flight = 1, updated_at = ? WHERE id = ?",
               [now_iso(), planting_id])
    db.conn.commit()


def mark_planted(db: sqlite_utils.Database, planting_id: int, external_id: str | None,
                 resources: list[str] | None = None) -> None:
    now = now_iso()
    db.execute(
        "UPDATE plantings SET state = 'planted', external_id = ?, resources = ?, in_flight = 0, "
        "planted_at = COALESCE(planted_at, ?), error = NULL, updated_at = ? WHERE id = ?",
        [external_id, json.dumps(resources or []), now, now, planting_id],
    )
    db.conn.commit()


def mark_failed(db: sqlite_utils.Database, planting_id: int, error: str, *, delivered_maybe: bool,
                state: str = "failed") -> None:
    """Record an error. ``delivered_maybe`` keeps the in-flight flag: the peer may hold the record."""
    db.execute(
        "UPDATE plantings SET state = ?, error = ?, in_flight = CASE WHEN ? THEN 1 ELSE 0 END, updated_at = ? "
        "WHERE id = ?",
        [state, error[:2000], int(delivered_maybe), now_iso(), planting_id],
    )
    db.conn.commit()


def mark_retired(db: sqlite_utils.Database, planting_ids: list[int]) -> None:
    """Retire rows and retire a canary once none of its plantings is live anywhere."""
    if not planting_ids:
        return
    now = now_iso()
    with write_transaction(db):
        for planting_id in planting_ids:
            db.execute("UPDATE plantings SET state = 'retired', retired_at = ?, in_flight = 0, error = NULL, "
                       "updated_at = ? WHERE id = ?", [now, now, planting_id])
        marks = ",".join("?" * len(planting_ids))
        db.execute(
            f"UPDATE canaries SET status = 'retired' WHERE id IN "
            f"(SELECT canary_id FROM plantings WHERE id IN ({marks})) AND NOT EXISTS "
            f"(SELECT 1 FROM plantings q WHERE q.canary_id = canaries.id AND q.state != 'retired')",
            planting_ids,
        )


def record_retire_error(db: sqlite_utils.Database, planting_ids: list[int], error: str) -> None:
    with write_transaction(db):
        for planting_id in planting_ids:
            db.execute("UPDATE plantings SET error = ?, updated_at = ? WHERE id = ?",
                       [f"retire: {error}"[:2000], now_iso(), planting_id])


def list_plantings(db: sqlite_utils.Database, *, system: str | None = None, target: str | None = None,
                   states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    where, params = [], []
    if system is not None:
        get_system(db, system)
        where.append("p.system = ?")
        params.append(system)
    if target is not None:
        where.append("p.target = ?")
        params.append(target)
    if states:
        where.append(f"p.state IN ({','.join('?' * len(states))})")
        params.extend(states)
    sql = ("SELECT p.*, c.generation FROM plantings p JOIN canaries c ON c.id = p.canary_id"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY p.system, p.target, p.id")
    rows = []
    for row in db.query(sql, params):
        row["options"] = json.loads(row["options"])
        row["resources"] = json.loads(row["resources"])
        rows.append(row)
    return rows
