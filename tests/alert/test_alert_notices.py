"""Acknowledge / resolve notices: sent once to the destinations that were paged, through the outbox."""

from __future__ import annotations

import re
import sqlite3

import sqlite_utils

from canary.alert.correlate import correlate_all
from canary.alert.destinations import add_destination
from canary.alert.model import acknowledge, resolve
from canary.alert.outbox import prune_delivered
from canary.store.migrations import all_migrations, migrate
from canary.web import create_app
from canary.web.users import add_user
from tests.support.peers.alert_receiver import Workers, hit
from tests.support.wait import wait_for


def _pending(db) -> int:
    return db.execute("SELECT COUNT(*) FROM alert_outbox WHERE state = 'pending'").fetchone()[0]


def _by_kind(receiver) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = {}
    for body in receiver.received.values():
        notice = body.get("notice")
        kind = "page" if notice is None else "updated" if notice["type"] == "update" else notice["to"]
        kinds.setdefault(kind, []).append(body)
    return kinds


def _page_one_alert(db, add_hand_canaries, delivery, **event) -> dict:
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"], **event)
    correlate_all(db)
    delivery.run_once()
    (alert_id,) = db.execute("SELECT id FROM alerts").fetchone()
    return {"id": alert_id}


def test_ack_and_resolve_reach_the_receiver_once_each(fast_alerts, cli, db, add_hand_canaries, receiver,
                                                       delivery):
    add_destination(db, receiver.url)
    alert = _page_one_alert(db, add_hand_canaries, delivery, channel="leak", severity="critical", group="sweep:1")
    (page,) = receiver.received.values()

    out = cli("alert", "ack", str(alert["id"]), "--by", "alice", "--note", "je regarde")
    assert out.exit_code == 0 and "notice queued for 1 destination(s)" in out.output
    delivery.run_once()
    out = cli("alert", "resolve", str(alert["id"]), "--by", "bob")
    assert out.exit_code == 0
    delivery.run_once()
    assert delivery.run_once() == 0  # nothing left, nothing sent twice

    assert set(receiver.hits.values()) == {1} and receiver.total == 3
    kinds = _by_kind(receiver)
    (ack,), (done,) = kinds["acknowledged"], kinds["resolved"]
    assert ack["notice"] == {"type": "state-change", "from": "open", "to": "acknowledged", "by": "alice",
                             "at": ack["acked_at"], "note": "je regarde"}
    assert done["notice"]["from"] == "acknowledged" and done["notice"]["by"] == "bob"
    for notice, state in ((ack, "acknowledged"), (done, "resolved")):
        assert notice["state"] == state
        assert notice["severity"] == page["severity"] == "critical"  # not raised, not a new version
        assert notice["version"] == page["version"] and notice["id"] == page["id"]
        assert notice["idempotency_key"] == f"{page['idempotency_key']}-{state}"
        assert set(page) <= set(notice)  # an addition: every key of the page is still there
        assert "not a new page" in notice["text"]["en"] and "pas une nouvelle alerte" in notice["text"]["fr"]
    assert ack["title"].startswith("[PRISE EN COMPTE/ACKNOWLEDGED] Canary #")
    assert "acknowledged by alice at" in ack["text"]["en"] and "prise en compte par alice le" in ack["text"]["fr"]
    assert "Note: je regarde" in ack["text"]["en"]
    assert done["title"].startswith("[RÉSOLUE/RESOLVED] Canary #") and "resolved by bob" in done["text"]["en"]
    assert "notice" not in page


def test_receiver_down_then_up_gets_page_ack_resolve_once_in_order(fast_alerts, db, db_path, add_hand_canaries,
                                                                    receiver):
    add_destination(db, receiver.url)
    receiver.down()
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"], group="g")
    correlate_all(db)
    (alert_id,) = db.execute("SELECT id FROM alerts").fetchone()
    acknowledge(db, alert_id, "alice")  # as the console does
    resolve(db, alert_id, "bob", "faux positif")
    with Workers(db_path):
        wait_for(lambda: db.execute("SELECT failures FROM alert_destinations").fetchone()[0] >= 2)
        assert receiver.total == 0 and _pending(db) == 3
        receiver.up()
        wait_for(lambda: _pending(db) == 0, timeout=15)
    assert set(receiver.hits.values()) == {1} and receiver.total == 3
    arrival = sorted(receiver.received, key=receiver.arrival.__getitem__)
    assert [receiver.received[key].get("notice", {}).get("to", "page") for key in arrival] == [
        "page", "acknowledged", "resolved"]  # one alert, one destination: first in, first out
    assert receiver.received[arrival[2]]["note"] == "faux positif"


def test_notices_go_only_to_destinations_that_were_paged(fast_alerts, db, add_hand_canaries, receiver, tmp_path):
    paged = add_destination(db, receiver.url)
    add_destination(db, receiver.url, min_severity="critical")  # routing kept the page from it
    add_destination(db, "pagerduty://integration@apikey")  # an incident service: a notice would page again
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"], severity="high", group="g")
    correlate_all(db)  # no delivery: the PagerDuty page must not leave this machine
    (alert_id,) = db.execute("SELECT id FROM alerts").fetchone()
    acknowledge(db, alert_id, "alice")
    notices = db.execute("SELECT destination_id, kind FROM alert_outbox WHERE kind != 'page'").fetchall()
    assert notices == [(paged.id, "acknowledged")]


def test_state_change_without_any_destination_queues_nothing(cli, db, add_hand_canaries):
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"], group="g")
    correlate_all(db)
    out = cli("alert", "resolve", "1", "--by", "bob")
    assert out.exit_code == 0 and "notice" not in out.output
    assert db.execute("SELECT COUNT(*) FROM alert_outbox").fetchone()[0] == 0


