"""Storing sweeps and findings, and turning each finding into a ``leak`` event for alerting."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from typing import Any, cast

import sqlite_utils

from canary.errors import CanaryError
from canary.store.events import record_event, utcnow
from canary.store.leases import process_alive
from canary.store.tx import write_transaction
from canary.watch.sweep.matcher import Finding
from canary.watch.sweep.scanner import ScanReport


def start_sweep(db: sqlite_utils.Database, sources: list[str], feed: str | None = None, *,
                at_most: int | None = None) -> int:
    """Record a running sweep. ``at_most``: refuse (CanaryError) when that many sweeps of ``feed`` already
    run; the count and the new row are one transaction, so callers arriving together cannot all pass."""
    with write_transaction(db):
        if at_most is not None:
            running = sweeps_running(db, feed)
            if running >= at_most:
                raise CanaryError(f"{feed}: {running} scan(s) still running; try again when they finish")
        cursor = db.execute(
            "INSERT INTO sweeps (feed, sources, started_at, status, runner_host, runner_pid) "
            "VALUES (?, ?, ?, 'running', ?, ?)",
            [feed, json.dumps(sources, ensure_ascii=False), utcnow(), socket.gethostname(), os.getpid()])
    return cast(int, cursor.lastrowid)  # always set after an INSERT


def require_active_canaries(db: sqlite_utils.Database, registry: str = "the registry") -> None:
    """Before any scan (``canary scan``, an upload in the console or the API): a registry without an active
    canary would report every dump clean. ``registry``: how the caller names it (the CLI: its --db)."""
    if not db.execute("SELECT 1 FROM canaries WHERE status = 'active' LIMIT 1").fetchone():
        raise CanaryError(f"{registry} has no active canary: a scan could find nothing "
                          "(wrong registry? seed canaries with 'canary seed')")


def sweeps_running(db: sqlite_utils.Database, feed: str | None) -> int:
    """Sweeps of ``feed`` still running, once those of a killed process of this host are settled."""
    settle_abandoned_sweeps(db)
    return int(db.execute("SELECT COUNT(*) FROM sweeps WHERE feed IS ? AND status = 'running'",
                          [feed]).fetchone()[0])


def settle_abandoned_sweeps(db: sqlite_utils.Database) -> int:
    """Sweeps left running by a process of this host that is gone (killed, crashed): failed, saying so.

    A sweep another host runs cannot be checked from here and stays as it is. Returns how many settled."""
    host, settled = socket.gethostname(), 0
    with write_transaction(db):
        rows = db.execute("SELECT id, runner_pid FROM sweeps WHERE status = 'running' AND runner_host = ?",
                          [host]).fetchall()
        for sweep_id, pid in rows:
            if pid is not None and not process_alive(int(pid)):
                db.execute("UPDATE sweeps SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                           [utcnow(), f"interrupted: the process running it ({host}:{pid}) is gone", sweep_id])
                settled += 1
    return settled


def finish_sweep(db: sqlite_utils.Database, sweep_id: int, report: ScanReport | None, status: str,
                 error: str | None = None) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE sweeps SET finished_at = ?, status = ?, files = ?, bytes = ?, skipped = ?, error = ? WHERE id = ?",
            [utcnow(), status, report.files if report else 0, report.bytes if report else 0,
             json.dumps(report.skipped if report else [], ensure_ascii=False), error, sweep_id])


def store_findings(db: sqlite_utils.Database, sweep_id: int, findings: list[Finding]) -> int:
    """Store findings and their events; storing the same sweep's findings again adds nothing. Returns new ones.

    Each event carries what identifies the dump to the alerting domain, so the same dump swept again
    updates its alert instead of paging: ``dump_hash`` (what was found where, independent of file names,
    so a renamed or re-packed copy has the same) and ``dump_source`` (the feed, else the inputs).
    """
    added = 0
    identity = {"dump_hash": dump_hash(findings), "dump_source": _dump_source(db, sweep_id)}
    for finding in findings:
        details = {"group": f"sweep:{sweep_id}", "sweep_id": sweep_id, "file": finding.file,
                   "fields": finding.fields, "confidence": finding.confidence, "line": finding.line,
                   "offset": finding.offset, **identity}
        key = _event_key(sweep_id, identity["dump_source"], identity["dump_hash"], finding)
        event_id = record_event(db, channel="leak", canary_id=finding.canary_id, severity=finding.severity,
                                source=finding.file, action="sighting", details=details, dedup_key=key)
        if event_id is None:  # already recorded: this sweep's finding points at that event
            row = db.execute("SELECT id FROM events WHERE dedup_key = ?", [key]).fetchone()
            event_id = row[0] if row else None
        with write_transaction(db):
            cursor = db.execute(
                """INSERT INTO sweep_findings (sweep_id, canary_id, system, file, fields, confidence, severity,
                                               line, "offset", evidence, event_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sweep_id, canary_id, file) DO NOTHING""",
                [sweep_id, finding.canary_id, finding.system, finding.file, json.dumps(finding.fields),
                 finding.confidence, finding.severity, finding.line, finding.offset, finding.evidence, event_id])
        added += cursor.rowcount
    return added


def _event_key(sweep_id: int, source: str, digest: str, finding: Finding) -> str:
    """The event's dedup key. A feed sweeping the same content again (same dump hash, same file) records
    nothing new: the feed's file is unchanged, not seen again. A sweep outside a feed (``canary scan``, an
    upload) is an operator's new look, hence a new sighting (the alert counts it as "seen again")."""
    if not source.startswith("feed:"):
        return f"sweep:{sweep_id}:{finding.canary_id}:{finding.file}"
    same = hashlib.sha256(json.dumps([source, digest, finding.canary_id, finding.file]).encode()).hexdigest()
    return f"dump:{same}"


def new_events(db: sqlite_utils.Database, sweep_id: int) -> int:
    """Events this sweep recorded (its findings already recorded by an earlier sweep of the feed excluded)."""
    return int(db.execute(
        "SELECT COUNT(*) FROM sweep_findings f JOIN events e ON e.id = f.event_id "
        "WHERE f.sweep_id = ? AND json_extract(e.details, '$.sweep_id') = f.sweep_id", [sweep_id]).fetchone()[0])


def dump_hash(findings: list[Finding]) -> str:
    """SHA-256 of the findings' canaries, lines, offsets and evidence (not file names), in a stable order."""
    digest = hashlib.sha256()
    for item in sorted((f.canary_id, f.line, f.offset, f.evidence) for f in findings):
        digest.update(json.dumps(item, ensure_ascii=False).encode())
    return digest.hexdigest()


def _dump_source(db: sqlite_utils.Database, sweep_id: int) -> str:
    row = db.execute("SELECT feed, sources FROM sweeps WHERE id = ?", [sweep_id]).fetchone()
    if row is None:
        return f"sweep:{sweep_id}"
    return f"feed:{row[0]}" if row[0] else "inputs:" + json.dumps(sorted(json.loads(row[1])), ensure_ascii=False)


def sweep_findings(db: sqlite_utils.Database, sweep_id: int) -> list[dict[str, Any]]:
    rows = list(db.query('SELECT * FROM sweep_findings WHERE sweep_id = ? ORDER BY id', [sweep_id]))
    for row in rows:
        row["fields"] = json.loads(row["fields"])
    return rows
