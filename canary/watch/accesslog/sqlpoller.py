"""Polling an EHR audit table by increasing key; the last key commits with the events of its rows.

Each batch (at most BATCH_ROWS rows) is read, matched and stored in ONE registry transaction together
with the key of its last row: after a crash or a restart the next poll starts right after the last
stored row, so no row is read twice and none is skipped. A key missing between two rows read (an
EHR transaction that took its key earlier but has not committed yet) is remembered in the cursor and
looked for again at each poll for ``accesslog.sql_gap_seconds``. Mediboard's ``CPatient`` object ids map to
canaries through the ids the EHR gave at planting (``plantings.external_id`` of this system) or
through the source's IPP lookup query.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.settings import get_float
from canary.store import open_db
from canary.watch.accesslog.endpoint_kind import EndpointKind, SourceRequest, SourceSettings, no_conflict
from canary.watch.accesslog.engine import BatchResult, Processor
from canary.watch.accesslog.model import AccessEntry
from canary.watch.accesslog.sqltable import (
    PATIENT_CLASS,
    SQL_FORMATS,
    AuditTable,
    check_ipp_query,
    env_password,
    ip_text,
    parse_sql_url,
    text_of,
    time_text,
)
from canary.watch.accesslog.state import clear_error, get_position, record_error, save_position, source_exists
from canary.watch.accesslog.timeparse import parse_duration

log = logging.getLogger("canary.accesslog")

BATCH_ROWS = 1000
DEFAULT_EVERY = 5
MAX_GAP_SPAN = 100  # a larger hole is a jump of the sequence (purge, restart), not writers in flight
MAX_GAPS = 5000


class SqlPoller:
    """One source; ``poll()`` reads every new row (batch after batch) and returns what it stored."""

    def __init__(self, db: sqlite_utils.Database, source: dict[str, Any], *, batch_rows: int = BATCH_ROWS) -> None:
        self.db = db
        self.name = source["name"]
        self.target = parse_sql_url(source["url"])
        self.ipp_query: str | None = (source.get("options") or {}).get("ipp_query")
        self.batch_rows = batch_rows
        self.gap_seconds = get_float(db, "accesslog.sql_gap_seconds")
        self.processor = Processor(db, source["system"], _no_line_parser, source_name=self.name)
        self.key_base = f"al:{self.name}:sql"

    def cursor(self) -> tuple[int, dict[int, float]]:
        """The last stored key and the keys missing before it, with when each was first missed."""
        position = get_position(self.db, self.name)
        if position and position["cursor"]:
            saved = json.loads(position["cursor"])
            return int(saved["last_key"]), {int(k): float(v) for k, v in (saved.get("gaps") or {}).items()}
        return self.target.from_key, {}

    def last_key(self) -> int:
        return self.cursor()[0]

    def poll(self) -> BatchResult:
        total = BatchResult()
        table = AuditTable(self.target, env_password(self.target, self.name))
        with table.session():
            clear_error(self.db, self.name)
            last, gaps = self.cursor()
            if gaps:
                now = time.time()
                waiting = {k: seen for k, seen in gaps.items() if now - seen < self.gap_seconds}
                late = table.rows_with_keys(sorted(waiting)) if waiting else []
                for row in late:
                    waiting.pop(int(row["key"]), None)
                if late or len(waiting) != len(gaps):
                    total.add(self._store(table, late, last, waiting))
            while True:
                last, gaps = self.cursor()
                rows = table.rows_after(last, self.batch_rows)
                if not rows:
                    return total
                total.add(self._store(table, rows, rows[-1]["key"], _with_new_gaps(gaps, last, rows)))
                if len(rows) < self.batch_rows:
                    return total

    def _store(self, table: AuditTable, rows: list[dict[str, Any]], last: Any, gaps: dict[int, float]) -> BatchResult:
        processor = self.processor
        processor.index.refresh(self.db)
        unmatched = sorted({text_of(r["object_id"]) for r in rows if _is_patient(r)
                            and self._own_id(text_of(r["object_id"])) is None})
        ipps = table.ipps_of(self.ipp_query, unmatched) if self.ipp_query and unmatched else {}
        try:
            for row in rows:
                patients: list[str] = []
                if _is_patient(row):
                    object_id = text_of(row["object_id"])
                    own = self._own_id(object_id)
                    if own is not None:
                        patients.append(own)
                    patients.extend(ipps.get(object_id, []))
                if not patients:  # the common row: counted, nothing else to do
                    processor.feed_entry(None, b"", self.key_base, "row", row["key"])
                    continue
                account = None if row["account"] is None else text_of(row["account"])
                entry = AccessEntry(account=account, patients=patients,
                                    action=None if row["action"] is None else text_of(row["action"]),
                                    time=time_text(row["time"]), ip=ip_text(row["ip"]))
                raw = json.dumps([text_of(v) if v is not None else None for v in row.values()]).encode()
                processor.feed_entry(entry, raw, self.key_base, "row", row["key"],
                                     extra={"table": self.target.table})
            return processor.flush(position=functools.partial(self._save, last_key=last, gaps=gaps))
        except BaseException:
            processor.discard()
            raise

    def _own_id(self, object_id: str) -> str | None:
        """The planted id (``77`` or Mediboard's guid ``CPatient-77``) under which this system's plantings
        know this patient id, if any: an internal id names a canary only through its own system."""
        for candidate in (object_id, f"{PATIENT_CLASS}-{object_id}"):
            found = self.processor.index.lookup(candidate)
            if found is not None and found[1] == "external_id":
                return candidate
        return None

    def _save(self, db: sqlite_utils.Database, last_key: Any, gaps: dict[int, float]) -> None:
        cursor: dict[str, Any] = {"last_key": int(last_key)}
        if gaps:
            cursor["gaps"] = {str(k): v for k, v in sorted(gaps.items())}
        save_position(db, self.name, cursor=json.dumps(cursor))


def _with_new_gaps(gaps: dict[int, float], after: int, rows: list[dict[str, Any]]) -> dict[int, float]:
    """``gaps`` plus the keys missing between ``after`` and the rows' keys (the newest MAX_GAPS kept)."""
    out, now, previous = dict(gaps), time.time(), after
    for row in rows:
        key = row["key"]
        if isinstance(key, int):
            if 1 < key - previous <= MAX_GAP_SPAN:
                out.update((k, now) for k in range(previous + 1, key))
            previous = key
    if len(out) > MAX_GAPS:
        out = dict(sorted(out.items())[-MAX_GAPS:])
    return out


def _is_patient(row: dict[str, Any]) -> bool:
    return row["object_id"] is not None and text_of(row["object_class"] or "") == PATIENT_CLASS


def _no_line_parser(text: str) -> AccessEntry | None:
    raise AssertionError("a database source feeds parsed rows, never lines")


class SqlPollService:
    """``canary serve`` service: a thread polling one audit table every ``source.every`` seconds."""

    def __init__(self, db_path: Path, source: dict[str, Any]) -> None:
        self.name = f"access-log sql {source['name']}"
        self.db_path = db_path
        self.source = source
        self.every = float(source.get("every") or DEFAULT_EVERY)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        db = open_db(self.db_path)
        try:
            poller = SqlPoller(db, self.source)  # a bad definition fails the start, visibly
        except BaseException:
            db.close()
            raise
        self._thread = threading.Thread(target=self._run, args=(db, poller), name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self, db: sqlite_utils.Database, poller: SqlPoller) -> None:
        try:
            while not self._stop.is_set():
                run_once(db, poller, self.name)
                if not source_exists(db, self.source["name"]):
                    return
                self._stop.wait(self.every)
        finally:
            db.close()


def run_once(db: sqlite_utils.Database, poller: SqlPoller, label: str) -> BatchResult | None:
    """One poll; an error (database down, wrong password, table gone) is noted and retried next time."""
    try:
        return poller.poll()
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("%s: %s", label, message)
        try:
            record_error(db, poller.name, message)
        except Exception:
            log.exception("%s: cannot record the error", label)
        return None


def claims(url: str) -> bool:
    return url.startswith("sql+")


def check_url(url: str) -> None:
    parse_sql_url(url.strip())


def check_request(request: SourceRequest) -> SourceSettings:
    """A table read with a database format, every --every (default 5s, at least 1s), --ipp-query optional."""
    fmt = request.fmt or SQL_FORMATS[0]
    if fmt not in SQL_FORMATS:
        raise CanaryError(f"a database source is read with --format {' or '.join(SQL_FORMATS)}")
    if request.pattern or request.fields:
        raise CanaryError("--pattern and --field do not apply to a database source")
    every = int(parse_duration(request.every, "--every").total_seconds()) if request.every else DEFAULT_EVERY
    if every < 1:
        raise CanaryError("--every must be at least 1s")
    options = {"ipp_query": check_ipp_query(request.ipp_query)} if request.ipp_query is not None else {}
    return SourceSettings(fmt, every, options)


def _service(db_path: Path, source: dict[str, Any], _scheduler: Any, _poll_interval: float) -> SqlPollService:
    return SqlPollService(db_path, source)


ENDPOINT = EndpointKind(name="sql", usage="sql+mysql://user@host/db?table=user_log", claims=claims,
                        check_url=check_url, check_request=check_request, check_conflict=no_conflict,
                        service=_service)
