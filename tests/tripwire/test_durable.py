"""Nothing answered is lost: hits acknowledged while the registry refuses writes (locked, disk full)
are journalled beside it and stored exactly once when it takes writes again, with a watch-degraded
event (and alert) saying so. Real conditions only: a second connection holding the write lock, a
tiny tmpfs filled to the last byte."""

from __future__ import annotations

import contextlib
import json
import os
import smtplib
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from dnslib import DNSRecord

from canary.alert.correlate import correlate_all
from canary.settings import set_setting
from canary.store.journal import journal_path
from canary.watch.tripwire.webhooks import hmac_sha256_signature
from tests.support.events import events_of
from tests.support.wait import wait_for

WEBHOOK_SECRET = "s3cret-for-tests"  # as set by the configured fixture
ZONE = "docs.example.fr"


@contextlib.contextmanager
def registry_locked(db_path: Path) -> Iterator[None]:
    """Another process's long write transaction, as a long seed used to hold."""
    conn = sqlite3.connect(str(db_path), timeout=5, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_hits_answered_while_the_registry_is_locked_are_stored_once_afterwards(
        start_listeners, canaries, db, db_path, mail_domain):
    set_setting(db, "journal.wait_ms", "200")
    listeners = start_listeners(dns=True, smtp=True)
    base = f"http://127.0.0.1:{listeners['CallbackService'].port}"
    token = canaries[0]["token"]
    body = json.dumps({"from": "+33699887766", "to": canaries[1]["phones"][0], "message_uuid": "m-7"}).encode()
    with registry_locked(db_path):
        started = time.monotonic()
        answers = [requests.get(f"{base}/mon-espace/documents/{token}?n={i}", timeout=10).status_code
                   for i in range(5)]
        answers.append(requests.get(f"{base}/d/abcdefghijklmnopqrst", timeout=10).status_code)  # no canary
        answers.append(requests.post(f"{base}/hooks/sms", data=body, timeout=10, headers={
            "Content-Type": "application/json", "X-Signature": hmac_sha256_signature(WEBHOOK_SECRET, body)}
        ).status_code)
        reply = DNSRecord.parse(DNSRecord.question(f"{canaries[1]['token']}.{ZONE}").send(
            "127.0.0.1", listeners["DnsService"].port, timeout=10))
        with smtplib.SMTP("127.0.0.1", listeners["SmtpService"].port, timeout=10) as client:
            refused = client.sendmail("x@example.org", [canaries[0]["email"]], b"Subject: dossier\r\n\r\nbonjour\r\n")
        took = time.monotonic() - started
        journal = journal_path(db_path, "tripwire")
        assert answers == [200] * 7 and reply.rr and refused == {}
        assert took < 8  # answered after the short wait, not after the lock
        assert stat.S_IMODE(os.stat(journal).st_mode) == 0o600
        kept = [json.loads(line) for line in journal.read_bytes().split(b"\0")[0].splitlines()]
        assert [entry["kind"] for entry in kept].count("http") == 6 and len(kept) == 9
    wait_for(lambda: len(events_of(db_path, "watch")) == 1)
    assert len(events_of(db_path, "http")) == 5
    assert [e["canary_id"] for e in events_of(db_path, "sms")] == [canaries[1]["id"]]
    assert [e["canary_id"] for e in events_of(db_path, "dns")] == [canaries[1]["id"]]
    assert [e["canary_id"] for e in events_of(db_path, "smtp")] == [canaries[0]["id"]]
    assert journal.read_bytes().strip(b"\0") == b""  # replayed, then emptied
    [degraded] = events_of(db_path, "watch")
    assert degraded["action"] == "watch-degraded" and degraded["severity"] == "high"
    assert degraded["details"]["journalled"] == 9 and degraded["details"]["lost"] == 0
    assert "locked" in degraded["details"]["reason"]
    # Later hits go straight to the registry again, and the journal replays nothing twice.
    assert requests.get(f"{base}/x/{token}", timeout=5).status_code == 200
    assert len(events_of(db_path, "http")) == 6
    alerts = correlate_all(db)
    assert alerts.alerts_created >= 1
    from canary.alert.model import list_alerts

    [alert] = [a for a in list_alerts(db) if a["key"] == "watch-degraded:tripwire-writer"]
    assert alert["severity"] == "high" and alert["channel"] == "watch"
    assert "tripwire-writer: 9 journalled, 0 lost" in str(alert)


def test_a_journal_left_by_a_crashed_run_is_replayed_at_start_exactly_once(start_listeners, canaries, db, db_path):
    """A run killed after journalling: the next start replays it; an id already stored is skipped."""
    from canary.store.journal import Journal

    hit = {"channel": "http", "source": "192.0.2.4", "source_ip": "192.0.2.4", "user_agent": None,
           "details": {"method": "GET", "path": "/x"}, "time": "2026-12-04T20:00:00.000Z", "dedup_key": None,
           "noise_hint": None}
    journal = Journal(journal_path(db_path, "tripwire"), 64 << 10)
    entry = {"id": "crashed-1", "kind": "http", "payload": {"hit": hit, "candidates": [canaries[0]["token"]]}}
    journal.append([entry, {**entry, "id": "crashed-2"}])
    db.execute("INSERT INTO journal_replayed (id, replayed_at) VALUES ('crashed-2', '2026-12-04T20:00:01Z')")
    db.conn.commit()
    journal.close()
    start_listeners()
    wait_for(lambda: len(events_of(db_path, "watch")) == 1)
    [event] = events_of(db_path, "http")
    assert event["canary_id"] == canaries[0]["id"] and event["time"] == "2026-12-04T20:00:00.000Z"
    assert events_of(db_path, "watch")[0]["details"]["replayed"] == 1


def test_when_even_the_journal_refuses_the_loss_is_loud_readiness_fails_and_an_alert_follows(
        start_listeners, canaries, db, db_path, caplog):
    from canary.serve import service_checks
    from canary.web import create_app

    set_setting(db, "journal.wait_ms", "100")
    set_setting(db, "journal.max_bytes", "300")  # a journal too small for even one sighting
    listeners = start_listeners()
    services = list(listeners.values())
    console = create_app({"DATABASE": str(db_path), "READINESS_CHECKS": service_checks(services)}).test_client()
    assert console.get("/readyz").status_code == 200
    base = f"http://127.0.0.1:{listeners['CallbackService'].port}"
    with registry_locked(db_path):
        answer = requests.get(f"{base}/mon-espace/documents/{canaries[0]['token']}", timeout=10)
        assert answer.status_code == 200  # the same answer as always: the visitor learns nothing
        ready = console.get("/readyz")
        # The probe names the failing service only; the reason goes to the log.
        assert ready.status_code == 503 and "failing" in ready.get_json()["checks"].values()
    assert any("1 sighting(s) lost" in r.getMessage() for r in caplog.records)
    assert any(r.levelname == "CRITICAL" and "LOST" in r.getMessage() for r in caplog.records)
    assert any(canaries[0]["token"] in r.getMessage() for r in caplog.records)  # the hit itself, to re-enter
    wait_for(lambda: len(events_of(db_path, "watch")) == 1)
    [degraded] = events_of(db_path, "watch")
    assert degraded["details"]["lost"] == 1 and degraded["details"]["journalled"] == 0
    assert console.get("/readyz").status_code == 200
