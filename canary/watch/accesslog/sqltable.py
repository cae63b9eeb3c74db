"""An EHR audit table in its own database (MySQL/MariaDB or PostgreSQL): where it is, how to read it.

``sql+mysql://user@host[:port]/db?table=user_log`` or ``sql+postgresql://...``. The password never
appears in the URL nor in the registry: it is read from the environment when connecting. Sessions
are opened read-only and in autocommit (each poll sees the rows committed so far).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from canary.errors import CanaryError

SCHEMES = {"sql+mysql": "mysql", "sql+mariadb": "mysql", "sql+postgresql": "postgresql", "sql+postgres": "postgresql"}
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}
SQL_FORMATS = ("mediboard-sql",)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}(\.[A-Za-z_][A-Za-z0-9_$]{0,63})?$")
_QUERY_KEYS = {"table", "socket", "password_env", "from_key"}
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60

# Mediboard's user_log columns, by role. Only these are read (never `fields`/`extra`: they hold
# patient data). `object_id` names a patient only when `object_class` is CPatient.
MEDIBOARD_COLUMNS = {"key": "user_log_id", "account": "user_id", "time": "date", "action": "type",
                     "object_class": "object_class", "object_id": "object_id", "ip": "ip_address"}
PATIENT_CLASS = "CPatient"


@dataclass(frozen=True)
class SqlTarget:
    dialect: str  # mysql, postgresql
    user: str
    host: str | None
    port: int
    database: str
    table: str
    socket: str | None = None
    password_env: str | None = None
    from_key: int = 0

    def where(self) -> str:
        place = self.socket or f"{self.host}:{self.port}"
        return f"{self.dialect} {place}/{self.database} table {self.table}"


def parse_sql_url(url: str) -> SqlTarget:
    """Read ``sql+mysql://user@host[:port]/db?table=T[&socket=PATH][&password_env=VAR][&from_key=N]``."""
    parts = urlsplit(url.strip())
    dialect = SCHEMES.get(parts.scheme)
    example = "sql+mysql://user@host/db?table=user_log"
    if dialect is None:
        raise CanaryError(f"invalid --from {url!r}: expected {example} or sql+postgresql://...")
    if parts.password is not None:
        raise CanaryError("a database password never goes in --from (it would be stored in the registry): "
                          "put it in the environment of 'canary serve', see docs/accesslog.md")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - _QUERY_KEYS
    if unknown:
        raise CanaryError(f"invalid --from {url!r}: unknown parameter(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(_QUERY_KEYS))})")
    database = unquote(parts.path.lstrip("/"))
    table = query.get("table", "")
    if not parts.username or not database or "/" in database or not (parts.hostname or query.get("socket")):
        raise CanaryError(f"invalid --from {url!r}: expected {example}")
    if not _IDENTIFIER.match(table):
        raise CanaryError(f"invalid --from {url!r}: table={table!r} is not a table name (e.g. table=user_log)")
    try:
        port = parts.port or DEFAULT_PORTS[dialect]
        from_key = int(query.get("from_key") or 0)
    except ValueError as exc:
        raise CanaryError(f"invalid --from {url!r}: {exc}") from exc
    password_env = query.get("password_env") or None
    if password_env is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", password_env):
        raise CanaryError(f"invalid --from {url!r}: password_env must name an environment variable")
    return SqlTarget(dialect, unquote(parts.username), parts.hostname, port, database, table,
                     socket=query.get("socket") or None, password_env=password_env, from_key=from_key)


def password_variable(target: SqlTarget, source_name: str) -> str:
    """The environment variable holding the password: ``password_env=`` or CANARY_SQL_PASSWORD_<SOURCE>."""
    return target.password_env or "CANARY_SQL_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", source_name).upper()


def check_ipp_query(query: str | None) -> str | None:
    """An IPP lookup is one SELECT whose ``{ids}`` the poller fills with the batch's patient ids."""
    if query is None:
        return None
    text = query.strip().rstrip(";")
    if not re.match(r"(?is)^select\s", text) or text.count("{ids}") != 1 or ";" in text:
        raise CanaryError("--ipp-query must be one SELECT returning (patient id, IPP) with {ids} where the "
                          "patient ids go, e.g. \"SELECT object_id, id400 FROM id_sante400 WHERE "
                          "object_class = 'CPatient' AND tag = 'tag_ipp' AND object_id IN ({ids})\"")
    return text


