"""Canaries planted over MLLP without the IPP assigning authority carry one real patients do not: lint says so."""

from __future__ import annotations

import json


def test_lint_reports_mllp_plantings_without_ipp_authority(db, add_hand_canaries, mllp_peer, cli):
    canaries = add_hand_canaries("ehr-a", count=2)
    assert cli("plant", "ehr-a", "--to", mllp_peer.url).exit_code == 0
    lint = cli("lint", "--json")
    assert lint.exit_code == 1
    problems = [p for p in json.loads(lint.stdout)["problems"] if p["rule"] == "ipp-authority"]
    assert sorted(p["canary_id"] for p in problems) == sorted(c["id"] for c in canaries)
    assert all(p["field"] == "ipp" and "ipp_oid" in p["message"] for p in problems)

    add_hand_canaries("ehr-b", count=1)
    assert cli("plant", "ehr-b", "--to", mllp_peer.url + "&ipp_oid=1.2.250.1.999.1.1").exit_code == 0
    clean = [p for p in json.loads(cli("lint", "--json", "--system", "ehr-b").stdout)["problems"]
             if p["rule"] == "ipp-authority"]
    assert clean == []
