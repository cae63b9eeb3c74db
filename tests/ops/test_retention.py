"""Retention: old events and evidence go; open alerts, their first evidence and unread events stay."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from canary.alert.correlate import correlate_all
from canary.alert.model import resolve
from canary.ops.retention import prune
from canary.ops.services import OpsService
from canary.serve import ServeContext
from canary.settings import set_setting
from canary.store.events import record_event
from canary.watch.tripwire.messages import keep_message

OLD = datetime.now(UTC) - timedelta(days=60)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(db, canary, channel, minutes, **details) -> int:
    event_id = record_event(db, channel=channel, canary_id=canary["id"], severity="high",
                            time=_iso(OLD + timedelta(minutes=minutes)), details=details)
    assert event_id is not None
    return event_id


def _message(db, canary) -> int:
    return keep_message(db, channel="smtp", canary_ids=[canary["id"]], raw=b"Subject: dossier\r\n\r\nbonjour\r\n",
                        peer="127.0.0.1", mail_from="x@example.org", rcpt_to=["a@mail.example.fr"], digest={},
                        max_bytes=10000)


def _finding(db, sweep_id, canary, event_id) -> int:
    cursor = db.execute("INSERT INTO sweep_findings (sweep_id, canary_id, system, file, fields, confidence, "
                        "severity, evidence, event_id) VALUES (?, ?, ?, ?, '[]', 'high', 'high', 'N** ***', ?)",
                        [sweep_id, canary["id"], canary["system"], f"dump-{event_id}.csv", event_id])
    return int(cursor.lastrowid or 0)


def _sweep(db, started: datetime) -> int:
    cursor = db.execute("INSERT INTO sweeps (sources, started_at, status) VALUES ('[]', ?, 'ok')", [_iso(started)])
    return int(cursor.lastrowid or 0)


def _ids(db, table: str) -> set[int]:
    return {row[0] for row in db.execute(f"SELECT id FROM {table}")}


def test_prune_keeps_open_alerts_first_evidence_and_unread_events(db, add_hand_canaries):
    a, b, c = add_hand_canaries(count=3)
    resolved_1, resolved_2 = _event(db, a, "http", 0), _event(db, a, "http", 1)
    open_first, open_later = _event(db, b, "dns", 0), _event(db, b, "dns", 2)
    kept_message = _message(db, c)
    mail_first = _event(db, c, "smtp", 0, message=kept_message)
    dropped_message = _message(db, c)
    mail_later = _event(db, c, "smtp", 3, message=dropped_message)
    correlate_all(db)
    alerts = {row[0]: row[1] for row in db.execute("SELECT channel, id FROM alerts")}
    resolve(db, alerts["http"], "soc", "known pen test")
    recent = record_event(db, channel="http", canary_id=a["id"], severity="high")
    correlate_all(db)
    unread = _event(db, b, "dns", 5)  # not folded into an alert yet: never pruned
    old_sweep, new_sweep = _sweep(db, OLD), _sweep(db, datetime.now(UTC))
    finding_of_open = _finding(db, old_sweep, b, open_first)
    finding_of_resolved = _finding(db, old_sweep, a, resolved_1)
    finding_recent = _finding(db, new_sweep, a, recent)
    db.execute("UPDATE events SET recorded_at = ? WHERE id != ?", [_iso(OLD), recent])
    db.execute("UPDATE tripwire_messages SET received_at = ?", [_iso(OLD)])
    alerts_before = list(db.execute("SELECT * FROM alerts ORDER BY id"))

    nothing = prune(db)  # retention off by default
    assert (nothing.events, nothing.messages, nothing.findings) == (0, 0, 0)

    set_setting(db, "retention.events_days", "30")
    set_setting(db, "retention.evidence_days", "30")
    result = prune(db)
    assert _ids(db, "events") == {open_first, mail_first, recent, unread}
    assert {resolved_1, resolved_2, open_later, mail_later}.isdisjoint(_ids(db, "events"))
    assert (result.events, result.messages, result.findings) == (4, 1, 1)
    assert _ids(db, "tripwire_messages") == {kept_message}
    assert _ids(db, "sweep_findings") == {finding_of_open, finding_recent} and finding_of_resolved
    assert list(db.execute("SELECT * FROM alerts ORDER BY id")) == alerts_before  # alerts are never pruned
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert {row[0] for row in db.execute("SELECT event_id FROM alert_events")} == {open_first, mail_first, recent}
    assert dropped_message not in _ids(db, "tripwire_messages")

    # Correlation goes on from its cursor: the unread event is folded into the open alert after the prune,
    # as its second event; being old, the next prune takes it and still keeps the first.
    assert correlate_all(db).events == 1
    assert prune(db).events == 1
    assert _ids(db, "events") == {open_first, mail_first, recent}


def test_daily_job_is_scheduled_and_prunes(db, db_path, add_hand_canaries, caplog):
    canary = add_hand_canaries(count=1)[0]
    old = record_event(db, channel="dns", canary_id=canary["id"], severity="low")
    correlate_all(db)
    resolve(db, 1, "soc")
    db.execute("UPDATE events SET recorded_at = ?", [_iso(OLD)])
    set_setting(db, "retention.events_days", "7")
    set_setting(db, "retention.hour", "4")
    ctx = ServeContext(db_path=db_path, scheduler=BackgroundScheduler(timezone="UTC"))
    service = OpsService(ctx)
    service.start()
    ctx.scheduler.start()
    try:
        job = ctx.scheduler.get_job("ops-retention")
        assert job is not None and "hour='4'" in str(job.trigger)
        assert service.scheduler_alive() is None
        with caplog.at_level(logging.INFO, logger="canary.ops"):
            job.func()
        assert "retention: pruned 1 events" in caplog.text
        assert old not in _ids(db, "events")
    finally:
        service.stop()
        ctx.scheduler.shutdown(wait=False)
    assert ctx.scheduler.get_job("ops-retention") is None
    assert service.scheduler_alive() == "the scheduler is not running"  # what /readyz then reports
    assert json.loads(db.execute("SELECT value FROM settings WHERE key = 'retention.hour'").fetchone()[0]) == 4