def _quote(dialect: str, identifier: str) -> str:
    mark = "`" if dialect == "mysql" else '"'
    return ".".join(f"{mark}{part}{mark}" for part in identifier.split("."))


class AuditTable:
    """A read-only session on the EHR's database; ``rows_after(key)`` pages the audit table by key."""

    def __init__(self, target: SqlTarget, password: str | None, columns: dict[str, str] | None = None) -> None:
        self.target = target
        self.columns = columns or MEDIBOARD_COLUMNS
        self._password = password
        self._conn: Any = None

    # --- session ---------------------------------------------------------------------------------

    def connect(self) -> None:
        t = self.target
        try:
            if t.dialect == "mysql":
                import pymysql

                self._conn = pymysql.connect(
                    host=t.host or "localhost", port=t.port, unix_socket=t.socket, user=t.user,
                    password=self._password or "", database=t.database, autocommit=True, charset="utf8mb4",
                    connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)
                self._execute("SET SESSION TRANSACTION READ ONLY")
            else:
                import psycopg

                self._conn = psycopg.connect(
                    host=t.socket or t.host, port=t.port, dbname=t.database, user=t.user,
                    password=self._password or None, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
                self._execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        except CanaryError:
            raise
        except Exception as exc:
            self.close()
            message = driver_message(exc)
            refused = "denied" in message.lower() or "password" in message.lower()
            hint = " (no password in the environment)" if refused and not self._password else ""
            raise CanaryError(f"cannot connect to {t.where()} as {t.user}: {message}{hint}") from exc

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to release
                self._conn.close()
            self._conn = None

    @contextmanager
    def session(self) -> Iterator[AuditTable]:
        self.connect()
        try:
            yield self
        finally:
            self.close()

    def _execute(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    # --- reading ---------------------------------------------------------------------------------

    def rows_after(self, key: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` rows with a key above ``key``, in key order, as {role: value}."""
        return self._select("> %s", [key], limit)

    def rows_with_keys(self, keys: list[int]) -> list[dict[str, Any]]:
        """The rows of these keys that exist now (keys missed earlier: their writers had not committed)."""
        if not keys:
            return []
        return self._select(f"IN ({', '.join(['%s'] * len(keys))})", list(keys), None)

    def _select(self, key_condition: str, params: list[Any], limit: int | None) -> list[dict[str, Any]]:
        d, c = self.target.dialect, self.columns
        roles = list(c)
        key = _quote(d, c["key"])
        sql = (f"SELECT {', '.join(_quote(d, c[r]) for r in roles)} FROM {_quote(d, self.target.table)} "
               f"WHERE {key} {key_condition} ORDER BY {key}" + (" LIMIT %s" if limit is not None else ""))
        try:
            rows = self._execute(sql, params + ([limit] if limit is not None else []))
        except Exception as exc:
            raise CanaryError(f"reading {self.target.where()}: {driver_message(exc)}") from exc
        return [dict(zip(roles, row, strict=True)) for row in rows]

    def ipps_of(self, query: str, patient_ids: list[str]) -> dict[str, list[str]]:
        """Run the IPP lookup for these internal patient ids: {patient id: [IPP, ...]}."""
        if not patient_ids:
            return {}
        sql = query.replace("{ids}", ", ".join(["%s"] * len(patient_ids)))
        try:
            rows = self._execute(sql, list(patient_ids))
        except Exception as exc:
            raise CanaryError(f"IPP lookup on {self.target.where()}: {driver_message(exc)}") from exc
        found: dict[str, list[str]] = {}
        for row in rows:
            if len(row) >= 2 and row[0] is not None and row[1] is not None:
                found.setdefault(text_of(row[0]), []).append(text_of(row[1]).strip())
        return found


def driver_message(exc: Exception) -> str:
    """One line from a driver error: PyMySQL's (code, message) or psycopg's first line."""
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    if len(args) == 2 and isinstance(args[0], int):
        return f"{args[1]} (error {args[0]})"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def text_of(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def ip_text(value: Any) -> str | None:
    """Mediboard stores the client address packed (inet_pton, 4 or 16 bytes); others store text."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) in (4, 16):
            return str(ipaddress.ip_address(raw))
        return raw.decode("utf-8", "replace").strip("\0 ") or None
    return str(value) or None


def time_text(value: Any) -> str | None:
    """A DATETIME column as ISO text; naive values are read in accesslog.timezone by the engine."""
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return None if value is None else text_of(value)


def env_password(target: SqlTarget, source_name: str) -> str | None:
    return os.environ.get(password_variable(target, source_name)) or None
