"""Delivery to real peers on 127.0.0.1: webhooks (plain and signed), SMTP via apprise, syslog/CEF, JSON lines."""

from __future__ import annotations

import email
import email.header
import json
import socket
import ssl
import time

import pytest
from aiosmtpd.controller import Controller

from canary.alert.correlate import correlate_all
from canary.alert.destinations import add_destination
from canary.alert.model import list_alerts
from canary.alert.outbox import prune_delivered
from canary.alert.ratelimit import RateLimiter
from canary.settings import set_setting
from canary.store.events import list_events
from tests.support.certs import self_signed_certificate
from tests.support.peers.alert_receiver import Receiver, Workers, hit
from tests.support.ports import free_port
from tests.support.wait import wait_for


def _pending(db) -> int:
    return db.execute("SELECT COUNT(*) FROM alert_outbox WHERE state = 'pending'").fetchone()[0]


def test_receiver_down_then_up_gets_every_alert_once(fast_alerts, db, db_path, add_hand_canaries, receiver):
    add_destination(db, receiver.url)
    receiver.down()
    canaries = add_hand_canaries("ehr-a", 5)
    with Workers(db_path):
        for canary in canaries:
            hit(db, canary["id"], group=f"tripwire:http:{canary['id']}")
        wait_for(lambda: db.execute(
            "SELECT failures FROM alert_destinations").fetchone()[0] >= 3, timeout=10)
        # Every alert queued, none through: the receiver refuses connections while down, so this holds
        # at any moment (no fixed sleep to "let it fail").
        wait_for(lambda: _pending(db) == 5, timeout=10)
        assert receiver.hits == {}
        receiver.up()
        wait_for(lambda: _pending(db) == 0, timeout=15)
    assert len(receiver.received) == 5
    assert set(receiver.hits.values()) == {1}  # nothing reached it twice
    alerts = {a["id"]: a for a in list_alerts(db)}
    for key, body in receiver.received.items():
        assert body["idempotency_key"] == key
        assert body["id"] in alerts
        listed = {k: v for k, v in alerts[body["id"]].items() if k not in ("updated_at",)}
        sent = {k: v for k, v in body.items() if k not in ("updated_at", "idempotency_key")}
        assert sent == listed  # the same object as 'canary alerts --json'
    assert db.execute("SELECT failures, failing_since FROM alert_destinations").fetchone() == (0, None)


def test_signed_webhook_carries_a_verifiable_hmac(fast_alerts, db, add_hand_canaries, receiver, delivery):
    destination = add_destination(db, receiver.url.replace("json://", "hmac://"))
    assert destination.secret
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"], channel="leak", severity="critical", group="sweep:1")
    correlate_all(db)
    delivery.run_once()
    (key,) = receiver.received
    assert receiver.verified(key, destination.secret)
    assert not receiver.verified(key, "another secret")
    receiver.raw[key] = receiver.raw[key].replace(b"critical", b"low")  # a tampered body fails the check
    assert not receiver.verified(key, destination.secret)


def test_routing_by_min_severity_and_system(fast_alerts, db, add_hand_canaries, receiver, tmp_path):
    ehr = add_hand_canaries("ehr-a", 1)[0]
    lab = add_hand_canaries("lab-b", 1)[0]
    critical_only = add_destination(db, receiver.url, min_severity="critical")
    lab_only = add_destination(db, f"jsonl://{tmp_path}/lab.jsonl", systems=["lab-b"])
    hit(db, ehr["id"], severity="high", group="g-ehr")
    hit(db, lab["id"], severity="critical", channel="leak", group="g-lab")
    correlate_all(db)
    routed = sorted(db.execute("SELECT a.key, o.destination_id FROM alert_outbox o "
                               "JOIN alerts a ON a.id = o.alert_id").fetchall())
    assert routed == [("g-lab", critical_only.id), ("g-lab", lab_only.id)]


