"""What the console pages and the API read: paged, filtered in SQL, and cut to what a role may see.

Every list reads one page (``limit`` rows before a cursor) so a page costs the same with 100 events or
100,000. The JSON shapes are those of the CLI's ``--json`` (a test compares the keys).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlite_utils

from canary.alert.model import alert_history, alert_view, get_alert, with_history
from canary.errors import CanaryError
from canary.plant.views import planting_view
from canary.store.events import list_events
from canary.store.registry import get_canary
from canary.timezones import display_zone
from canary.web import cuts
from canary.web.roles import allows

if TYPE_CHECKING:
    from canary.generate.reference import Reference

PAGE = 50
MAX_PAGE = 500
# What a viewer may know of a canary: that it exists, where, since when. Never what it looks like.
CANARY_HEAD = ("id", "system", "generation", "created_at", "status")
SWEEP_KEYS = ("id", "feed", "sources", "started_at", "finished_at", "status", "files", "bytes", "skipped", "error")


@dataclass(frozen=True)
class Page:
    rows: Sequence[Mapping[str, Any]]
    next_before: int | None  # cursor of the next (older) page, None on the last one

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.rows, "next_before": self.next_before}


def page_size(raw: str | int | None) -> int:
    try:
        size = int(raw) if raw not in (None, "") else PAGE
    except (TypeError, ValueError) as exc:
        raise CanaryError(f"limit must be a number, got {raw!r}") from exc
    return max(1, min(size, MAX_PAGE))


def cursor(raw: str | int | None) -> int | None:
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise CanaryError(f"before must be an id, got {raw!r}") from exc


def paged_rows(rows: Sequence[Mapping[str, Any]], limit: int) -> Page:
    """``rows`` were read with ``limit + 1``: the extra row only says another page exists."""
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, int(rows[-1]["id"]) if more and rows else None)


# --- events and alerts -----------------------------------------------------------------------------

def events_page(db: sqlite_utils.Database, role: str, *, limit: int = PAGE, before: int | None = None,
                system: str | None = None, channel: str | None = None, canary_id: str | None = None,
                since: str | None = None) -> Page:
    rows = list_events(db, system=system, channel=channel, canary_id=canary_id, since=since, limit=limit + 1,
                       newest_first=True, before=before)
    # Details hold evidence (masked snippets, callback headers): analysts and admins only.
    return paged_rows([cuts.event(row, role) for row in rows], limit)


def alerts_page(db: sqlite_utils.Database, role: str, *, limit: int = PAGE, before: int | None = None,
                state: str | None = None, system: str | None = None, since: str | None = None) -> Page:
    """Alerts newest first, cut to ``role``; ``state`` is open (not resolved), acknowledged, resolved, or None
    for all; ``since`` (UTC ISO): last seen at or after it. Filters come checked (canary.store.filters)."""
    where: list[str] = []
    params: list[Any] = []
    if state == "open":
        where.append("state != 'resolved'")
    elif state in ("acknowledged", "resolved"):
        where.append("state = ?")
        params.append(state)
    if since:
        where.append("last_seen >= ?")
        params.append(since)
    if system:
        where.append("EXISTS (SELECT 1 FROM json_each(alerts.systems) WHERE value = ?)")
        params.append(system)
    if before is not None:
        where.append("id < ?")
        params.append(before)
    sql = "SELECT * FROM alerts" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
    params.append(limit + 1)
    zone = display_zone(db)  # the texts' times in the configured zone, as the CLI and the pages write them
    views = with_history(db, [alert_view(row, zone) for row in db.query(sql, params)])
    return paged_rows([cuts.alert(view, role) for view in views], limit)


def alert_story(db: sqlite_utils.Database, alert_id: int, role: str) -> dict[str, Any]:
    """An alert with its events in time order and the deliveries and notices sent about it."""
    view = cuts.alert(get_alert(db, alert_id), role)
    events = []
    for values in db.execute(
            "SELECT e.id, e.time, e.channel, e.canary_id, e.system, e.source, e.severity, e.account, e.action, "
            "e.details FROM alert_events a JOIN events e ON e.id = a.event_id WHERE a.alert_id = ? "
            "ORDER BY e.time, e.id LIMIT 1000", [alert_id]).fetchall():
        event = dict(zip(("id", "time", "channel", "canary_id", "system", "source", "severity", "account",
                          "action", "details"), values, strict=True))
        event["details"] = json.loads(event["details"] or "{}")
        events.append(cuts.event(event, role))
    deliveries = [dict(zip(("destination_id", "kind", "state", "attempts", "last_error", "created_at",
                            "delivered_at"), row, strict=True))
                  for row in db.execute(
                      "SELECT destination_id, kind, state, attempts, last_error, created_at, delivered_at "
                      "FROM alert_outbox "
                      "WHERE alert_id = ? ORDER BY id", [alert_id]).fetchall()]
    return {"alert": view, "events": events, "deliveries": deliveries, "history": alert_history(db, alert_id)}


# --- canaries --------------------------------------------------------------------------------------

def canary_view(canary: Mapping[str, Any], role: str) -> dict[str, Any]:
    """``canary show --json`` for analysts and admins; the head alone (no marker, no token) for viewers."""
    head = {key: canary.get(key) for key in CANARY_HEAD}
    if not allows(role, "analyst"):
        return head
    return head | {k: v for k, v in canary.items() if k not in head}


def canaries_page(db: sqlite_utils.Database, role: str, *, limit: int = PAGE, after: str | None = None,
                  system: str | None = None, prefix: str | None = None) -> dict[str, Any]:
    """Canaries by id, ``limit`` at a time after id ``after``; searched by id prefix or system only."""
    where: list[str] = []
    params: list[Any] = []
    if system:
        where.append("system = ?")
        params.append(system)
    if prefix:
        where.append("id >= ? AND id < ?")
        params.extend([prefix, prefix + "\uffff"])
    if after:
        where.append("id > ?")
        params.append(after)
    sql = ("SELECT id, system, generation, created_at, status, record FROM canaries"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id LIMIT ?")
    params.append(limit + 1)
    rows = []
    for row in db.query(sql, params):
        record = json.loads(row.pop("record")) if allows(role, "analyst") else {}
        rows.append(canary_view(record | row, role))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_after": rows[-1]["id"] if more and rows else None}


def canary_story(db: sqlite_utils.Database, canary_id: str, role: str) -> dict[str, Any]:
    canary = canary_view(get_canary(db, canary_id), role)
    plantings = plantings_of(db, role, canary_id=canary_id)
    alerts = [cuts.alert(alert_view(row, display_zone(db)), role) for row in db.query(
        "SELECT * FROM alerts WHERE EXISTS (SELECT 1 FROM json_each(alerts.canaries) WHERE value = ?) "
        "ORDER BY id DESC LIMIT 100", [canary_id])]
    events = events_page(db, role, canary_id=canary_id, limit=100).rows
    markers = [] if not allows(role, "analyst") else [
        {"kind": kind, "value": value} for kind, value in db.execute(
            "SELECT kind, value FROM markers WHERE canary_id = ? ORDER BY kind, value", [canary_id]).fetchall()]
    return {"canary": canary, "plantings": plantings, "events": events, "alerts": alerts, "markers": markers}


def plantings_of(db: sqlite_utils.Database, role: str, *, system: str | None = None,
                 canary_id: str | None = None) -> list[dict[str, Any]]:
    if canary_id is None:
        from canary.plant.lifecycle import list_plantings

        rows = list_plantings(db, system=system)
    else:
        # One canary's plantings: read by index, not by filtering every planting of the registry.
        rows = []
        for row in db.query("SELECT p.*, c.generation FROM plantings p JOIN canaries c ON c.id = p.canary_id "
                            "WHERE p.canary_id = ? ORDER BY p.id", [canary_id]):
            row["options"] = json.loads(row["options"])
            row["resources"] = json.loads(row["resources"])
            rows.append(row)
    return [cuts.planting(planting_view(row), role) for row in rows]



# --- sweeps ----------------------------------------------------------------------------------------

def sweeps_page(db: sqlite_utils.Database, role: str, *, limit: int = PAGE, before: int | None = None) -> Page:
    sql = f"SELECT {', '.join(SWEEP_KEYS)} FROM sweeps" + (" WHERE id < ?" if before is not None else "")
    params: list[Any] = [before] if before is not None else []
    rows = []
    for values in db.execute(sql + " ORDER BY id DESC LIMIT ?", [*params, limit + 1]).fetchall():
        row = dict(zip(SWEEP_KEYS, values, strict=True))
        row["sources"] = json.loads(row["sources"] or "[]")
        row["skipped"] = json.loads(row["skipped"] or "[]")
        rows.append(cuts.sweep(row, role))
    page = paged_rows(rows, limit)
    counts = _findings_by_confidence(db, [int(r["id"]) for r in page.rows])
    return Page([{**row, "findings": counts.get(int(row["id"]), {})} for row in page.rows], page.next_before)


def _findings_by_confidence(db: sqlite_utils.Database, sweep_ids: list[int]) -> dict[int, dict[str, int]]:
    if not sweep_ids:
        return {}
    marks = ", ".join("?" for _ in sweep_ids)
    out: dict[int, dict[str, int]] = {}
    for sweep_id, confidence, count in db.execute(
            f"SELECT sweep_id, confidence, COUNT(*) FROM sweep_findings WHERE sweep_id IN ({marks}) "
            "GROUP BY sweep_id, confidence", sweep_ids).fetchall():
        out.setdefault(int(sweep_id), {})[str(confidence)] = int(count)
    return out


def feeds(db: sqlite_utils.Database, role: str) -> list[dict[str, Any]]:
    """Configured leak feeds (`canary feed list --json`), their sources cut to the role."""
    from canary.watch.sweep.feeds import feed_json, list_feeds

    return [cuts.feed(feed_json(f), role) for f in list_feeds(db)]


# --- stealth ---------------------------------------------------------------------------------------

MAX_LINTED = 5_000


def stealth_report(db: sqlite_utils.Database, system: str, reference: Reference | None = None) -> dict[str, Any]:
    """The generator's realism rules over a system's active canaries (``canary lint --system``, without
    the owned-pool checks): what a thief could use to filter the canaries out, rule by rule."""
    from datetime import date

    from canary.generate.lint import lint_records
    from canary.store.registry import get_system, list_canaries

    get_system(db, system)
    canaries = list_canaries(db, system=system, include_retired=False)
    checked = [canary_view(c, "analyst") for c in canaries[:MAX_LINTED]]
    problems = [{"canary_id": cid, "rule": p.rule, "field": p.field, "message": p.message}
                for cid, p in lint_records(checked, date.today(), reference=reference)]
    by_rule: dict[str, int] = {}
    for problem in problems:
        by_rule[problem["rule"]] = by_rule.get(problem["rule"], 0) + 1
    return {"system": system, "checked": len(checked), "active": len(canaries), "problems": problems[:200],
            "by_rule": dict(sorted(by_rule.items()))}
