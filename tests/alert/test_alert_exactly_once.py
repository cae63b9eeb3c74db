"""Delivery exactly once per alert version as the receiver sees it: the "delivered" mark survives a long
registry lock (the mark is retried, the send never), each message is marked as soon as it is accepted,
(a restored registry's keys: tests/ops/test_backup.py)."""

from __future__ import annotations

import sqlite3
import threading
import time

from canary.alert.correlate import correlate_all
from canary.alert.delivery import DeliveryWorker
from canary.alert.destinations import add_destination
from canary.settings import set_setting
from canary.store import open_db
from tests.support.peers.alert_receiver import hit
from tests.support.wait import wait_for


def _states(db) -> dict[str, str]:
    return dict(db.execute("SELECT idempotency_key, state FROM alert_outbox").fetchall())


def test_a_lock_held_past_the_lease_while_marking_never_sends_a_page_twice(fast_alerts, db, db_path,
                                                                        add_hand_canaries, receiver):
    set_setting(db, "alert.lease_seconds", "1")
    add_destination(db, receiver.url)
    canaries = add_hand_canaries("ehr-a", 3)
    for canary in canaries:
        hit(db, canary["id"], group=f"tripwire:http:{canary['id']}")
    correlate_all(db)
    keys = set(_states(db))
    receiver.delay = 0.5  # the pages are on the wire when another process takes the registry
    db.execute("PRAGMA busy_timeout=100")  # this worker gives up waiting for the lock quickly
    worker = DeliveryWorker(db)
    passes: list[BaseException | int] = []

    def one_pass() -> None:
        try:
            passes.append(worker.run_once())
        except BaseException as exc:  # what the loop would log and retry
            passes.append(exc)

    locker = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        runner = threading.Thread(target=one_pass)
        runner.start()
        wait_for(lambda: len(receiver.hits) == 3)
        locker.execute("BEGIN EXCLUSIVE")  # a long seed, a stuck backup...
        runner.join(timeout=30)
        reader = sqlite3.connect(str(db_path))
        leases = reader.execute("SELECT MAX(lease_until) FROM alert_outbox").fetchone()[0]
        reader.close()
        wait_for(lambda: time.time() > leases)  # held past the messages' lease
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    receiver.delay = 0.0
    db.execute("PRAGMA busy_timeout=5000")
    for _ in range(20):
        one_pass()
        if set(_states(db).values()) == {"delivered"}:
            break
    assert set(_states(db).values()) == {"delivered"}
    assert set(receiver.hits) == keys
    assert all(count == 1 for count in receiver.hits.values()), receiver.hits
    worker.close()


def test_each_message_is_marked_delivered_as_soon_as_it_is_accepted(fast_alerts, db, db_path, add_hand_canaries,
                                                                   receiver):
    set_setting(db, "alert.delivery_threads", "2")
    add_destination(db, receiver.url)
    canaries = add_hand_canaries("ehr-a", 6)
    for canary in canaries:
        hit(db, canary["id"], group=f"tripwire:http:{canary['id']}")
    correlate_all(db)
    receiver.delays[sorted(_states(db))[0]] = 3.0
    worker = DeliveryWorker(db)
    runner = threading.Thread(target=worker.run_once)
    runner.start()
    other = open_db(db_path)
    try:
        # Five pages accepted while the sixth is still on the wire: all five are already marked, so a
        # kill now would resend one message, not the whole batch.
        wait_for(lambda: set(_states(other).values()) == {"delivered", "pending"}
                 and list(_states(other).values()).count("delivered") == 5, timeout=20)
    finally:
        other.close()
        runner.join(timeout=60)
        worker.close()
    assert set(_states(db).values()) == {"delivered"}
    assert all(count == 1 for count in receiver.hits.values())
