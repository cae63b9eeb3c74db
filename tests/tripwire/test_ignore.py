"""Ignore rules and noise classes on the library path every listener uses (real registry)."""

from __future__ import annotations

import json

from canary.store.events import list_events
from canary.watch.tripwire.hits import Hit, record_hit
from canary.watch.tripwire.noise import NoisePolicy


def test_cidr_rule_limited_to_one_system(cli, db, add_hand_canaries):
    [ehr] = add_hand_canaries(system="ehr-a", count=1)
    [lab] = add_hand_canaries(system="lab-b", count=1, kind="lab")
    result = cli("tripwire", "ignore", "add", "--cidr", "198.51.100.0/24", "--system", "ehr-a", "--note", "pentest")
    assert result.exit_code == 0 and "ignore rule 1 added" in result.output
    policy = NoisePolicy()
    for canary in (ehr, lab):
        record_hit(db, Hit(channel="http", source="198.51.100.77", source_ip="198.51.100.77"), canary["id"], policy)
    by_canary = {e["canary_id"]: e for e in list_events(db)}
    assert by_canary[ehr["id"]]["severity"] == "info"
    assert by_canary[ehr["id"]]["details"]["ignored_by"] == {"id": 1, "kind": "cidr", "value": "198.51.100.0/24",
                                                             "system": "ehr-a"}
    assert by_canary[lab["id"]]["severity"] == "high" and "ignored_by" not in by_canary[lab["id"]]["details"]
    listed = json.loads(cli("tripwire", "ignore", "list", "--json").output)
    assert [(r["id"], r["kind"], r["system"], r["note"]) for r in listed] == [(1, "cidr", "ehr-a", "pentest")]
    assert cli("tripwire", "ignore", "remove", "1").exit_code == 0
    assert json.loads(cli("tripwire", "ignore", "list", "--json").output) == []
    record_hit(db, Hit(channel="http", source="198.51.100.77", source_ip="198.51.100.77"), ehr["id"], policy)
    assert list_events(db)[-1]["severity"] == "high"


def test_rule_errors_are_one_line(cli, db, add_hand_canaries):
    add_hand_canaries(count=1)
    for args, message in ((["--cidr", "10.0.0.0/33"], "invalid address or network"),
                          (["--user-agent", "ab"], "at least 3 characters"),
                          (["--cidr", "10.0.0.1", "--user-agent", "curl"], "exactly one of"),
                          (["--cidr", "10.0.0.1", "--system", "nope"], "unknown system")):
        result = cli("tripwire", "ignore", "add", *args)
        assert result.exit_code == 1 and message in result.output, (args, result.output)
    assert cli("tripwire", "ignore", "remove", "9").output.startswith("error: no ignore rule 9")


def test_scanner_networks_and_ipv4_mapped_sources(db, add_hand_canaries):
    [canary] = add_hand_canaries(count=1)
    policy = NoisePolicy.from_settings(db)  # the default lists
    record_hit(db, Hit(channel="smtp", source="40.107.22.5", source_ip="40.107.22.5"), canary["id"], policy)
    record_hit(db, Hit(channel="http", source="::ffff:66.249.66.1", source_ip="::ffff:66.249.66.1"),
               canary["id"], policy)
    record_hit(db, Hit(channel="sms", source="+33699887766"), canary["id"], policy)
    events = list_events(db)
    assert [(e["severity"], e["details"].get("noise")) for e in events] == [
        ("low", "scanner-network:40.107.0.0/16"), ("low", "scanner-network:66.249.64.0/19"), ("high", None)]