def test_rate_limit_delays_but_never_drops(fast_alerts, db, add_hand_canaries, receiver, delivery):
    limiter = RateLimiter()
    assert [limiter.reserve(1, 6, now=100.0) for _ in range(2)] == [0.0, pytest.approx(10.0)]
    assert limiter.reserve(1, 6, now=110.0) == 0.0

    set_setting(db, "alert.rate_per_minute", "6")  # one now, then one every ten seconds
    add_destination(db, receiver.url)
    for canary in add_hand_canaries("ehr-a", 3):
        hit(db, canary["id"])
    correlate_all(db)
    assert delivery.run_once() == 1
    assert len(receiver.received) == 1
    later = db.execute("SELECT next_attempt_at, attempts FROM alert_outbox WHERE state = 'pending'").fetchall()
    assert len(later) == 2  # waiting, not dropped, and not counted as failed attempts
    assert all(due > time.time() + 5 and attempts == 0 for due, attempts in later)
    assert db.execute("SELECT failures FROM alert_destinations").fetchone()[0] == 0
    db.execute("UPDATE alert_outbox SET next_attempt_at = 0")  # their turn has come
    set_setting(db, "alert.rate_per_minute", "0")
    delivery.run_once()
    assert len(receiver.received) == 3 and _pending(db) == 0


def test_destination_failing_for_long_raises_its_own_alert(fast_alerts, db, db_path, add_hand_canaries,
                                                           receiver, tmp_path):
    set_setting(db, "alert.destination_warning_seconds", "0.3")
    broken = add_destination(db, receiver.url)
    receiver.down()
    log = tmp_path / "siem.jsonl"
    add_destination(db, f"jsonl://{log}")
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"], group="g")
    with Workers(db_path):
        wait_for(lambda: any(a["channel"] == "notify" for a in list_alerts(db)), timeout=10)
        wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 2, timeout=10)
    warnings = list_events(db, channel="notify")
    assert len(warnings) == 1 and warnings[0]["details"]["destination_id"] == broken.id
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {line["channel"] for line in lines} == {"http", "notify"}
    notify = next(line for line in lines if line["channel"] == "notify")
    assert "destination" in notify["text"]["en"] and notify["severity"] == "high"
    assert log.stat().st_mode & 0o777 == 0o600


def test_syslog_cef_line(fast_alerts, db, add_hand_canaries, udp_listener, delivery):
    port = udp_listener.getsockname()[1]
    add_destination(db, f"syslog://127.0.0.1:{port}", min_severity="high")
    canary = add_hand_canaries("ehr-a", 1)[0]
    hit(db, canary["id"], channel="access-log", severity="critical", account="jdupont", group="access:ehr-a:jdupont")
    correlate_all(db)
    delivery.run_once()
    message = udp_listener.recv(65535).decode()
    assert message.startswith("<162>1 ")  # local4.crit
    cef = message[message.index("CEF:0|"):]
    assert cef.startswith("CEF:0|canary|canary|1|access-log|Disable account jdupont on ehr-a")
    assert "|10|" in cef and "externalId=canary-" in cef and "cs1=ehr-a" in cef and "cs3=jdupont" in cef


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd API
        self.messages.append(envelope)
        return "250 OK"


def _subject(message) -> str:
    return str(email.header.make_header(email.header.decode_header(message["Subject"])))


def _body(message) -> str:
    part = message.get_payload(0) if message.is_multipart() else message
    return part.get_payload(decode=True).decode()


