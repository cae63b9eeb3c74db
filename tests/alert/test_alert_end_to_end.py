"""From a watcher to the on-call: a real tripwire callback hit becomes an alert at a real webhook receiver."""

from __future__ import annotations

import json

import requests

from canary.alert.destinations import add_destination
from canary.serve import ServeContext
from canary.settings import set_setting
from canary.store.registry import add_system
from canary.watch.tripwire.services import services as tripwire_services
from tests.alert.alert_peers import Workers
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
