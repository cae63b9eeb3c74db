"""Retention: how long events, evidence (kept mail, sweep findings) and delivered outbox rows stay.

Never pruned: an event the alert correlation has not read yet (it would be lost unseen), and the first
event of every alert that is not resolved, with its evidence (the message it names, the sweep finding
that made it). Alerts themselves are never pruned: they are the record of what happened. Ages count
from when canary stored a row (``recorded_at``, ``received_at``, the sweep's start), not from the time a
log line claims. Rows go in batches of short transactions so that listeners keep writing meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlite_utils

from canary.alert.correlate import cursor_position
from canary.alert.outbox import prune_delivered
from canary.settings import get_int
from canary.store.tx import write_transaction

BATCH = 2000

# The first event of each alert still open or acknowledged: the evidence on-call must be able to read.
_PROTECTED_EVENTS = """
    SELECT MIN(ae.event_id) FROM alert_events ae JOIN alerts a ON a.id = ae.alert_id
    WHERE a.state != 'resolved' GROUP BY ae.alert_id
"""


@dataclass
class PruneResult:
    events: int = 0
    messages: int = 0
    findings: int = 0
    outbox: int = 0
    kept: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (f"pruned {self.events} events, {self.messages} kept messages, {self.findings} sweep findings, "
                f"{self.outbox} delivered outbox rows")


def _cutoff(days: int, now: datetime) -> str | None:
    if days <= 0:
        return None
    return (now - timedelta(days=days)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _delete_in_batches(db: sqlite_utils.Database, select_ids: str, params: list[object],
                       deletes: list[str]) -> int:
    """Delete the rows ``select_ids`` names, BATCH at a time; each statement of ``deletes`` takes ``ids``."""
    total = 0
    while True:
        with write_transaction(db):
            ids = [row[0] for row in db.execute(f"{select_ids} LIMIT {BATCH}", params).fetchall()]
            if not ids:
                return total
            marks = ", ".join("?" * len(ids))
            for statement in deletes:
                db.execute(statement.format(ids=marks), ids)
        total += len(ids)


def prune(db: sqlite_utils.Database, now: datetime | None = None) -> PruneResult:
    """Apply the retention settings once; return what went."""
    now = now or datetime.now(UTC)
    result = PruneResult()
    events_cutoff = _cutoff(get_int(db, "retention.events_days"), now)
    evidence_cutoff = _cutoff(get_int(db, "retention.evidence_days"), now)
    if events_cutoff is not None:
        result.events = _delete_in_batches(
            db,
            f"SELECT id FROM events WHERE recorded_at < ? AND id <= ? AND id NOT IN ({_PROTECTED_EVENTS})",
            [events_cutoff, cursor_position(db)],
            ["DELETE FROM alert_events WHERE event_id IN ({ids})", "DELETE FROM events WHERE id IN ({ids})"],
        )
    if evidence_cutoff is not None:
        result.messages = _delete_in_batches(
            db,
            "SELECT id FROM tripwire_messages WHERE received_at < ? AND id NOT IN ("
            "SELECT json_extract(details, '$.message') FROM events WHERE id IN "
            f"({_PROTECTED_EVENTS}) AND json_extract(details, '$.message') IS NOT NULL)",
            [evidence_cutoff],
            ["DELETE FROM tripwire_messages WHERE id IN ({ids})"],
        )
        result.findings = _delete_in_batches(
            db,
            "SELECT f.id FROM sweep_findings f JOIN sweeps s ON s.id = f.sweep_id WHERE s.started_at < ? "
            f"AND (f.event_id IS NULL OR f.event_id NOT IN ({_PROTECTED_EVENTS}))",
            [evidence_cutoff],
            ["DELETE FROM sweep_findings WHERE id IN ({ids})"],
        )
    result.outbox = prune_delivered(db, max(1, get_int(db, "alert.outbox_keep_days")))
    return result
