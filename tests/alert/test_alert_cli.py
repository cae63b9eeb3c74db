"""The commands: alerts listing, ack/resolve with who and when, destinations, SSRF refusals."""

from __future__ import annotations

import ipaddress
import json

import pytest

from canary.alert.correlate import correlate_all
from canary.alert.destinations import add_destination
from canary.alert.ssrf import TargetPolicy
from canary.errors import CanaryError
from canary.settings import set_setting
from tests.support.peers.alert_receiver import hit


def test_ack_then_resolve_with_who_when_and_note(cli, db, add_hand_canaries):
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"], group="g")
    (alert,) = json.loads(cli("alerts", "--json").output)
    out = cli("alert", "ack", str(alert["id"]), "--note", "je regarde", "--by", "alice")
    assert out.exit_code == 0 and "acknowledged by alice" in out.output
    (alert,) = json.loads(cli("alerts", "--open", "--json").output)
    assert (alert["state"], alert["acked_by"], alert["note"]) == ("acknowledged", "alice", "je regarde")
    assert alert["acked_at"]

    out = cli("alert", "resolve", str(alert["id"]), "--note", "export job disabled", "--by", "bob")
    assert out.exit_code == 0
    assert json.loads(cli("alerts", "--open", "--json").output) == []
    (alert,) = json.loads(cli("alerts", "--json").output)
    assert (alert["state"], alert["resolved_by"], alert["note"]) == ("resolved", "bob", "export job disabled")

    again = cli("alert", "ack", str(alert["id"]))
    assert again.exit_code == 1 and "only an open alert" in again.output
    missing = cli("alert", "resolve", "999")
    assert missing.exit_code == 1 and "unknown alert 999" in missing.output


def test_alerts_table_shows_the_text_of_open_alerts(cli, db, add_hand_canaries):
    assert "no alert" in cli("alerts").output
    hit(db, add_hand_canaries("ehr-a", 2)[0]["id"], channel="leak", severity="critical", group="sweep:1")
    out = cli("alerts")
    assert out.exit_code == 0
    assert "ehr-a×1" in out.output and "Quoi :" in out.output and "Do first:" in out.output


def test_notify_add_list_remove(cli, db, add_hand_canaries):
    add_hand_canaries("ehr-a", 1)
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    out = cli("notify", "add", "hmac://127.0.0.1:8099/hook?token=s3cret", "--min-severity", "high",
              "--system", "ehr-a")
    assert out.exit_code == 0 and "secret HMAC" in out.output
    rows = json.loads(cli("notify", "list", "--json").output)
    assert rows[0]["min_severity"] == "high" and rows[0]["systems"] == ["ehr-a"]
    assert "s3cret" not in rows[0]["url"]  # listings never show credentials
    assert cli("notify", "add", "json://127.0.0.1:8099/x", "--system", "nope").exit_code == 1
    assert cli("notify", "add", "not a url").exit_code == 1
    assert cli("notify", "add", "nosuchservice://x").exit_code == 1
    assert cli("notify", "remove", str(rows[0]["id"])).exit_code == 0
    assert json.loads(cli("notify", "list", "--json").output) == []
    assert cli("notify", "remove", "42").exit_code == 1


@pytest.mark.parametrize("url", [
    "json://127.0.0.1:8080/hook",          # loopback
    "jsons://10.1.2.3/hook",               # hospital network
    "hmac://192.168.1.10/hook",
    "json://169.254.169.254/latest/meta-data",  # cloud metadata
    "json://[::1]:8080/hook",
    "syslog://224.0.0.1",                  # multicast
    "mailto://127.0.0.1:25?from=a@b.example&to=c@d.example",  # apprise URL: its SMTP host is checked
    "ntfy://10.0.0.5/topic",
])
def test_ssrf_targets_are_refused_unless_allowed(cli, db, url):
    out = cli("notify", "add", url)
    assert out.exit_code == 1 and "refused notification target" in out.output
    assert json.loads(cli("notify", "list", "--json").output) == []


def test_allowing_private_targets_never_allows_metadata(db):
    set_setting(db, "alert.allow_private_targets", "true")
    add_destination(db, "json://10.1.2.3/hook")
    with pytest.raises(CanaryError, match="link-local"):
        add_destination(db, "json://169.254.169.254/latest")
    policy = TargetPolicy(allowed=(), allow_private=False)
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) == "loopback"
    assert policy.refusal(ipaddress.ip_address("100.64.0.1"))  # carrier-grade NAT: not public
    assert policy.refusal(ipaddress.ip_address("192.0.2.1"))   # documentation range: not public


def test_target_refused_at_send_time_stays_queued(fast_alerts, db, add_hand_canaries, receiver, delivery):
    add_destination(db, receiver.url)
    set_setting(db, "alert.allowed_target_cidrs", "")  # allow-list withdrawn after the destination was added
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"])
    correlate_all(db)
    delivery.run_once()
    assert receiver.hits == {}
    state, error = db.execute("SELECT state, last_error FROM alert_outbox").fetchone()
    assert state == "pending" and "refused" in error
