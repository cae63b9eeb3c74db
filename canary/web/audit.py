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
               who: str | None = None, action: str | None = None, via: str | None = None,
               since: str | None = None) -> list[dict[str, Any]]:
    """Entries newest first, ``limit`` at a time; ``before`` is the smallest id of the previous page.
    ``action`` matches a whole action or its family (``alert`` finds alert.ack, alert.note...); ``since``
    is a UTC ISO time."""
    where: list[str] = []
    params: list[Any] = []
    if before is not None:
        where.append("id < ?")
        params.append(before)
    if who:
        where.append("who = ?")
        params.append(who)
    if action:
        where.append("(action = ? OR action LIKE ? ESCAPE '\\')")
        params.extend([action, action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"])
    if via:
        where.append("via = ?")
        params.append(via)
    if since:
        where.append("at >= ?")
        params.append(since)
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


# Commands of the CLI that change state, by their path: the action and the kind of their first argument
# (the target), named as the console and the API name the same change. Commands that record their own entry
# (user, token) are not here.
CLI_CHANGES: dict[str, tuple[str, str | None]] = {
    "init": ("registry.init", None),
    "system add": ("system.add", "system"), "system edit": ("system.edit", "system"),
    "config set": ("setting.set", "setting"), "config unset": ("setting.unset", "setting"),
    "seed": ("seed", "system"), "profile build": ("profile.build", "system"),
    "contacts confirm": ("contacts.confirm", None),
    "registers import ban": ("registers.import", None), "registers import rpps": ("registers.import", None),
    "plant": ("plant", "system"), "retire": ("retire", None), "rotate": ("rotate", "system"),
    "feed add": ("feed.add", "feed"), "feed remove": ("feed.remove", "feed"), "sweep": ("sweep", None),
    "tripwire fill-tokens": ("tripwire.fill-tokens", None),
    "tripwire ignore add": ("tripwire.ignore.add", None), "tripwire ignore remove": ("tripwire.ignore.remove", None),
    "logs add": ("logs.add", "source"), "logs remove": ("logs.remove", "source"),
    "logs allow add": ("logs.allow.add", "system"), "logs allow remove": ("logs.allow.remove", None),
    "alert ack": ("alert.ack", "alert"), "alert resolve": ("alert.resolve", "alert"),
    "alert reopen": ("alert.reopen", "alert"), "alert note": ("alert.note", "alert"),
    "notify add": ("notify.add", None), "notify remove": ("notify.remove", "destination"),
    "notify test": ("notify.test", None),
    "restore": ("restore", None),
}
_NOT_DETAILS = ("as_json", "password_stdin")


def cli_actor() -> Actor:
    """Whoever runs the CLI holds the registry file, hence every right: named by the system user."""
    import getpass

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return Actor(name, "admin", "cli")


def record_cli_change(db: sqlite_utils.Database, actor: Actor, path: str, params: dict[str, Any],
                      first_argument: str | None) -> bool:
    """Record a CLI command that changed state (``path`` in CLI_CHANGES), with its options as given: URLs without
    their credentials and query, a secret setting's value never. False when the command changes nothing."""
    if path not in CLI_CHANGES:
        return False
    from canary.settings import all_settings
    from canary.web.cuts import text

    action, kind = CLI_CHANGES[path]
    details: dict[str, Any] = {}
    for key, value in params.items():
        if key in _NOT_DETAILS or value in (None, False, (), [], ""):
            continue
        # As typed, but as text (a path, a choice) or a number; URLs without credentials or query.
        details[key] = [text(str(v), "analyst") for v in value] if isinstance(value, tuple | list) else (
            value if isinstance(value, int | float) else text(str(value), "analyst"))
    setting = all_settings().get(str(first_argument)) if kind == "setting" else None
    if setting is not None and setting.secret and "value" in details:
        details["value"] = "(secret)"
    target = f"{kind}:{first_argument}" if kind and first_argument is not None else None
    record(db, actor, action, target, details)
    return True
