"""Events -> alerts: naming every leaking system, aggregating, paging only on escalation, durably."""

from __future__ import annotations

import json

from canary.alert.correlate import correlate_all, correlate_once, cursor_position
from canary.alert.destinations import add_destination
from canary.alert.model import get_alert, list_alerts, resolve
from canary.settings import set_setting
from canary.store.registry import add_system
from tests.support.peers.alert_receiver import hit

JSON_KEYS = {"id", "state", "severity", "channel", "systems", "canaries", "count", "first_seen", "last_seen",
             "window"}


def _outbox_versions(db, alert_id):
    return [row[0] for row in db.execute(
        "SELECT version FROM alert_outbox WHERE alert_id = ? ORDER BY version", [alert_id])]


def test_dump_with_three_systems_names_all_three_with_counts(db, add_hand_canaries, cli):
    add_system(db, "ehr-lyon", "ehr", establishment="CHU de Lyon")
    add_system(db, "lab-sud", "lab", establishment="Laboratoire Sud")
    add_system(db, "billing-nord", "billing", establishment="Clinique du Nord")
    ehr, lab, billing = (add_hand_canaries(name, count) for name, count in
                         (("ehr-lyon", 4), ("lab-sud", 2), ("billing-nord", 1)))
    for canary in ehr + lab + billing:
        hit(db, canary["id"], channel="leak", severity="critical", group="sweep:17", source="paste:abc")

    result = correlate_all(db)
    assert (result.events, result.alerts_created, result.pages) == (7, 1, 1)
    out = cli("alerts", "--json")
    assert out.exit_code == 0
    alerts = json.loads(out.output)
    assert len(alerts) == 1
    alert = alerts[0]
    assert set(alert) >= JSON_KEYS
    assert alert["systems"] == ["billing-nord", "ehr-lyon", "lab-sud"]
    assert sorted(alert["canaries"]) == sorted(c["id"] for c in ehr + lab + billing)
    assert (alert["count"], alert["severity"], alert["channel"], alert["state"]) == (7, "critical", "leak", "open")
    counts = {d["system"]: (d["canaries"], d["establishment"]) for d in alert["by_system"]}
    assert counts == {"ehr-lyon": (4, "CHU de Lyon"), "lab-sud": (2, "Laboratoire Sud"),
                      "billing-nord": (1, "Clinique du Nord")}
    assert alert["establishments"] == ["CHU de Lyon", "Clinique du Nord", "Laboratoire Sud"]
    # The text names where, in both languages, with the count per system and what to do first.
    for language in ("fr", "en"):
        assert "ehr-lyon (CHU de Lyon) ×4" in alert["text"][language]
        assert "lab-sud (Laboratoire Sud) ×2" in alert["text"][language]
    assert "Vérifiez les exports" in alert["text"]["fr"] and "Check the export jobs" in alert["text"]["en"]


def test_same_key_aggregates_and_repages_only_on_escalation(db, add_hand_canaries):
    add_destination(db, "jsonl:///tmp/never-written.jsonl", min_severity="info")
    canary = add_hand_canaries("ehr-a", 1)[0]
    group = f"tripwire:http:{canary['id']}"
    hit(db, canary["id"], severity="low", group=group, source="previewer")
    correlate_once(db)
    alert_id = list_alerts(db)[0]["id"]
    assert _outbox_versions(db, alert_id) == [1]

    for _ in range(3):  # the same kind of hit again: counted, not paged again
        hit(db, canary["id"], severity="low", group=group, source="previewer")
    correlate_once(db)
    alert = get_alert(db, alert_id)
    assert (alert["count"], alert["severity"], alert["version"]) == (4, "low", 1)
    assert _outbox_versions(db, alert_id) == [1]
    assert "scanner" in alert["text"]["en"]

    hit(db, canary["id"], severity="high", group=group, source="198.51.100.7")  # a person now: escalation
    correlate_once(db)
    alert = get_alert(db, alert_id)
    assert (alert["count"], alert["severity"], alert["version"]) == (5, "high", 2)
    assert _outbox_versions(db, alert_id) == [1, 2]

    hit(db, canary["id"], severity="low", group=group)  # severity never goes down
    correlate_once(db)
    assert get_alert(db, alert_id)["severity"] == "high"
    assert len(list_alerts(db)) == 1


def test_new_system_in_a_dump_repages(db, add_hand_canaries):
    add_destination(db, "jsonl:///tmp/never-written.jsonl", min_severity="info")
    first = add_hand_canaries("ehr-a", 1)[0]
    second = add_hand_canaries("lab-b", 1)[0]
    hit(db, first["id"], channel="leak", severity="critical", group="sweep:1")
    correlate_once(db)
    hit(db, second["id"], channel="leak", severity="critical", group="sweep:1")
    correlate_once(db)
    alert = list_alerts(db)[0]
    assert alert["systems"] == ["ehr-a", "lab-b"] and alert["version"] == 2
    assert _outbox_versions(db, alert["id"]) == [1, 2]


