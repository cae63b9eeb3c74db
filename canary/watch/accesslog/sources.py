"""Watched audit trails (``canary logs add/list/remove``) and where each one stopped."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from canary.errors import CanaryError, NotFound
from canary.store.registry import get_system, now_iso
from canary.store.tx import write_transaction
from canary.watch.accesslog.parsers import build_parser
from canary.watch.accesslog.sqltable import SQL_FORMATS, SqlTarget, check_ipp_query, parse_sql_url
from canary.watch.accesslog.state import clear_error, get_position, record_error, save_position, source_exists
from canary.watch.accesslog.timeparse import parse_duration

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
FHIR_PREFIX = "fhir-auditevent:"
DEFAULT_FHIR_EVERY = 60
DEFAULT_SQL_EVERY = 5
# The state functions are also read from here (their home until the services needed them lower down).
__all__ = ["LIST_KEYS", "add_source", "clear_error", "get_position", "get_source", "list_sources", "parse_from",
           "record_error", "remove_source", "save_position", "source_exists", "source_for_system"]
LIST_KEYS = ("name", "system", "kind", "url", "format", "every", "bytes_received", "lines_received", "lines",
             "malformed", "matched", "events",
             "last_line_at", "last_malformed", "last_error", "last_error_at", "created_at")


@dataclass(frozen=True)
class Endpoint:
    kind: str  # syslog, file, fhir, sql
    host: str | None = None
    port: int | None = None
    transports: tuple[str, ...] = ()
    path: Path | None = None
    base_url: str | None = None
    sql: SqlTarget | None = None


def parse_from(url: str) -> Endpoint:
    """Read a ``--from`` value: syslog://HOST:PORT (syslog+udp://, syslog+tcp://), file:///path,
    fhir-auditevent:https://server/fhir, sql+mysql://user@host/db?table=T (or sql+postgresql://)."""
    text = url.strip()
    if text.startswith("sql+"):
        return Endpoint("sql", sql=parse_sql_url(text))
    if text.startswith(FHIR_PREFIX):
        base = text[len(FHIR_PREFIX):].rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CanaryError(f"invalid --from {url!r}: expected fhir-auditevent:https://server/fhir")
        return Endpoint("fhir", base_url=base)
    parts = urlsplit(text)
    if parts.scheme in ("syslog", "syslog+udp", "syslog+tcp"):
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise CanaryError(f"invalid --from {url!r}: expected syslog://HOST:PORT, e.g. syslog://0.0.0.0:5514")
        transports = {"syslog": ("udp", "tcp"), "syslog+udp": ("udp",), "syslog+tcp": ("tcp",)}[parts.scheme]
        return Endpoint("syslog", host=parts.hostname, port=port, transports=transports)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise CanaryError(f"invalid --from {url!r}: expected file:///absolute/path")
        return Endpoint("file", path=Path(parts.path))
    raise CanaryError(f"invalid --from {url!r}: use syslog://HOST:PORT, file:///path, "
                      "fhir-auditevent:https://server/fhir or sql+mysql://user@host/db?table=user_log")


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
    endpoint = parse_from(url)
    options: dict[str, Any] = {}
    if ipp_query is not None and endpoint.kind != "sql":
        raise CanaryError("--ipp-query applies to database (sql+...) sources only")
    if endpoint.kind == "sql":
        fmt = fmt or SQL_FORMATS[0]
        if fmt not in SQL_FORMATS:
            raise CanaryError(f"a database source is read with --format {' or '.join(SQL_FORMATS)}")
        if pattern or fields:
            raise CanaryError("--pattern and --field do not apply to a database source")
        every_seconds = int(parse_duration(every, "--every").total_seconds()) if every else DEFAULT_SQL_EVERY
        if every_seconds < 1:
            raise CanaryError("--every must be at least 1s")
        if ipp_query is not None:
            options["ipp_query"] = check_ipp_query(ipp_query)
    elif fmt in SQL_FORMATS:
        raise CanaryError(f"--format {fmt} reads a database table: --from sql+mysql://user@host/db?table=user_log")
    elif endpoint.kind == "fhir":
        fmt = fmt or "fhir-auditevent"
        if fmt != "fhir-auditevent":
            raise CanaryError("a fhir-auditevent: source is read with --format fhir-auditevent")
        every_seconds = int(parse_duration(every, "--every").total_seconds()) if every else DEFAULT_FHIR_EVERY
    else:
        if every:
            raise CanaryError("--every applies to fhir-auditevent: and sql+ sources only (files and syslog are live)")
        if not fmt:
            raise CanaryError("--format is required: mediboard, regex, jsonl, csv or fhir-auditevent")
        every_seconds = None
    if endpoint.kind != "sql":
        build_parser(fmt, pattern, fields)  # reject a bad pattern or field now, not in the service
    name = name or system
    if not _NAME.match(name):
        raise CanaryError(f"invalid source name {name!r}: lower-case letters, digits, '.', '_' or '-'")
    row = {"name": name, "system": system, "kind": endpoint.kind, "url": url.strip(), "format": fmt,
           "pattern": pattern, "fields": json.dumps(fields or {}), "every": every_seconds,
           "created_at": now_iso(), "options": json.dumps(options)}
    with write_transaction(db):
        if db.execute("SELECT 1 FROM accesslog_sources WHERE name = ?", [name]).fetchone():
            hint = " (give another --name to watch a second trail of this system)" if name == system else ""
            raise CanaryError(f"access-log source {name!r} already exists{hint}")
        if endpoint.kind == "syslog":
            for other in list_sources(db):
                if other["kind"] == "syslog" and (ep := parse_from(other["url"])).port == endpoint.port \
                        and ep.port != 0 and set(ep.transports) & set(endpoint.transports):
                    raise CanaryError(f"port {endpoint.port} already used by source {other['name']!r}")
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