def test_syslog_notice_is_informational_cef(fast_alerts, db, add_hand_canaries, udp_listener, delivery):
    add_destination(db, f"syslog://127.0.0.1:{udp_listener.getsockname()[1]}")
    alert = _page_one_alert(db, add_hand_canaries, delivery, channel="access-log", severity="critical",
                            account="jdupont", group="access:ehr-a:jdupont")
    assert udp_listener.recv(65535).decode().startswith("<162>1 ")  # the page: local4.crit
    acknowledge(db, alert["id"], "alice")
    delivery.run_once()
    message = udp_listener.recv(65535).decode()
    assert message.startswith("<166>1 ")  # local4.info
    cef = message[message.index("CEF:0|"):]
    assert cef.startswith("CEF:0|canary|canary|1|access-log|Alert acknowledged|1|")
    assert "act=acknowledged" in cef and "suser=alice" in cef and re.search(r"externalId=\S+-acknowledged", cef)


def test_console_ack_queues_the_notice(fast_alerts, db, db_path, add_hand_canaries, receiver, delivery):
    add_destination(db, receiver.url)
    alert = _page_one_alert(db, add_hand_canaries, delivery, group="g")
    add_user(db, "rssi", "un mot de passe solide", "analyst")
    client = create_app({"DATABASE": str(db_path), "TESTING": True}).test_client()
    client.post("/auth/login", data={"username": "rssi", "password": "un mot de passe solide"})
    page = client.get("/alerts").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post(f"/alerts/{alert['id']}/ack", data={"csrf": token, "note": "vu"}).status_code == 302
    delivery.run_once()
    (ack,) = _by_kind(receiver)["acknowledged"]
    assert ack["notice"]["by"] == "rssi" and ack["notice"]["note"] == "vu"


def test_migration_keeps_queued_pages(tmp_path):
    """A registry from before notices: its outbox rows survive the rebuild, as pages."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, fn in all_migrations():
        if name == "alert-002-state-notices":
            break
        fn(db)
        db.execute("INSERT INTO _migrations VALUES (?, 'then')", [name])
    db.conn.commit()
    db.execute("INSERT INTO alerts (key, state, severity, channel, first_seen, last_seen, created_at, updated_at) "
               "VALUES ('g', 'open', 'high', 'http', 'x', 'x', 'x', 'x')")
    db.execute("INSERT INTO alert_destinations (url, kind, created_at) VALUES ('json://h/x', 'webhook', 'x')")
    db.execute("INSERT INTO alert_outbox (alert_id, version, destination_id, idempotency_key, payload, "
               "next_attempt_at, created_at) VALUES (1, 1, 1, 'k1', '{}', 0, 'x')")
    db.conn.commit()
    assert "alert-002-state-notices" in migrate(db)
    assert db.execute("SELECT idempotency_key, kind, state FROM alert_outbox").fetchall() == [("k1", "page", "pending")]
    db.execute("INSERT INTO alert_outbox (alert_id, version, destination_id, idempotency_key, payload, "
               "next_attempt_at, created_at, kind) VALUES (1, 1, 1, 'k1-resolved', '{}', 0, 'x', 'resolved')")
    assert db.execute("SELECT COUNT(*) FROM alert_outbox").fetchone()[0] == 2
    db.close()


def test_resolving_after_the_outbox_was_pruned_still_tells_the_paged(fast_alerts, db, add_hand_canaries, receiver,
                                                                      delivery):
    add_destination(db, receiver.url)
    alert = _page_one_alert(db, add_hand_canaries, delivery, group="g")
    db.execute("UPDATE alert_outbox SET delivered_at = '2020-01-01T00:00:00.000Z'")
    assert prune_delivered(db, 30) == 1
    resolve(db, alert["id"], "bob")
    delivery.run_once()
    assert list(_by_kind(receiver)) == ["page", "resolved"]


def test_an_incident_updated_by_new_evidence_sends_one_follow_up_notice(fast_alerts, db, add_hand_canaries,
                                                                          receiver, delivery):
    """The page said "trap link opened"; the thief's DNS lookup of the same canary then joins the incident
    (new channel, same severity: no new page). The paged destination is told, once, as a low-urgency notice."""
    add_destination(db, receiver.url, min_severity="low")
    canary = add_hand_canaries("ehr-a", 1)[0]
    hit(db, canary["id"], channel="http", severity="high")
    correlate_all(db)
    delivery.run_once()
    (page,) = receiver.received.values()

    hit(db, canary["id"], channel="dns", severity="high")
    correlate_all(db)
    delivery.run_once()
    hit(db, canary["id"], channel="dns", severity="high")  # nothing new: no other notice
    correlate_all(db)
    delivery.run_once()

    assert db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 1
    kinds = _by_kind(receiver)
    assert len(kinds["page"]) == 1 and len(kinds["updated"]) == 1
    (update,) = kinds["updated"]
    assert update["notice"]["type"] == "update" and update["notice"]["from"] == update["notice"]["to"] == "open"
    assert update["notice"]["added"] == {"channels": ["dns"], "canaries": []}
    assert update["version"] == page["version"] and update["severity"] == page["severity"]  # not a new page
    assert update["idempotency_key"].startswith(f"{page['idempotency_key']}-updated-")
    assert update["channels"] == ["http", "dns"]
    assert update["title"].startswith("[MISE À JOUR/UPDATE] Canary #")
    assert "new channel: dns" in update["text"]["en"] and "nouveau canal : dns" in update["text"]["fr"]
    assert "not a new page" in update["text"]["en"] and "pas une nouvelle alerte" in update["text"]["fr"]
