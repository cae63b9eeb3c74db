"""Alerts as the operator sees them: the JSON view, listing, and the open -> acknowledged -> resolved lifecycle."""

from __future__ import annotations

import json
from typing import Any, cast

import sqlite_utils

from canary.alert.notices import WHO_WHEN, queue_notices
from canary.alert.shapes import Alert, AlertFields, AlertRow, HistoryEntry
from canary.alert.text import clean_fields, render
from canary.errors import CanaryError, NotFound
from canary.store.events import utcnow
from canary.store.tx import write_transaction
from canary.timezones import Zone, display_zone

_JSON_COLUMNS = ("systems", "canaries", "channels", "window", "paged", "by_system", "establishments", "accounts",
                 "account_systems", "sources")


def alert_rows(db: sqlite_utils.Database, sql: str, params: list[Any] | None = None) -> list[AlertRow]:
    """Rows of ``alerts`` selected whole (``SELECT * FROM alerts ...``)."""
    return [cast(AlertRow, row) for row in db.query(sql, params or [])]  # the table's columns are AlertRow's


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for column in _JSON_COLUMNS:
        value = row.get(column)
        row[column] = json.loads(value) if isinstance(value, str) and value else (value or None)
    return row


def alert_view(row: dict[str, Any], zone: Zone | None = None) -> Alert:
    """The public shape of an alert: ``canary alerts --json`` items and what webhooks receive.

    ``zone`` is where the texts' times are written (``display_zone(db)``); the fields stay UTC."""
    return alert_of(cast(AlertRow, row), zone)


