"""A delivery worker that cannot run (a bad setting) says so on every destination instead of going quiet."""

from __future__ import annotations

import json

from canary.alert.correlate import correlate_all
from canary.alert.destinations import add_destination, destination_status
from tests.support.peers.alert_receiver import hit


def _store_raw(db, name: str, value) -> None:
    """A value written by an older version, before settings were validated (bypasses `config set`)."""
    db.execute("INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES (?, ?, '2026-01-01T00:00:00')",
               [name, json.dumps(value)])


def test_bad_cidr_marks_every_destination_failed_with_the_reason(fast_alerts, db, add_hand_canaries, receiver,
                                                                    delivery, cli):
    first = add_destination(db, receiver.url)
    second = add_destination(db, receiver.url.replace("/hook", "/other"))
    _store_raw(db, "alert.allowed_target_cidrs", ["127.0.0.1/32", "not-a-cidr"])
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"], group="tripwire:http:x")
    correlate_all(db)
    delivery.run_once()
    assert receiver.total == 0
    status = {row["id"]: row for row in destination_status(db)}
    for destination in (first, second):
        assert status[destination.id]["failures"] >= 1
        assert "not-a-cidr" in status[destination.id]["last_error"]
        assert "alert.allowed_target_cidrs" in status[destination.id]["last_error"]
    # the messages were not claimed and lost in a lease: still pending
    assert db.execute("SELECT COUNT(*) FROM alert_outbox WHERE state = 'pending' AND lease_owner IS NULL"
                      ).fetchone()[0] == 2
    listed = cli("notify", "list")
    assert "not-a-cidr" in listed.output
    doctor = cli("doctor")
    assert doctor.exit_code == 1
    assert "alert.allowed_target_cidrs" in doctor.output and "not-a-cidr" in doctor.output

    # fixed: the worker runs again, delivers, and the destinations are healthy
    _store_raw(db, "alert.allowed_target_cidrs", ["127.0.0.1/32"])
    delivery.run_once()
    assert receiver.total == 2  # one page to each destination
    status = {row["id"]: row for row in destination_status(db)}
    assert all(row["failures"] == 0 and row["last_error"] is None for row in status.values())
    checks = {c["check"]: c for c in json.loads(cli("doctor", "--json").output)["checks"]}
    assert checks["settings"]["status"] == "ok" and checks["delivery"]["status"] == "ok"


def test_bad_environment_value_blocks_delivery_loudly(fast_alerts, db, add_hand_canaries, receiver, delivery,
                                                      monkeypatch):
    destination = add_destination(db, receiver.url)
    monkeypatch.setenv("CANARY_ALERT_ALLOWED_TARGET_CIDRS", "10.20.0.0/16,not-a-cidr")
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"], group="tripwire:http:y")
    correlate_all(db)
    delivery.run_once()
    (row,) = destination_status(db)
    assert row["id"] == destination.id and "CANARY_ALERT_ALLOWED_TARGET_CIDRS" in row["last_error"]
