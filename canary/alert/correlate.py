"""Folding events into alerts, durably.

The events table is read in id order from a cursor kept in ``alert_state``; the alerts, their event
links, their outbox rows and the new cursor are written in one transaction, so a crash neither loses
an event nor folds one twice. Events share an alert when they share a correlation key (the watcher's
``details.group``, else canary/system/channel) and arrive within ``alert.window_seconds`` of the open
alert's last event. Across keys, an event on a canary that an unresolved alert already names, within
``alert.incident_window_seconds`` of that alert's last event, joins it: the HTTP hit, the DNS lookup and
the EHR read of one canary are one incident whatever their channel (``channels`` lists them). An alert is
paged when created and again only when it escalates: its severity rises or a new system appears. Each
page is a new alert version queued for every destination that routes it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from canary.alert import outbox, severity
from canary.alert.destinations import list_destinations
from canary.alert.followup import queue_update_notices
from canary.alert.model import alert_of, alert_rows
from canary.alert.outbox import instance_id
from canary.alert.shapes import AlertRow, SystemTally
from canary.alert.window import overall_window, parse_time, theft_windows
from canary.settings import get_int
from canary.store.events import EVENT_KEYS, event_row, utcnow
from canary.store.shapes import EventRow
from canary.store.tx import write_transaction
from canary.timezones import display_zone

log = logging.getLogger("canary.alert")

CURSOR = "correlation.last_event_id"
LIST_CAP = 50  # accounts/sources kept per alert: enough to act on, bounded for a huge dump
DUMP_CHANNELS = ("leak",)
DUMP_GROUP_MARK = "dump-group:"  # alert_state name prefix: dump group (sweep) -> the alert it was folded into
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Channels where the product reports on itself (a failing destination, a degraded watcher): never part of an incident.
SELF_CHANNELS = ("notify", "watch")


@dataclass
class BatchResult:
    events: int = 0
    alerts_created: int = 0
    alerts_updated: int = 0
    pages: int = 0
    queued: int = 0
    alert_ids: list[int] = field(default_factory=list)
    # One line per alert opened or updated, logged once the batch is committed (never for a rolled-back one).
    changes: list[str] = field(default_factory=list)
    # Alerts opened or paged in this batch: the rest of the batch adds to them without a follow-up notice.
    paged_now: set[int] = field(default_factory=set)


def correlation_key(event: EventRow) -> str:
    group = event["details"].get("group")
    if group:
        return str(group)
    return f"{event['canary_id'] or '-'}/{event['system'] or '-'}/{event['channel']}"


def cursor_position(db: sqlite_utils.Database) -> int:
    row = db.execute("SELECT value FROM alert_state WHERE name = ?", [CURSOR]).fetchone()
    return int(row[0]) if row else 0


def correlate_once(db: sqlite_utils.Database, *, limit: int = 500) -> BatchResult:
    """Fold the next ``limit`` events into alerts; return what happened (``events == 0``: nothing new)."""
    result = BatchResult()
    with write_transaction(db):
        position = cursor_position(db)
        events = [event_row(row) for row in db.execute(
            f"SELECT {', '.join(EVENT_KEYS)} FROM events WHERE id > ? ORDER BY id LIMIT ?", [position, limit]
        ).fetchall()]
        if not events:
            return result
        context = _Context(db, instance_id(db), list_destinations(db),
                           timedelta(seconds=get_int(db, "alert.window_seconds")), _system_places(db),
                           timedelta(seconds=get_int(db, "alert.incident_window_seconds")))
        groups: dict[str, list[EventRow]] = {}
        for event in events:
            groups.setdefault(correlation_key(event), []).append(event)
        for key, group in groups.items():
            _fold(context, key, group, result)
        db.execute("INSERT INTO alert_state (name, value) VALUES (?, ?) "
                   "ON CONFLICT(name) DO UPDATE SET value = excluded.value", [CURSOR, str(events[-1]["id"])])
        result.events = len(events)
    for change in result.changes:
        log.info("%s", change)
    return result


def correlate_all(db: sqlite_utils.Database, *, limit: int = 500) -> BatchResult:
    """Correlate until the cursor reaches the newest event (used by the CLI before listing)."""
    total = BatchResult()
    while True:
        batch = correlate_once(db, limit=limit)
        if batch.events == 0:
            return total
        for name in ("events", "alerts_created", "alerts_updated", "pages", "queued"):
            setattr(total, name, getattr(total, name) + getattr(batch, name))
        total.alert_ids.extend(batch.alert_ids)
        total.changes.extend(batch.changes)


@dataclass
class _Context:
    db: sqlite_utils.Database
    instance: str
    destinations: list[Any]
    window: timedelta
    places: dict[str, tuple[str | None, str | None]]
    incident_window: timedelta = timedelta(0)
    planting_cache: dict[Any, Any] = field(default_factory=dict)


def _system_places(db: sqlite_utils.Database) -> dict[str, tuple[str | None, str | None]]:
    return {row[0]: (row[1], row[2]) for row in db.execute("SELECT name, establishment, kind FROM systems")}


def _open_alert(context: _Context, key: str, first_time: str) -> AlertRow | None:
    rows = alert_rows(context.db, "SELECT * FROM alerts WHERE key = ? AND state != 'resolved' ORDER BY id DESC LIMIT 1",
                      [key])
    if not rows:
        return None
    row = rows[0]
    last_seen, first = parse_time(row["last_seen"]), parse_time(first_time)
    if last_seen is not None and first is not None and first - last_seen > context.window:
        return None
    return row


def _time_key(value: str) -> datetime:
    return parse_time(value) or EPOCH


@dataclass
class _Aggregate:
    """What an alert accumulates from its events (kept as JSON columns of ``alerts``)."""

    canaries: list[str]
    by_system: dict[str, SystemTally]
    accounts: list[str]
    account_systems: list[str]
    sources: list[str]
    exfiltration: bool
    channels: list[str]
    new_canaries: bool = False

    @classmethod
    def from_row(cls, row: AlertRow) -> _Aggregate:
        return cls(json.loads(row["canaries"] or "[]"), json.loads(row["by_system"] or "{}"),
                   json.loads(row["accounts"] or "[]"), json.loads(row["account_systems"] or "[]"),
                   json.loads(row["sources"] or "[]"), bool(row["exfiltration"]),
                   json.loads(row.get("channels") or "[]") or [row["channel"]])

    def add(self, event: EventRow, places: dict[str, tuple[str | None, str | None]],
            known: set[str]) -> None:
        system, canary_id = event["system"], event["canary_id"]
        if system:
            establishment, kind = places.get(system, (None, None))
            detail = self.by_system.setdefault(system, {"establishment": establishment, "kind": kind,
                                                        "canaries": 0, "events": 0})
            detail["events"] += 1
        if canary_id and canary_id not in known:
            known.add(canary_id)
            self.canaries.append(canary_id)
            self.new_canaries = True
            if system:
                self.by_system[system]["canaries"] += 1
        _add_capped(self.accounts, event["account"])
        if event["account"]:  # the system whose log showed the account (a canary may be read away from home)
            _add_capped(self.account_systems, event["details"].get("log_system") or system)
        _add_capped(self.sources, event["source"])
        if event["channel"] not in self.channels:
            self.channels.append(event["channel"])
        self.exfiltration = self.exfiltration or bool(event["details"].get("exfiltration"))

    def columns(self) -> dict[str, Any]:
        establishments = sorted({place for d in self.by_system.values() if (place := d["establishment"])})
        values = {"systems": sorted(self.by_system), "canaries": self.canaries, "by_system": self.by_system,
                  "establishments": establishments, "accounts": self.accounts,
                  "account_systems": self.account_systems, "sources": self.sources, "channels": self.channels}
        out: dict[str, Any] = {k: json.dumps(v, ensure_ascii=False) for k, v in values.items()}
        out["exfiltration"] = int(self.exfiltration)
        return out


def _fold(context: _Context, key: str, events: list[EventRow], result: BatchResult) -> None:
    db = context.db
    times = sorted((e["time"] for e in events), key=_time_key)
    row = _open_alert(context, key, times[0])
    now = utcnow()
    again = _same_dump_alert(context, events) if row is None and events[0]["channel"] in DUMP_CHANNELS else None
    if again is not None:
        row = again
    if row is None:
        row = _incident_alert(context, key, events, times[0])
    created = row is None
    if row is None:
        first = events[0]
        cursor = db.execute(
            "INSERT INTO alerts (key, state, severity, channel, first_seen, last_seen, created_at, updated_at, "
            "version, paged) VALUES (?, 'open', ?, ?, ?, ?, ?, ?, 0, '{}')",
            [key, first["severity"], first["channel"], times[0], times[-1], now, now],
        )
        (row,) = alert_rows(db, "SELECT * FROM alerts WHERE id = ?", [cursor.lastrowid])
        result.alerts_created += 1
    else:
        result.alerts_updated += 1
    alert_id = row["id"]
    aggregate = _Aggregate.from_row(row)
    known = set(aggregate.canaries)
    had_channels, had_canaries = list(aggregate.channels), len(aggregate.canaries)
    for event in events:
        aggregate.add(event, context.places, known)
    db.conn.executemany("INSERT OR IGNORE INTO alert_events (event_id, alert_id) VALUES (?, ?)",
                        [(event["id"], alert_id) for event in events])
    first_seen = min(row["first_seen"], times[0], key=_time_key)
    last_seen = max(row["last_seen"], times[-1], key=_time_key)
    level = severity.highest(row["severity"], *(e["severity"] for e in events))
    window = json.loads(row["window"]) if row["window"] else None
    if aggregate.new_canaries:
        window = overall_window(theft_windows(db, _found_by_system(db, alert_id),
                                              dump=row["channel"] in DUMP_CHANNELS, detected_at=first_seen,
                                              cache=context.planting_cache))
    systems = sorted(aggregate.by_system)
    paged = json.loads(row["paged"] or "{}")
    another_dump = row["key"] != key  # the same dump swept again: only new canaries or systems page
    escalated = severity.rank(level) > severity.rank(paged.get("severity")) or bool(
        set(systems) - set(paged.get("systems", []))) or (another_dump and aggregate.new_canaries)
    if escalated:  # who got a page is kept: acknowledge/resolve notices go there, even after the outbox is pruned
        routed = {d.id for d in context.destinations if d.accepts(level, systems)}
        paged = {"severity": level, "systems": systems,
                 "destinations": sorted(set(paged.get("destinations", [])) | routed)}
    seen_again = row["seen_again"] or 0
    if row["channel"] in DUMP_CHANNELS:  # one mark per dump group: batches of one sweep count once
        marked = db.execute("INSERT OR IGNORE INTO alert_state (name, value) VALUES (?, ?)",
                            [DUMP_GROUP_MARK + key, str(alert_id)]).rowcount
        seen_again += 1 if marked and another_dump else 0
    columns = {**aggregate.columns(), "severity": level, "first_seen": first_seen, "last_seen": last_seen,
               "seen_again": seen_again,
               "window": json.dumps(window, ensure_ascii=False) if window else None, "updated_at": now,
               "version": row["version"] + 1 if escalated else row["version"], "paged": json.dumps(paged)}
    assignments = ", ".join(f"{name} = ?" for name in columns)
    db.execute(f"UPDATE alerts SET {assignments}, count = count + ? WHERE id = ?",
               [*columns.values(), len(events), alert_id])
    result.alert_ids.append(alert_id)
    result.changes.append(_change_line(alert_id, created, level, systems, aggregate, events, escalated))
    if escalated:
        result.pages += 1
        (changed,) = alert_rows(db, "SELECT * FROM alerts WHERE id = ?", [alert_id])
        view = alert_of(changed, display_zone(db))
        result.queued += outbox.enqueue(db, context.instance, view, context.destinations)
    if created or escalated:
        result.paged_now.add(alert_id)
    elif row["state"] != "resolved" and alert_id not in result.paged_now:
        channels = [c for c in aggregate.channels if c not in had_channels]
        canaries = aggregate.canaries[had_canaries:]
        if channels or canaries:  # new evidence, no escalation: a follow-up to those already paged
            (changed,) = alert_rows(db, "SELECT * FROM alerts WHERE id = ?", [alert_id])
            zone = display_zone(db)
            result.queued += queue_update_notices(db, context.instance, alert_of(changed, zone),
                                                  context.destinations, channels, canaries, zone)


def _change_line(alert_id: int, created: bool, level: str, systems: list[str], aggregate: _Aggregate,
                 events: list[EventRow], escalated: bool) -> str:
    """What the log says of an alert opened or updated by a batch of events."""
    canaries = len(aggregate.canaries)
    what = (f"{level}, system{'s' if len(systems) > 1 else ''} {', '.join(systems) or '?'}, "
            f"{canaries} canar{'ies' if canaries != 1 else 'y'}, "
            f"channel{'s' if len(aggregate.channels) > 1 else ''} {', '.join(aggregate.channels)}")
    if created:
        return f"alert #{alert_id} opened: {what}"
    paged = "paged again" if escalated else "no new page"
    return f"alert #{alert_id} updated by {len(events)} event(s): {what} ({paged})"


def _same_dump_alert(context: _Context, events: list[EventRow]) -> AlertRow | None:
    """The newest alert of a dump already reported: same ``dump_hash``, or same ``dump_source`` and canaries.

    A resolved one is reused only when this sweep brings no new canary or system (then it is only
    counted as seen again); otherwise the new findings are a new incident.
    """
    details = events[0]["details"]
    dump_hash, source = details.get("dump_hash"), details.get("dump_source")
    if not dump_hash and not source:
        return None
    canaries = sorted({e["canary_id"] for e in events if e["canary_id"]})
    if not canaries:
        return None
    # A later batch of a sweep already folded somewhere goes where its first batch went.
    found = context.db.execute("SELECT CAST(value AS INTEGER) FROM alert_state WHERE name = ?",
                               [DUMP_GROUP_MARK + str(details.get("group"))]).fetchone()
    # Both criteria imply shared canaries: start from them (indexed), not from every leak event ever stored.
    found = found or context.db.execute(
        f"""SELECT ae.alert_id FROM events e JOIN alert_events ae ON ae.event_id = e.id
            WHERE e.canary_id IN ({", ".join("?" for _ in canaries)})
              AND e.channel IN ({", ".join("?" for _ in DUMP_CHANNELS)})
              AND (json_extract(e.details, '$.dump_hash') = ? OR json_extract(e.details, '$.dump_source') = ?)
            ORDER BY ae.alert_id DESC LIMIT 1""",
        [*canaries, *DUMP_CHANNELS, dump_hash, source]).fetchone()
    if found is None:
        return None
    (row,) = alert_rows(context.db, "SELECT * FROM alerts WHERE id = ?", [found[0]])
    if row["state"] == "resolved":
        known = set(json.loads(row["canaries"] or "[]"))
        systems = set(json.loads(row["systems"] or "[]"))
        if set(canaries) - known or {e["system"] for e in events if e["system"]} - systems:
            return None
    return row


def _incident_alert(context: _Context, key: str, events: list[EventRow], first_time: str) -> AlertRow | None:
    """The unresolved alert already naming one of these canaries, last seen within the incident window.

    Keys keep one watcher's sightings together; this joins the other channels of the same theft (a
    link opened, its name resolved, the record read) so on-call gets one incident, not one per channel.
    An alert with the same key is not joined this way: ``alert.window_seconds`` alone decides for it.
    """
    if not context.incident_window or events[0]["channel"] in SELF_CHANNELS:
        return None
    canaries = sorted({e["canary_id"] for e in events if e["canary_id"]})
    first = parse_time(first_time)
    if not canaries or first is None:
        return None
    # Through the events of each canary (indexed), not through every unresolved alert's JSON. Times are
    # compared parsed: watchers write UTC with or without an offset.
    rows = context.db.execute(
        f"""SELECT DISTINCT a.id, a.last_seen FROM events e JOIN alert_events ae ON ae.event_id = e.id
            JOIN alerts a ON a.id = ae.alert_id
            WHERE e.canary_id IN ({", ".join("?" for _ in canaries)}) AND a.state != 'resolved'
              AND a.channel NOT IN ({", ".join("?" for _ in SELF_CHANNELS)}) AND a.key != ?
            ORDER BY a.id DESC LIMIT 20""", [*canaries, *SELF_CHANNELS, key]).fetchall()
    for alert_id, last_seen in rows:
        seen = parse_time(last_seen)
        if seen is not None and first - seen <= context.incident_window:
            (row,) = alert_rows(context.db, "SELECT * FROM alerts WHERE id = ?", [alert_id])
            return row
    return None


def _add_capped(values: list[str], value: str | None) -> None:
    if value and value not in values and len(values) < LIST_CAP:
        values.append(value)


def _found_by_system(db: sqlite_utils.Database, alert_id: int) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for system, canary_id in db.execute(
        """SELECT e.system, e.canary_id FROM alert_events ae JOIN events e ON e.id = ae.event_id
           WHERE ae.alert_id = ? AND e.canary_id IS NOT NULL AND e.system IS NOT NULL""", [alert_id]
    ):
        found.setdefault(system, set()).add(canary_id)
    return found
