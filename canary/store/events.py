"""Storing what a watcher saw. Every channel goes through ``record_event``."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.store.shapes import EventRow

log = logging.getLogger("canary.events")

SEVERITIES = ("info", "low", "medium", "high", "critical")
# Channels the watchers record on (docs/architecture.md); a filter naming another one is a typo.
CHANNELS = ("http", "dns", "smtp", "imap", "phone", "sms", "access-log", "leak", "notify")
EVENT_KEYS = ("id", "time", "recorded_at", "channel", "canary_id", "system", "source", "severity",
              "account", "action", "details")


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_event(
    db: sqlite_utils.Database,
    *,
    channel: str,
    canary_id: str | None = None,
    system: str | None = None,
    source: str | None = None,
    severity: str = "medium",
    account: str | None = None,
    action: str | None = None,
    details: dict[str, Any] | None = None,
    time: str | None = None,
    dedup_key: str | None = None,
) -> int | None:
    """Store one event and commit it before returning; return its id, or None for a repeated dedup_key.

    ``system`` is taken from the canary when not given, so a sighting always names where it leaked from.
    """
    if severity not in SEVERITIES:
        raise CanaryError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    if canary_id is not None and system is None:
        row = db.execute("SELECT system FROM canaries WHERE id = ?", [canary_id]).fetchone()
        if row is None:
            raise CanaryError(f"event names unknown canary {canary_id!r}")
        system = row[0]
    now = utcnow()
    cursor = db.execute(
        """INSERT INTO events (time, recorded_at, channel, canary_id, system, source, severity,
                               account, action, details, dedup_key)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(dedup_key) DO NOTHING""",
        [time or now, now, channel, canary_id, system, source, severity, account, action,
         json.dumps(details or {}, ensure_ascii=False, sort_keys=True), dedup_key],
    )
    if cursor.rowcount == 0:
        return None
    event_id = int(cursor.lastrowid) if cursor.lastrowid is not None else None
    # Values a thief controls (source, account) are quoted: a newline in them cannot forge a log line.
    log.info("hit recorded: event #%s %s on canary %s (system %s), %s, from %r%s", event_id, channel,
             canary_id or "-", system or "-", severity, source, f", account {account!r}" if account else "")
    return event_id


def list_events(
    db: sqlite_utils.Database,
    *,
    system: str | None = None,
    since: str | None = None,
    channel: str | None = None,
    canary_id: str | None = None,
    limit: int | None = None,
    newest_first: bool = False,
    before: int | None = None,
) -> list[EventRow]:
    """Events, oldest first (or ``newest_first``), as plain dicts with ``details`` decoded.

    ``limit`` keeps the newest ones (read from the end of the table: the console's pages, ``events
    --limit``); ``before`` (an event id) gives the next page of a newest-first listing.
    """
    where: list[str] = []
    params: list[Any] = []
    if canary_id:
        where.append("canary_id = ?")
        params.append(canary_id)
    if before is not None:
        where.append("id < ?")
        params.append(before)
    if system:
        where.append("system = ?")
        params.append(system)
    if since:
        where.append("time >= ?")
        params.append(since)
    if channel:
        where.append("channel = ?")
        params.append(channel)
    sql = f"SELECT {', '.join(EVENT_KEYS)} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC" if newest_first or limit else " ORDER BY id"
    if limit:
        sql += f" LIMIT {int(limit)}"
        if not newest_first:
            sql = f"SELECT * FROM ({sql}) ORDER BY id"
    return [event_row(values) for values in db.execute(sql, params).fetchall()]


def event_row(values: Sequence[Any]) -> EventRow:
    """An events row selected as ``EVENT_KEYS``, ``details`` decoded (unreadable or not an object: empty)."""
    id_, time, recorded_at, channel, canary_id, system, source, severity, account, action, details = values
    try:
        decoded = json.loads(details or "{}")
    except json.JSONDecodeError:
        decoded = {}
    return {"id": id_, "time": time, "recorded_at": recorded_at, "channel": channel, "canary_id": canary_id,
            "system": system, "source": source, "severity": severity, "account": account, "action": action,
            "details": decoded if isinstance(decoded, dict) else {}}


def check_channel(db: sqlite_utils.Database, channel: str) -> None:
    """Refuse a channel no watcher records on (and no stored event carries): it would match nothing, silently."""
    if channel in CHANNELS or db.execute("SELECT 1 FROM events WHERE channel = ? LIMIT 1", [channel]).fetchone():
        return
    raise CanaryError(f"unknown channel {channel!r}; channels: {', '.join(CHANNELS)}")
