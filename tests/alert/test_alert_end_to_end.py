"""From a watcher to the on-call: a real tripwire callback hit becomes an alert at a real webhook receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import requests

from canary.alert.correlate import cursor_position
from canary.alert.destinations import add_destination
from canary.serve import ServeContext
from canary.settings import set_setting
from canary.store.registry import add_system
from canary.watch.tripwire.services import CallbackService, DnsService
from canary.watch.tripwire.services import services as tripwire_services
from tests.support.peers.alert_receiver import Workers
from tests.support.wait import wait_for


def test_callback_hit_reaches_the_webhook_with_system_and_establishment(fast_alerts, db, db_path,
                                                                        add_hand_canaries, receiver):
    set_setting(db, "tripwire.base_url", "https://portail-patient.example.fr")
    add_system(db, "dpi-chu", "ehr", establishment="CHU de Lyon")
    canary = add_hand_canaries("dpi-chu", 1)[0]
    add_destination(db, receiver.url, min_severity="high")
    listeners = tripwire_services(ServeContext(db_path=db_path), {"callback_host": "127.0.0.1", "callback_port": 0})
    for listener in listeners:
        listener.start()
    try:
        with Workers(db_path):
            callback = next(s for s in listeners if hasattr(s, "port"))
            answer = requests.get(f"http://127.0.0.1:{callback.port}/mon-espace/documents/{canary['token']}",
                                  headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"},
                                  timeout=5)
            assert answer.status_code == 200
            wait_for(lambda: len(receiver.received) == 1, timeout=15)
    finally:
        for listener in reversed(listeners):
            listener.stop()
    (alert,) = receiver.received.values()
    assert (alert["channel"], alert["severity"], alert["systems"]) == ("http", "high", ["dpi-chu"])
    assert alert["canaries"] == [canary["id"]] and alert["establishments"] == ["CHU de Lyon"]
    assert alert["key"].startswith("tripwire:http:from:127.0.0.1:ua:")  # one client, one incident
    assert "dpi-chu (CHU de Lyon) ×1" in alert["text"]["fr"]


def test_access_log_burst_replayed_becomes_one_critical_alert_naming_the_account(cli, db, add_hand_canaries,
                                                                                tmp_path):
    add_system(db, "dpi-chu", "ehr", establishment="CHU de Lyon")
    canaries = add_hand_canaries("dpi-chu", 8)
    trail = tmp_path / "audit.log"
    trail.write_text("".join(f"2026-11-02T09:0{i}:00Z jdupont {c['ipp']}\n" for i, c in enumerate(canaries)),
                     encoding="utf-8")
    replay = cli("logs", "replay", "dpi-chu", str(trail), "--format", "regex", "--pattern",
                 r"(?P<time>\S+) (?P<user>\w+) (?P<ipp>\d+)", "--json")
    assert replay.exit_code == 0, replay.output
    alerts = json.loads(cli("alerts", "--json").output)
    assert len(alerts) == 1  # one account, one alert, however many records it read
    (alert,) = alerts
    assert (alert["channel"], alert["severity"], alert["count"]) == ("access-log", "critical", 8)
    assert alert["accounts"] == ["jdupont"] and alert["account_systems"] == ["dpi-chu"]
    assert alert["exfiltration"] is True and alert["version"] == 1  # correlated in one pass: paged once
    assert "Disable account jdupont on dpi-chu" in alert["text"]["en"]
    assert "Désactivez le compte jdupont sur dpi-chu" in alert["text"]["fr"]


def test_one_canary_read_in_the_ehr_opened_and_resolved_is_one_incident_and_one_page(
        fast_alerts, cli, db, db_path, add_hand_canaries, receiver, tmp_path):
    """The EHR audit log, the callback link and its DNS name, all on one canary within a minute: one alert
    naming the three channels, one page at the webhook."""
    from dnslib import DNSRecord

    from canary.store.tokens import token_links

    set_setting(db, "tripwire.base_url", "https://portail-patient.example.fr")
    set_setting(db, "tripwire.dns_zone", "cdn-chu.example.fr")
    add_system(db, "dpi-chu", "ehr", establishment="CHU de Lyon")
    canary = add_hand_canaries("dpi-chu", 1)[0]
    links = token_links(db, canary["token"])
    add_destination(db, receiver.url, min_severity="low")
    trail = tmp_path / "audit.log"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    trail.write_text(f"{now} jdupont {canary['ipp']}\n", encoding="utf-8")
    replay = cli("logs", "replay", "dpi-chu", str(trail), "--format", "regex", "--pattern",
                 r"(?P<time>\S+) (?P<user>\w+) (?P<ipp>\d+)", "--json")
    assert replay.exit_code == 0, replay.output
    listeners = tripwire_services(ServeContext(db_path=db_path), {"callback_host": "127.0.0.1", "callback_port": 0,
                                                                  "dns": True, "dns_host": "127.0.0.1", "dns_port": 0})
    for listener in listeners:
        listener.start()
    try:
        callback = next(s for s in listeners if isinstance(s, CallbackService))
        dns = next(s for s in listeners if isinstance(s, DnsService))
        answer = requests.get(f"http://127.0.0.1:{callback.port}/mon-espace/documents/{canary['token']}",
                              headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}, timeout=5)
        assert answer.status_code == 200
        DNSRecord.question(links["hostname"]).send("127.0.0.1", dns.port, timeout=5)
        wait_for(lambda: db.execute("SELECT COUNT(DISTINCT channel) FROM events").fetchone()[0] == 3, timeout=15)
        with Workers(db_path):
            wait_for(lambda: len(receiver.received) >= 1, timeout=15)
            wait_for(lambda: db.execute("SELECT COUNT(*) FROM alert_outbox WHERE state = 'pending'").fetchone()[0]
                     == 0 and cursor_position(db) == db.execute("SELECT MAX(id) FROM events").fetchone()[0],
                     timeout=15)
    finally:
        for listener in reversed(listeners):
            listener.stop()
    alerts = json.loads(cli("alerts", "--json").output)
    assert len(alerts) == 1, [(a["key"], a["channels"]) for a in alerts]
    (alert,) = alerts
    assert sorted(alert["channels"]) == ["access-log", "dns", "http"]
    assert alert["canaries"] == [canary["id"]] and alert["count"] == 3
    assert alert["accounts"] == ["jdupont"] and alert["account_systems"] == ["dpi-chu"]
    assert len(receiver.received) == 1  # one page: the later channels added evidence, not pages