def alert_of(stored: AlertRow, zone: Zone | None = None) -> Alert:
    """The alert of an ``alerts`` row (``alert_view``, typed)."""
    row = _decode(dict(stored))
    fields: AlertFields = {
        "id": row["id"],
        "key": row["key"],
        "state": row["state"],
        "severity": row["severity"],
        "channel": row["channel"],
        "channels": row.get("channels") or [row["channel"]],
        "systems": row["systems"] or [],
        "canaries": row["canaries"] or [],
        "count": row["count"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "window": row["window"],
        "by_system": [
            {"system": name, "establishment": detail.get("establishment"), "kind": detail.get("kind"),
             "canaries": detail.get("canaries", 0), "events": detail.get("events", 0)}
            for name, detail in sorted((row["by_system"] or {}).items())
        ],
        "establishments": row["establishments"] or [],
        "accounts": row["accounts"] or [],
        "account_systems": row["account_systems"] or [],
        "sources": row["sources"] or [],
        "exfiltration": bool(row["exfiltration"]),
        "seen_again": row.get("seen_again") or 0,
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "acked_by": row["acked_by"],
        "acked_at": row["acked_at"],
        "resolved_by": row["resolved_by"],
        "resolved_at": row["resolved_at"],
        "note": row["note"],
    }
    # Fields that peers wrote (accounts, sources...) lose their control characters before any text is built.
    fields = clean_fields(fields)
    # Optional keys (test, history) are added by the callers that have them.
    return cast(Alert, {**fields, **(render(fields, zone) if zone else render(fields))})


def get_alert(db: sqlite_utils.Database, alert_id: int) -> Alert:
    rows = alert_rows(db, "SELECT * FROM alerts WHERE id = ?", [alert_id])
    if not rows:
        raise NotFound(f"unknown alert {alert_id}; see 'canary alerts'")
    return alert_of(rows[0], display_zone(db))


def alert_history(db: sqlite_utils.Database, alert_id: int) -> list[HistoryEntry]:
    """The alert's timeline, oldest first: every note, acknowledgement, resolution and reopening."""
    return [cast(HistoryEntry, row) for row in db.query(
        "SELECT at, by, action, from_state, to_state, note FROM alert_history WHERE alert_id = ? ORDER BY id",
        [alert_id])]


def with_history(db: sqlite_utils.Database, alerts: list[Alert]) -> list[Alert]:
    """The alerts with their timelines (``history``), as listings for people show them."""
    timelines: dict[int, list[HistoryEntry]] = {alert["id"]: [] for alert in alerts}
    if timelines:
        for row in db.query(
                "SELECT alert_id, at, by, action, from_state, to_state, note FROM alert_history "
                f"WHERE alert_id IN ({', '.join('?' for _ in timelines)}) ORDER BY id", list(timelines)):
            alert_id = row.pop("alert_id")
            timelines[alert_id].append(cast(HistoryEntry, row))
    return [{**alert, "history": timelines[alert["id"]]} for alert in alerts]


def add_note(db: sqlite_utils.Database, alert_id: int, by: str, note: str) -> Alert:
    """Add a note to the alert's timeline (its state does not change). The alert now."""
    if not note.strip():
        raise CanaryError("an empty note: say what was done or found")
    with write_transaction(db):
        state = _state(db, alert_id)
        now = utcnow()
        db.execute("UPDATE alerts SET note = ?, updated_at = ? WHERE id = ?", [note, now, alert_id])
        _record(db, alert_id, now, by, "note", state, state, note)
        return get_alert(db, alert_id)


def reopen(db: sqlite_utils.Database, alert_id: int, by: str, note: str | None = None) -> Alert:
    """A resolved alert was closed too early: resolved -> open. Later events with its key join it again."""
    with write_transaction(db):
        state = _state(db, alert_id)
        if state != "resolved":
            raise CanaryError(f"alert {alert_id} is {state}: only a resolved alert can be reopened")
        # Another alert may have opened with the same key since: two unresolved alerts with one key would
        # split the events, so the newer one must be resolved first.
        key = db.execute("SELECT key FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
        other = db.execute("SELECT id FROM alerts WHERE key = ? AND state != 'resolved' AND id != ?",
                           [key, alert_id]).fetchone()
        if other:
            raise CanaryError(f"alert {other[0]} is open with the same key: work that one, or resolve it first")
        now = utcnow()
        db.execute("UPDATE alerts SET state = 'open', resolved_by = NULL, resolved_at = NULL, "
                   "note = COALESCE(?, note), updated_at = ? WHERE id = ?",
                   [note, now, alert_id])
        _record(db, alert_id, now, by, "reopened", state, "open", note)
        return get_alert(db, alert_id)


def _record(db: sqlite_utils.Database, alert_id: int, at: str, by: str | None, action: str, from_state: str | None,
            to_state: str | None, note: str | None) -> None:
    db.execute("INSERT INTO alert_history (alert_id, at, by, action, from_state, to_state, note) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)", [alert_id, at, by, action, from_state, to_state, note])


def list_alerts(db: sqlite_utils.Database, *, open_only: bool = False, system: str | None = None,
                since: str | None = None) -> list[Alert]:
    """Alerts, newest first; ``open_only`` keeps those not resolved (open or acknowledged), ``system`` those
    naming it, ``since`` (UTC ISO) those seen at or after it (last sighting)."""
    where, params = [], []
    if open_only:
        where.append("state != 'resolved'")
    if system:
        where.append("EXISTS (SELECT 1 FROM json_each(alerts.systems) WHERE value = ?)")
        params.append(system)
    if since:
        where.append("last_seen >= ?")
        params.append(since)
    sql = "SELECT * FROM alerts" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
    zone = display_zone(db)
    return [alert_of(row, zone) for row in alert_rows(db, sql, params)]


def acknowledge(db: sqlite_utils.Database, alert_id: int, by: str, note: str | None = None) -> Alert:
    """Someone is on it: open -> acknowledged (an escalation still pages). The alert now."""
    return _transition(db, alert_id, "acknowledged", ("open",), by, note,
                       "only an open alert can be acknowledged")


def resolve(db: sqlite_utils.Database, alert_id: int, by: str, note: str | None = None) -> Alert:
    """Done: open or acknowledged -> resolved; later events with the same key open a new alert. The alert now."""
    return _transition(db, alert_id, "resolved", ("open", "acknowledged"), by, note, "it is already resolved")


def _transition(db: sqlite_utils.Database, alert_id: int, target: str, allowed: tuple[str, ...], by: str,
                note: str | None, refusal: str) -> Alert:
    who, when = WHO_WHEN[target]
    with write_transaction(db):
        state = _state(db, alert_id)
        if state not in allowed:
            raise CanaryError(f"alert {alert_id} is {state}: {refusal}")
        now = utcnow()
        db.execute(
            f"UPDATE alerts SET state = ?, {who} = ?, {when} = ?, note = COALESCE(?, note), updated_at = ? "
            "WHERE id = ?",
            [target, by, now, note, now, alert_id],
        )
        _record(db, alert_id, now, by, target, state, target, note)
        view = get_alert(db, alert_id)
        queue_notices(db, view, target, state)  # same transaction: the change and its notices, or neither
    return view


def _state(db: sqlite_utils.Database, alert_id: int) -> str:
    row = db.execute("SELECT state FROM alerts WHERE id = ?", [alert_id]).fetchone()
    if row is None:
        raise NotFound(f"unknown alert {alert_id}; see 'canary alerts'")
    return str(row[0])
