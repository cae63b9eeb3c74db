"""The append-only audit log: every state-changing action, by whom, when, through what, from where.

The table refuses UPDATE and DELETE by trigger (``canary.web.schema``). Callers write the entry in
the same transaction as the change when the change is local, so the log never claims something that
did not happen nor misses something that did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from canary.store.registry import now_iso

AUDIT_KEYS = ("id", "at", "who", "via", "source", "action", "target", "details")


@dataclass(frozen=True)
class Actor:
    """Who acts: an account name (or ``token:NAME``), its role, the door (console, api, cli), the address."""

    name: str
    role: str
    via: str
    source: str | None = None


def record(db: sqlite_utils.Database, actor: Actor, action: str, target: str | None = None,
           details: dict[str, Any] | None = None) -> None:
    db.execute(
        "INSERT INTO web_audit (at, who, via, source, action, target, details) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [now_iso(), actor.name, actor.via, actor.source, action, target,
         json.dumps(details or {}, ensure_ascii=False, sort_keys=True)],
    )


def list_audit(db: sqlite_utils.Database, *, limit: int = 50, before: int | None = None,
               who: str | None = None) -> list[dict[str, Any]]:
    """Entries newest first, ``limit`` at a time; ``before`` is the smallest id of the previous page."""
    where: list[str] = []
    params: list[Any] = []
    if before is not None:
        where.append("id < ?")
        params.append(before)
    if who:
        where.append("who = ?")
        params.append(who)
    sql = f"SELECT {', '.join(AUDIT_KEYS)} FROM web_audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(max(1, min(int(limit), 500)))
    rows = []
    for values in db.execute(sql, params).fetchall():
        row = dict(zip(AUDIT_KEYS, values, strict=True))
        row["details"] = json.loads(row["details"] or "{}")
        rows.append(row)
    return rows