def test_mailto_through_apprise_smtp_down_then_up(fast_alerts, db, db_path, add_hand_canaries):
    """apprise 'mailto://' is plain SMTP (no TLS) to host:port; the mail server is down first, then up."""
    port = free_port()  # aiosmtpd checks readiness by connecting, so it needs the real port up front
    add_destination(db, f"mailto://127.0.0.1:{port}?from=canary@hopital.example&to=astreinte@hopital.example")
    canaries = add_hand_canaries("ehr-a", 3)
    for canary in canaries:
        hit(db, canary["id"], channel="leak", severity="critical", group=f"sweep:{canary['id']}")
    mailbox = _Mailbox()
    with Workers(db_path):
        wait_for(lambda: db.execute("SELECT failures FROM alert_destinations").fetchone()[0] >= 2)
        assert _pending(db) == 3
        controller = Controller(mailbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            wait_for(lambda: _pending(db) == 0, timeout=15)
        finally:
            controller.stop()
    messages = [email.message_from_bytes(envelope.original_content) for envelope in mailbox.messages]
    assert all(envelope.rcpt_tos == ["astreinte@hopital.example"] for envelope in mailbox.messages)
    keys = [message["Idempotency-Key"] for message in messages]
    assert len(keys) == len(set(keys)) == 3  # every alert once
    for message in messages:
        assert "Quoi :" in _body(message) and "What:" in _body(message)
        assert f"ref: {message['Idempotency-Key']}" in _body(message)
        assert _subject(message).startswith("[CRITIQUE/CRITICAL] Canary #")


def test_notify_test_reports_each_destination(fast_alerts, cli, db, receiver, tmp_path):
    good = add_destination(db, receiver.url)
    down = add_destination(db, "json://127.0.0.1:9/nothing-listens-here")
    out = cli("notify", "test", "--json")
    assert out.exit_code == 1
    report = {row["id"]: row for row in json.loads(out.output)}
    assert report[good.id]["ok"] is True and report[down.id]["ok"] is False
    assert "connection refused" in report[down.id]["error"]  # one readable line, not the library's text
    (body,) = receiver.received.values()
    assert body["test"] is True and body["channel"] == "test"


def test_backoff_doubles_per_round_not_per_message(fast_alerts, db, add_hand_canaries, receiver, delivery):
    set_setting(db, "alert.retry_base_seconds", "5")
    set_setting(db, "alert.retry_max_seconds", "60")
    add_destination(db, receiver.url)
    receiver.down()
    for canary in add_hand_canaries("ehr-a", 10):
        hit(db, canary["id"])
    correlate_all(db)
    assert delivery.run_once() == 10
    assert delivery.run_once() == 0  # the destination backs off: nothing is due
    failures, retry_at = db.execute("SELECT failures, retry_at FROM alert_destinations").fetchone()
    assert failures == 1 and 4 < retry_at - time.time() <= 5
    due = {row[0] for row in db.execute("SELECT next_attempt_at FROM alert_outbox WHERE state = 'pending'")}
    assert due == {retry_at} and _pending(db) == 10


def test_https_webhook_checks_the_certificate(fast_alerts, db, add_hand_canaries, tmp_path, monkeypatch, delivery):
    cert, key = self_signed_certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    secure = Receiver(tls=tls)
    try:
        destination = add_destination(db, secure.url.replace("jsons://", "hmacs://"))
        hit(db, add_hand_canaries("ehr-a", 1)[0]["id"])
        correlate_all(db)
        delivery.run_once()  # an unknown certificate authority: refused, kept for later
        assert secure.received == {} and _pending(db) == 1
        assert "TLS certificate" in db.execute("SELECT last_error FROM alert_outbox").fetchone()[0]
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # the hospital's own CA, as an operator sets it
        db.execute("UPDATE alert_outbox SET next_attempt_at = 0")
        db.execute("UPDATE alert_destinations SET retry_at = NULL")
        delivery.run_once()
        (key_seen,) = secure.received
        assert secure.verified(key_seen, destination.secret) and _pending(db) == 0
    finally:
        secure.down()


def test_syslog_over_tcp_sends_one_line(fast_alerts, db, add_hand_canaries, delivery):
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(5)
        add_destination(db, f"syslog+tcp://127.0.0.1:{server.getsockname()[1]}")
        hit(db, add_hand_canaries("ehr-a", 1)[0]["id"], channel="dns", severity="high", source="203.0.113.9")
        correlate_all(db)
        delivery.run_once()
        connection, _ = server.accept()
        with connection:
            line = connection.makefile("rb").readline().decode()
    assert line.endswith("\n") and line.count("\n") == 1
    assert line.startswith("<163>1 ") and "CEF:0|canary|canary|1|dns|" in line and "|8|" in line
    assert _pending(db) == 0


def test_old_delivered_messages_are_pruned_pending_ones_never(fast_alerts, db, add_hand_canaries, receiver,
                                                              delivery):
    add_destination(db, receiver.url)
    for canary in add_hand_canaries("ehr-a", 2):
        hit(db, canary["id"])
    correlate_all(db)
    delivery.run_once()
    receiver.down()
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"])
    correlate_all(db)
    db.execute("UPDATE alert_outbox SET delivered_at = '2020-01-01T00:00:00.000Z' WHERE state = 'delivered'")
    db.execute("UPDATE alert_outbox SET created_at = '2020-01-01T00:00:00.000Z'")
    assert prune_delivered(db, 30) == 2
    assert db.execute("SELECT state FROM alert_outbox").fetchall() == [("pending",)]


def test_delivery_errors_never_show_url_credentials(fast_alerts, db, add_hand_canaries, delivery):
    add_destination(db, "json://hook-user:hunter22@127.0.0.1:9/hook?token=t0ps3cret")
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"])
    correlate_all(db)
    delivery.run_once()
    outbox_error, destination_error = db.execute(
        "SELECT o.last_error, d.last_error FROM alert_outbox o JOIN alert_destinations d ON d.id = o.destination_id"
    ).fetchone()
    for error in (outbox_error, destination_error):
        assert "connection refused" in error
        assert "t0ps3cret" not in error and "hunter22" not in error
