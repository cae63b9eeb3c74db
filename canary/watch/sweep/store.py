"""Storing sweeps and findings, and turning each finding into a ``leak`` event for alerting."""

from __future__ import annotations

import json
from typing import Any, cast

import sqlite_utils

from canary.store.events import record_event, utcnow
from canary.store.tx import write_transaction
from canary.watch.sweep.matcher import Finding
from canary.watch.sweep.scanner import ScanReport


def start_sweep(db: sqlite_utils.Database, sources: list[str], feed: str | None = None) -> int:
    with write_transaction(db):
        cursor = db.execute("INSERT INTO sweeps (feed, sources, started_at, status) VALUES (?, ?, ?, 'running')",
                            [feed, json.dumps(sources, ensure_ascii=False), utcnow()])
    return cast(int, cursor.lastrowid)  # always set after an INSERT


def finish_sweep(db: sqlite_utils.Database, sweep_id: int, report: ScanReport | None, status: str,
                 error: str | None = None) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE sweeps SET finished_at = ?, status = ?, files = ?, bytes = ?, skipped = ?, error = ? WHERE id = ?",
            [utcnow(), status, report.files if report else 0, report.bytes if report else 0,
             json.dumps(report.skipped if report else [], ensure_ascii=False), error, sweep_id])


def store_findings(db: sqlite_utils.Database, sweep_id: int, findings: list[Finding]) -> int:
    """Store findings and their events; storing the same sweep's findings again adds nothing. Returns new ones."""
    added = 0
    for finding in findings:
        details = {"group": f"sweep:{sweep_id}", "sweep_id": sweep_id, "file": finding.file,
                   "fields": finding.fields, "confidence": finding.confidence, "line": finding.line,
                   "offset": finding.offset}
        event_id = record_event(db, channel="leak", canary_id=finding.canary_id, severity=finding.severity,
                                source=finding.file, action="sighting", details=details,
                                dedup_key=f"sweep:{sweep_id}:{finding.canary_id}:{finding.file}")
        with write_transaction(db):
            cursor = db.execute(
                """INSERT INTO sweep_findings (sweep_id, canary_id, system, file, fields, confidence, severity,
                                               line, "offset", evidence, event_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sweep_id, canary_id, file) DO NOTHING""",
                [sweep_id, finding.canary_id, finding.system, finding.file, json.dumps(finding.fields),
                 finding.confidence, finding.severity, finding.line, finding.offset, finding.evidence, event_id])
        added += cursor.rowcount
    return added


def sweep_findings(db: sqlite_utils.Database, sweep_id: int) -> list[dict[str, Any]]:
    rows = list(db.query('SELECT * FROM sweep_findings WHERE sweep_id = ? ORDER BY id', [sweep_id]))
    for row in rows:
        row["fields"] = json.loads(row["fields"])
    return rows
