"""The triage inbox: alerts to work first at the top, searched and filtered the same way from every door.

``canary inbox``, ``GET /api/v1/inbox`` and the console's inbox page read this one function with a filter
checked by ``canary.store.filters.inbox_filter``, so the three never disagree on what a filter selects.
Order: open before acknowledged before resolved, then the most severe, then the most recently seen.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from canary.alert.model import alert_of, alert_rows
from canary.alert.shapes import Alert
from canary.store.events import SEVERITIES
from canary.store.filters import InboxFilter
from canary.timezones import display_zone

PAGE = 50
MAX_PAGE = 500
INBOX_ORDER = ("CASE state WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END, "
               "CASE severity " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(reversed(SEVERITIES)))
               + " ELSE 9 END, last_seen DESC, id DESC")
# Stored columns a search reads: who (accounts, sources), where (systems, establishments), what (canaries).
_SEARCHED = ("systems", "establishments", "canaries", "accounts", "sources", "channels")


def _where(f: InboxFilter) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if f.state == "open":
        where.append("state != 'resolved'")
    elif f.state:
        where.append("state = ?")
        params.append(f.state)
    if f.system:
        where.append("EXISTS (SELECT 1 FROM json_each(alerts.systems) WHERE value = ?)")
        params.append(f.system)
    if f.channel:
        where.append("(channel = ? OR EXISTS (SELECT 1 FROM json_each(alerts.channels) WHERE value = ?))")
        params.extend([f.channel, f.channel])
    if f.severity:
        where.append(f"severity IN ({', '.join('?' for _ in SEVERITIES[SEVERITIES.index(f.severity):])})")
        params.extend(SEVERITIES[SEVERITIES.index(f.severity):])
    if f.since:
        where.append("last_seen >= ?")
        params.append(f.since)
    for word in (f.search or "").split():
        # Every word must be found somewhere: its id (#12), a stored field, or a note of its timeline.
        if word.lstrip("#").isdigit():
            where.append("id = ?")
            params.append(int(word.lstrip("#")))
            continue
        fields = " || ' ' || ".join(f"COALESCE({c}, '')" for c in _SEARCHED)
        where.append(f"(instr(lower({fields} || ' ' || COALESCE(note, '')), ?) > 0 OR EXISTS (SELECT 1 FROM "
                     "alert_history h WHERE h.alert_id = alerts.id AND instr(lower(COALESCE(h.note, '')), ?) > 0))")
        params.extend([word.lower(), word.lower()])
    return where, params


def inbox(db: sqlite_utils.Database, f: InboxFilter, *, limit: int = PAGE, offset: int = 0) -> dict[str, Any]:
    """``items`` (alerts with a one-line ``summary`` {fr, en}), ``total`` matching, and ``next_offset`` (None on
    the last page). ``f`` comes checked (``inbox_filter``)."""
    limit = max(1, min(int(limit), MAX_PAGE))
    offset = max(0, int(offset))
    where, params = _where(f)
    clause = " WHERE " + " AND ".join(where) if where else ""
    total = int(db.execute(f"SELECT COUNT(*) FROM alerts{clause}", params).fetchone()[0])
    zone = display_zone(db)
    rows = alert_rows(db, f"SELECT * FROM alerts{clause} ORDER BY {INBOX_ORDER} LIMIT ? OFFSET ?",
                      [*params, limit, offset])
    views = [alert_of(row, zone) for row in rows]
    items = [{**view, "summary": summary(view)} for view in views]
    return {"items": items, "total": total, "next_offset": offset + limit if offset + limit < total else None}


def summary(alert: Alert) -> dict[str, str]:
    """What happened, in one line: which canaries of which system, through which channels, by whom."""
    systems = ", ".join(
        f"{s['system']} ({s['establishment']})" if s.get("establishment") else s["system"]
        for s in alert["by_system"]) or ", ".join(alert["systems"]) or "?"
    canaries = alert["canaries"]
    shown = ", ".join(canaries[:3]) + (" …" if len(canaries) > 3 else "")
    channels = " + ".join(alert["channels"] or [alert["channel"]])
    accounts, sources = ", ".join(alert["accounts"][:2]), ", ".join(alert["sources"][:2])
    who_fr = f", compte {accounts}" if accounts else (f", source {sources}" if sources else "")
    who_en = f", account {accounts}" if accounts else (f", from {sources}" if sources else "")
    count = len(canaries)
    fr = f"{count} canari(s) de {systems} [{shown}] vu(s) par {channels}{who_fr}"
    en = f"{count} canar{'y' if count == 1 else 'ies'} of {systems} [{shown}] seen by {channels}{who_en}"
    return {"fr": fr, "en": en}
