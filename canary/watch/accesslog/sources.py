"""Watched audit trails (``canary logs add/list/remove``) and where each one stopped.

The ``--from`` URL chooses the kind of endpoint (canary.watch.accesslog.endpoints), which checks the
rest of the request; this module stores the source without asking which kind it is.
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlite_utils

from canary.errors import CanaryError, NotFound
from canary.store.registry import get_system, now_iso
from canary.store.tx import write_transaction
from canary.watch.accesslog.endpoint_kind import SourceRequest
from canary.watch.accesslog.endpoints import endpoint_for
from canary.watch.accesslog.state import clear_error, get_position, record_error, save_position, source_exists

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
# The state functions are also read from here (their home until the services needed them lower down).
__all__ = ["LIST_KEYS", "add_source", "clear_error", "get_position", "get_source", "list_sources", "record_error",
           "remove_source", "save_position", "source_exists", "source_for_system"]
LIST_KEYS = ("name", "system", "kind", "url", "format", "every", "bytes_received", "lines_received", "lines",
             "malformed", "matched", "events",
             "last_line_at", "last_malformed", "last_error", "last_error_at", "created_at")


def add_source(
    db: sqlite_utils.Database,
    system: str,
    url: str,
    fmt: str | None,
    *,
    pattern: str | None = None,
    fields: dict[str, list[str]] | None = None,
    every: str | None = None,
    name: str | None = None,
    ipp_query: str | None = None,
) -> dict[str, Any]:
    get_system(db, system)
    kind = endpoint_for(url)
    checked = kind.check_request(SourceRequest(fmt, pattern, fields, every, ipp_query))
    name = name or system
    if not _NAME.match(name):
        raise CanaryError(f"invalid source name {name!r}: lower-case letters, digits, '.', '_' or '-'")
    row = {"name": name, "system": system, "kind": kind.name, "url": url.strip(), "format": checked.fmt,
           "pattern": pattern, "fields": json.dumps(fields or {}), "every": checked.every,
           "created_at": now_iso(), "options": json.dumps(checked.options)}
    with write_transaction(db):
        if db.execute("SELECT 1 FROM accesslog_sources WHERE name = ?", [name]).fetchone():
            hint = " (give another --name to watch a second trail of this system)" if name == system else ""
            raise CanaryError(f"access-log source {name!r} already exists{hint}")
        kind.check_conflict(url, [other for other in list_sources(db) if other["kind"] == kind.name])
        db.table("accesslog_sources").insert(row)
    return get_source(db, name)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["fields"] = json.loads(row.get("fields") or "{}")
    row["options"] = json.loads(row.get("options") or "{}")
    return row


def get_source(db: sqlite_utils.Database, name: str) -> dict[str, Any]:
    rows = list(db.query("SELECT * FROM accesslog_sources WHERE name = ?", [name]))
    if not rows:
        raise NotFound(f"unknown access-log source {name!r}; see 'canary logs list'")
    return _decode(rows[0])


def list_sources(db: sqlite_utils.Database, system: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM accesslog_sources"
    params: list[Any] = []
    if system:
        sql += " WHERE system = ?"
        params.append(system)
    return [_decode(r) for r in db.query(sql + " ORDER BY system, name", params)]


def remove_source(db: sqlite_utils.Database, name: str) -> None:
    with write_transaction(db):
        get_source(db, name)
        db.execute("DELETE FROM accesslog_positions WHERE source = ?", [name])
        db.execute("DELETE FROM accesslog_sources WHERE name = ?", [name])


def source_for_system(db: sqlite_utils.Database, system: str, name: str | None = None) -> dict[str, Any] | None:
    """The source to borrow a format from when replaying SYSTEM's archives (None if it has none)."""
    if name:
        source = get_source(db, name)
        if source["system"] != system:
            raise CanaryError(f"source {name!r} watches {source['system']}, not {system}")
        return source
    sources = list_sources(db, system)
    if len(sources) > 1:
        raise CanaryError(f"{system} has several sources ({', '.join(s['name'] for s in sources)}); "
                          "pick one with --source")
    return sources[0] if sources else None
