"""The overview: each system's state, open alerts first, 30 days of events and alerts, sweeps, deliveries.

Every figure is an aggregate query; nothing here reads all events or all canaries.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlite_utils

from canary.web.queries import alerts_page

DAYS = 30
# Chart geometry (SVG user units): one column per day, events and alerts side by side.
CHART_WIDTH, CHART_HEIGHT, BAR = 600, 120, 8


def system_states(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Systems, those with an open alert first; state is alert / failed / never_planted / quiet."""
    rows = list(db.query(
        """SELECT s.name, s.kind, s.establishment, s.finess, s.notes, s.patients,
                  (SELECT COUNT(*) FROM canaries c WHERE c.system = s.name AND c.status = 'active') AS canaries,
                  (SELECT COUNT(*) FROM plantings p WHERE p.system = s.name AND p.state = 'planted') AS planted,
                  (SELECT COUNT(*) FROM plantings p WHERE p.system = s.name AND p.state = 'failed') AS failed,
                  (SELECT COUNT(*) FROM alerts a WHERE a.state != 'resolved'
                      AND EXISTS (SELECT 1 FROM json_each(a.systems) WHERE value = s.name)) AS open_alerts
           FROM systems s ORDER BY s.name"""))
    for row in rows:
        row["state"] = ("alert" if row["open_alerts"] else "failed" if row["failed"]
                        else "never_planted" if not row["planted"] else "quiet")
    order = {"alert": 0, "failed": 1, "never_planted": 2, "quiet": 3}
    return sorted(rows, key=lambda r: (order[r["state"]], r["name"]))


def timeline(db: sqlite_utils.Database, today: date | None = None) -> dict[str, Any]:
    """Events and alerts per day over the last DAYS days, with bar geometry for the SVG."""
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=DAYS - 1)
    since = first.isoformat()
    events = dict(db.execute("SELECT substr(time, 1, 10), COUNT(*) FROM events WHERE time >= ? GROUP BY 1",
                             [since]).fetchall())
    alerts = dict(db.execute("SELECT substr(first_seen, 1, 10), COUNT(*) FROM alerts WHERE first_seen >= ? "
                             "GROUP BY 1", [since]).fetchall())
    days = [(first + timedelta(days=i)).isoformat() for i in range(DAYS)]
    peak = max([1, *events.values(), *alerts.values()])
    step = CHART_WIDTH / DAYS
    bars = []
    for i, day in enumerate(days):
        n_events, n_alerts = int(events.get(day, 0)), int(alerts.get(day, 0))
        h_events = round(CHART_HEIGHT * n_events / peak, 1)
        h_alerts = round(CHART_HEIGHT * n_alerts / peak, 1)
        bars.append({"day": day, "events": n_events, "alerts": n_alerts, "x": round(i * step + 2, 1),
                     "events_y": round(CHART_HEIGHT - h_events, 1), "events_h": h_events,
                     "alerts_y": round(CHART_HEIGHT - h_alerts, 1), "alerts_h": h_alerts})
    return {"bars": bars, "peak": peak, "width": CHART_WIDTH, "height": CHART_HEIGHT, "bar": BAR,
            "total_events": sum(b["events"] for b in bars), "total_alerts": sum(b["alerts"] for b in bars)}


def sweep_clock(db: sqlite_utils.Database) -> dict[str, Any]:
    """The last sweep run and, per feed, when its schedule next fires."""
    last = db.execute("SELECT id, feed, started_at, status FROM sweeps ORDER BY id DESC LIMIT 1").fetchone()
    upcoming = []
    from canary.watch.sweep.schedule import parse_schedule

    now = datetime.now(UTC)
    for name, schedule in db.execute("SELECT name, schedule FROM sweep_feeds ORDER BY name").fetchall():
        fire = parse_schedule(schedule).trigger().get_next_fire_time(None, now)
        upcoming.append({"feed": name, "next": fire.isoformat(timespec="minutes") if fire else None})
    upcoming.sort(key=lambda f: f["next"] or "")
    return {"last": dict(zip(("id", "feed", "started_at", "status"), last, strict=True)) if last else None,
            "next": upcoming[0] if upcoming else None}


def outbox_health(db: sqlite_utils.Database) -> dict[str, int]:
    """Messages waiting, and those already retried at least once (a target that fails)."""
    pending, failing = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(attempts > 0), 0) FROM alert_outbox WHERE state = 'pending'").fetchone()
    return {"pending": int(pending), "failing": int(failing)}


def overview(db: sqlite_utils.Database, role: str) -> dict[str, Any]:
    return {"systems": system_states(db), "open_alerts": alerts_page(db, role, state="open", limit=10).rows,
            "timeline": timeline(db), "sweeps": sweep_clock(db), "outbox": outbox_health(db)}
