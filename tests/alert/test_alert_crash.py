"""A delivery worker killed mid-delivery (SIGKILL) and restarted: every alert arrives, none twice per key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from canary.alert.correlate import correlate_all
from canary.alert.destinations import add_destination
from canary.settings import set_setting
from tests.support.peers.alert_receiver import hit
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _worker(db_path: Path, lease: str = "1") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CANARY_ALERT_ALLOWED_TARGET_CIDRS": "127.0.0.1/32",
           "CANARY_ALERT_LEASE_SECONDS": lease, "CANARY_ALERT_POLL_SECONDS": "0.05",
           "CANARY_ALERT_DELIVERY_THREADS": "2", "CANARY_ALERT_RATE_PER_MINUTE": "0",
           "CANARY_ALERT_RETRY_BASE_SECONDS": "0.05", "CANARY_ALERT_RETRY_MAX_SECONDS": "0.3"}
    return subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "notify", "run"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _delivered(db) -> int:
    return db.execute("SELECT COUNT(*) FROM alert_outbox WHERE state = 'delivered'").fetchone()[0]


def test_killed_worker_restarted_delivers_everything_once_per_key(db, db_path, add_hand_canaries, receiver,
                                                                 tmp_path):
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    webhook = add_destination(db, receiver.url)
    log = tmp_path / "siem.jsonl"
    siem = add_destination(db, f"jsonl://{log}")
    canaries = add_hand_canaries("ehr-a", 6)
    for canary in canaries:
        hit(db, canary["id"], group=f"tripwire:http:{canary['id']}")
    correlate_all(db)
    expected = {row[0] for row in db.execute("SELECT idempotency_key FROM alert_outbox")}
    assert len(expected) == 12

    receiver.delay = 30.0  # the receiver takes the request and answers too late: the sender dies meanwhile
    first = _worker(db_path)
    try:
        wait_for(lambda: len(receiver.received) >= 1, timeout=20)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    in_flight = set(receiver.received)
    assert _delivered(db) < 12  # killed before it could mark the webhook messages delivered

    receiver.delay = 0.0
    second = _worker(db_path)
    try:
        wait_for(lambda: _delivered(db) == 12, timeout=30), second.stderr
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)
    assert second.returncode == 0

    # The receiver deduplicates on the key: it has every alert of its destination, and only those.
    assert set(receiver.received) == {key for key in expected if key.endswith(f"-d{webhook.id}")}
    # Only a message in flight at the kill may have been sent twice, with the same key.
    assert all(receiver.hits[key] == 1 for key in set(receiver.received) - in_flight)
    assert all(receiver.hits[key] <= 2 for key in in_flight)
    keys_in_file = {json.loads(line)["idempotency_key"] for line in log.read_text().splitlines()}
    assert keys_in_file == {key for key in expected if key.endswith(f"-d{siem.id}")}


def test_correlation_killed_mid_backlog_neither_loses_nor_repeats(db, db_path, add_hand_canaries, tmp_path):
    from canary.alert.correlate import cursor_position

    siem = add_destination(db, f"jsonl://{tmp_path}/siem.jsonl")
    set_setting(db, "alert.incident_window_seconds", "0")  # 800 keys, 800 alerts (50 canaries shared by them)
    canaries = add_hand_canaries("ehr-a", 50)
    total = 4000
    for i in range(total):  # a backlog: 800 correlation keys, 5 events each
        hit(db, canaries[i % 50]["id"], group=f"g{i % 800}", dedup_key=f"e{i}")
    last_id = db.execute("SELECT MAX(id) FROM events").fetchone()[0]

    worker = _worker(db_path)
    try:
        wait_for(lambda: cursor_position(db) > 0, timeout=30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert cursor_position(db) < last_id, "the kill should land before the backlog is done"

    correlate_all(db)  # the restart picks up at the stored cursor
    assert cursor_position(db) == last_id
    counted = db.execute("SELECT SUM(count), COUNT(*) FROM alerts").fetchone()
    assert counted == (total, 800)
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM alert_events").fetchone() == (total, total)
    mismatched = db.execute(
        "SELECT COUNT(*) FROM alerts a WHERE a.count != (SELECT COUNT(*) FROM alert_events e WHERE e.alert_id = a.id)"
    ).fetchone()[0]
    assert mismatched == 0
    pages = db.execute("SELECT COUNT(*) FROM alert_outbox WHERE destination_id = ?", [siem.id]).fetchone()[0]
    assert pages == 800  # one page per alert, none lost, none repeated


def test_a_restarted_worker_takes_over_its_dead_predecessors_leases_at_once(db, db_path, add_hand_canaries,
                                                                            receiver):
    """Same host, dead pid: the claimed rows go out now, not after the (here 10-minute) lease."""
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    webhook = add_destination(db, receiver.url)
    for canary in add_hand_canaries("ehr-a", 4):
        hit(db, canary["id"], group=f"tripwire:http:{canary['id']}")
    correlate_all(db)
    receiver.delay = 30.0
    first = _worker(db_path, lease="600")
    try:
        wait_for(lambda: len(receiver.received) >= 1, timeout=20)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    leased = db.execute("SELECT COUNT(*) FROM alert_outbox WHERE state = 'pending' AND lease_owner LIKE ?",
                        [f"%:{first.pid}:%"]).fetchone()[0]
    assert leased >= 1  # claimed by the dead worker, its lease running for ten minutes
    receiver.delay = 0.0
    second = _worker(db_path, lease="600")
    try:
        wait_for(lambda: _delivered(db) == 4, timeout=30), "the dead worker's leases were not reclaimed"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)
    assert set(receiver.received) == {row[0] for row in db.execute(
        "SELECT idempotency_key FROM alert_outbox WHERE destination_id = ?", [webhook.id])}
