"""The trickle tables: planned arrival times of canaries at a target, claimed one at a time when due.

``plant_trickles`` holds one row per trickle (system, target, the target's options, and for a rotation the
generations to retire once the new one is in); ``plant_schedule`` one row per canary: ``scheduled`` ->
``claimed`` (a runner took it, in a transaction) -> ``planted``, ``failed`` or ``skipped`` (the canary was
retired meanwhile).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from canary.store.registry import now_iso
from canary.store.tx import write_transaction

PENDING = ("scheduled", "claimed")
ITEM_STATES = ("scheduled", "claimed", "planted", "failed", "skipped")


def iso(moment: datetime) -> str:
    """Stored times: UTC, whole seconds, ``Z`` (compared as text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pending_canaries(db: sqlite_utils.Database, system: str, target: str) -> set[str]:
    """Canaries a trickle still has to bring to ``target``: a plain ``plant`` leaves them to it."""
    rows = db.execute(
        "SELECT s.canary_id FROM plant_schedule s JOIN plant_trickles t ON t.id = s.trickle_id "
        "WHERE t.system = ? AND t.target = ? AND s.state IN ('scheduled', 'claimed')", [system, target]).fetchall()
    return {row[0] for row in rows}


def running_trickles(db: sqlite_utils.Database, system: str, target: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM plant_trickles WHERE system = ? AND state = 'running'"
    params: list[Any] = [system]
    if target is not None:
        sql += " AND target = ?"
        params.append(target)
    return list(db.query(sql + " ORDER BY id", params))


def create(db: sqlite_utils.Database, system: str, channel: str, target: str, options: dict[str, Any],
           over_seconds: int, arrivals: list[tuple[str, datetime]], *, retire_before: int | None = None) -> int:
    """Store a trickle and its arrivals in one transaction; its id."""
    now = now_iso()
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO plant_trickles (system, channel, target, options, over_seconds, retire_before, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [system, channel, target, json.dumps(options, sort_keys=True), over_seconds, retire_before, now])
        trickle_id = int(cursor.lastrowid or 0)
        for canary_id, due in arrivals:
            db.execute("INSERT INTO plant_schedule (trickle_id, canary_id, due_at) VALUES (?, ?, ?)",
                       [trickle_id, canary_id, iso(due)])
    return trickle_id


def release_claims(db: sqlite_utils.Database) -> int:
    """Put back what a runner claimed and never finished (it died): the lifecycle of each planting says
    whether the record may already be there, so planting it again never creates it twice."""
    with write_transaction(db):
        cursor = db.execute("UPDATE plant_schedule SET state = 'scheduled', claimed_at = NULL WHERE state = 'claimed'")
    return cursor.rowcount


def claim_next(db: sqlite_utils.Database, now: datetime, *, skip_targets: set[str]) -> dict[str, Any] | None:
    """Take the earliest due arrival (not at ``skip_targets``), in one transaction: no other runner gets it."""
    marks = ",".join("?" * len(skip_targets))
    skip = f" AND t.target NOT IN ({marks})" if skip_targets else ""
    with write_transaction(db):
        row = db.execute(
            "SELECT s.id, s.trickle_id, s.canary_id, s.due_at, t.system, t.target, t.options "
            "FROM plant_schedule s JOIN plant_trickles t ON t.id = s.trickle_id "
            f"WHERE s.state = 'scheduled' AND s.due_at <= ?{skip} ORDER BY s.due_at, s.id LIMIT 1",
            [iso(now), *sorted(skip_targets)]).fetchone()
        if row is None:
            return None
        db.execute("UPDATE plant_schedule SET state = 'claimed', claimed_at = ? WHERE id = ? AND state = 'scheduled'",
                   [now_iso(), row[0]])
    keys = ("id", "trickle_id", "canary_id", "due_at", "system", "target", "options")
    item = dict(zip(keys, row, strict=True))
    item["options"] = json.loads(item["options"])
    return item


def finish(db: sqlite_utils.Database, item_id: int, state: str, error: str | None = None) -> None:
    """``planted``, ``failed`` or ``skipped``; or ``scheduled`` to try again at the next check."""
    with write_transaction(db):
        db.execute("UPDATE plant_schedule SET state = ?, error = ?, claimed_at = NULL, "
                   "done_at = CASE WHEN ? = 'scheduled' THEN NULL ELSE ? END WHERE id = ?",
                   [state, (error or None) and error[:2000], state, now_iso(), item_id])


def finished_trickles(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Running trickles with no arrival left to plant: what remains is their ending (a rotation's retire)."""
    return list(db.query(
        "SELECT * FROM plant_trickles t WHERE t.state = 'running' AND NOT EXISTS (SELECT 1 FROM plant_schedule s "
        "WHERE s.trickle_id = t.id AND s.state IN ('scheduled', 'claimed')) ORDER BY t.id"))


def mark_done(db: sqlite_utils.Database, trickle_id: int, outcome: str) -> None:
    with write_transaction(db):
        db.execute("UPDATE plant_trickles SET state = 'done', finished_at = ?, outcome = ? WHERE id = ? "
                   "AND state = 'running'", [now_iso(), outcome[:2000], trickle_id])


def next_due(db: sqlite_utils.Database) -> str | None:
    row = db.execute("SELECT MIN(due_at) FROM plant_schedule WHERE state = 'scheduled'").fetchone()
    return row[0] if row else None


def all_planted(db: sqlite_utils.Database, trickle_id: int) -> bool:
    return not db.execute("SELECT 1 FROM plant_schedule WHERE trickle_id = ? AND state != 'planted' LIMIT 1",
                          [trickle_id]).fetchone()


def items(db: sqlite_utils.Database, trickle_id: int) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM plant_schedule WHERE trickle_id = ? ORDER BY due_at, id", [trickle_id]))


SCHEDULE_KEYS = ("id", "system", "channel", "target", "state", "over_seconds", "scheduled", "claimed", "planted",
                 "failed", "skipped", "first_at", "next_at", "last_at", "retire_before", "outcome", "created_at",
                 "finished_at")


def status(db: sqlite_utils.Database, system: str | None = None) -> list[dict[str, Any]]:
    """One line per trickle: counts by state and the next arrival (``canary plants --schedule``)."""
    where, params = ("WHERE t.system = ?", [system]) if system else ("", [])
    out = []
    for trickle in db.query(f"SELECT * FROM plant_trickles t {where} ORDER BY t.id", params):
        counts = dict.fromkeys(ITEM_STATES, 0)
        for state, count in db.execute("SELECT state, COUNT(*) FROM plant_schedule WHERE trickle_id = ? "
                                       "GROUP BY state", [trickle["id"]]).fetchall():
            counts[state] = count
        first, last = db.execute("SELECT MIN(due_at), MAX(due_at) FROM plant_schedule WHERE trickle_id = ?",
                                 [trickle["id"]]).fetchone()
        upcoming = db.execute("SELECT MIN(due_at) FROM plant_schedule WHERE trickle_id = ? AND state = 'scheduled'",
                              [trickle["id"]]).fetchone()[0]
        out.append({**{k: trickle.get(k) for k in SCHEDULE_KEYS}, **counts, "first_at": first, "next_at": upcoming,
                    "last_at": last})
    return out