def test_outside_the_window_or_after_resolution_opens_a_new_alert(db, add_hand_canaries):
    set_setting(db, "alert.window_seconds", "60")
    canary = add_hand_canaries("ehr-a", 1)[0]
    hit(db, canary["id"], time="2026-03-01T10:00:00.000Z")
    hit(db, canary["id"], time="2026-03-01T10:00:30.000Z")
    correlate_all(db)
    assert [a["count"] for a in list_alerts(db)] == [2]
    hit(db, canary["id"], time="2026-03-01T11:00:00.000Z")  # an hour later: a new alert
    correlate_all(db)
    assert [a["count"] for a in list_alerts(db)] == [1, 2]
    resolve(db, list_alerts(db)[0]["id"], "alice")
    hit(db, canary["id"], time="2026-03-01T11:00:10.000Z")  # after resolution: a new alert again
    correlate_all(db)
    assert [(a["count"], a["state"]) for a in list_alerts(db)] == [(1, "open"), (1, "resolved"), (2, "open")]


def test_access_log_burst_names_the_account_and_says_disable_it(db, add_hand_canaries):
    canaries = add_hand_canaries("dpi-x", 5)
    for canary in canaries:
        hit(db, canary["id"], channel="access-log", severity="critical", group="access:dpi-x:jdupont",
            account="jdupont", action="read", details={"exfiltration": True})
    correlate_all(db)
    alert = list_alerts(db)[0]
    assert alert["accounts"] == ["jdupont"] and alert["exfiltration"] is True
    assert alert["severity"] == "critical" and len(alert["canaries"]) == 5
    assert "Désactivez le compte jdupont sur dpi-x" in alert["text"]["fr"]
    assert "Disable account jdupont on dpi-x" in alert["text"]["en"]
    assert "exfiltration" in alert["title"]


def test_a_canary_read_away_from_home_names_the_system_whose_log_showed_the_account(db, add_hand_canaries):
    canary = add_hand_canaries("ehr-a", 1)[0]
    add_hand_canaries("dpi-b", 1)
    hit(db, canary["id"], channel="access-log", severity="high", group="access:dpi-b:mkhan", account="mkhan",
        details={"log_system": "dpi-b", "cross_system": True, "canary_system": "ehr-a"})
    correlate_all(db)
    alert = list_alerts(db)[0]
    assert alert["systems"] == ["ehr-a"] and alert["account_systems"] == ["dpi-b"]
    assert "Disable account mkhan on dpi-b" in alert["text"]["en"]
    assert "opened 1 fake patient record(s) in dpi-b" in alert["text"]["en"]


def test_no_group_keys_on_canary_system_and_channel(db, add_hand_canaries):
    set_setting(db, "alert.incident_window_seconds", "0")  # channels kept apart: the key alone decides
    one, two = add_hand_canaries("ehr-a", 2)
    hit(db, one["id"], channel="dns")
    hit(db, one["id"], channel="dns")
    hit(db, one["id"], channel="smtp")
    hit(db, two["id"], channel="dns")
    correlate_all(db)
    keys = sorted((a["key"], a["count"]) for a in list_alerts(db))
    assert keys == [(f"{one['id']}/ehr-a/dns", 2), (f"{one['id']}/ehr-a/smtp", 1), (f"{two['id']}/ehr-a/dns", 1)]


def test_other_channels_of_the_same_canary_join_its_incident(db, add_hand_canaries):
    one, two = add_hand_canaries("ehr-a", 2)
    hit(db, one["id"], channel="dns")
    hit(db, one["id"], channel="dns")
    hit(db, one["id"], channel="smtp")
    hit(db, two["id"], channel="dns")
    correlate_all(db)
    alerts = sorted((a["key"], a["count"], a["channels"]) for a in list_alerts(db))
    assert alerts == [(f"{one['id']}/ehr-a/dns", 3, ["dns", "smtp"]), (f"{two['id']}/ehr-a/dns", 1, ["dns"])]


def test_correlation_is_durable_and_never_folds_an_event_twice(db, db_path, add_hand_canaries):
    from canary.store import open_db

    canaries = add_hand_canaries("ehr-a", 3)
    ids = [hit(db, c["id"], channel="leak", severity="critical", group="sweep:9") for c in canaries]
    correlate_once(db, limit=2)
    assert cursor_position(db) == ids[1]
    # Another process (a restarted worker) continues from the stored cursor.
    other = open_db(db_path)
    correlate_all(other)
    other.close()
    correlate_all(db)
    alert = list_alerts(db)[0]
    assert alert["count"] == 3 and len(alert["canaries"]) == 3
    links = db.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM alert_events").fetchone()
    assert links == (3, 3)


def test_a_failing_batch_leaves_no_trace(db, add_hand_canaries):
    """Alerts, links, outbox and cursor move together: a batch that fails half-way is rolled back whole."""
    set_setting(db, "alert.incident_window_seconds", "0")  # two keys, two alerts
    canary = add_hand_canaries("ehr-a", 1)[0]
    hit(db, canary["id"], group="g1")
    db.execute("CREATE TRIGGER fail_second BEFORE INSERT ON alert_events "
               "WHEN (SELECT COUNT(*) FROM alerts) > 1 BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    hit(db, canary["id"], group="g2")
    try:
        correlate_once(db)
    except Exception as exc:
        assert "disk full" in str(exc)
    else:
        raise AssertionError("the trigger should have aborted the batch")
    assert db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 0
    assert cursor_position(db) == 0
    db.execute("DROP TRIGGER fail_second")
    correlate_all(db)
    assert sorted(a["key"] for a in list_alerts(db)) == ["g1", "g2"]
