"""Retiring with what each receiver supports, and only once the receiver confirmed it."""

from __future__ import annotations

import pytest

from canary.errors import CanaryError
from canary.plant.lifecycle import list_plantings
from canary.plant.planter import plant, retire, select_for_retire
from canary.plant.rotation import rotate
from tests.support.hl7_strict import strict_errors
from tests.support.records import FixtureGenerator


def _pam_identity_feed(message) -> str:
    """A receiver documented for PAM FR: A28/A31 accepted; A29 (not in ITI-30) and A40 (not supported here)
    refused with AR."""
    return "AR" if str(message.segment("MSH")(9)(1)(2)) in ("A29", "A40") else "AA"


def _states(db):
    return {r["canary_id"]: r["state"] for r in list_plantings(db)}


def test_mllp_retire_is_an_a31_marking_the_identity_deactivated(db, add_hand_canaries, mllp_peer, cli):
    canaries = add_hand_canaries("ehr-a", count=2)
    mllp_peer.decide = _pam_identity_feed
    assert plant(db, "ehr-a", mllp_peer.url).ok
    result = cli("retire", "--system", "ehr-a")
    assert result.exit_code == 0, result.output
    assert mllp_peer.events() == ["A28", "A28", "A31", "A31"]
    for message, canary in zip(mllp_peer.messages[2:], canaries, strict=True):
        pid = message.segment("PID")
        assert str(pid(3)[0][0]) == canary["ipp"] and [str(rep) for rep in pid(32)] == ["VALI", "DESA"]
        assert (str(message.segment("MSH")(5)), str(message.segment("MSH")(6))) == ("DPI", "CHUX")
    assert set(_states(db).values()) == {"retired"}


def test_mllp_retire_counts_only_an_aa_on_the_retire_message(db, add_hand_canaries, mllp_peer):
    canaries = add_hand_canaries("ehr-a", count=2)
    assert plant(db, "ehr-a", mllp_peer.url).ok
    mllp_peer.decide = lambda message: "AR" if str(message.segment("PID")(3)[0][0]) == canaries[1]["ipp"] else "AA"
    report = retire(db, select_for_retire(db, system="ehr-a"))
    assert len(report.retired) == 1 and len(report.failed) == 1
    rows = {r["canary_id"]: r for r in list_plantings(db, system="ehr-a")}
    assert rows[canaries[0]["id"]]["state"] == "retired" and rows[canaries[0]["id"]]["retired_at"]
    assert rows[canaries[1]["id"]]["state"] == "planted"
    assert "ADT^A31 (a31-inactive) refused (AR)" in rows[canaries[1]["id"]]["error"]
    status = dict(db.execute("SELECT id, status FROM canaries").fetchall())
    assert status == {canaries[0]["id"]: "retired", canaries[1]["id"]: "active"}


def _strict_receiver(message) -> str:
    """A strict PAM FR receiver: AA only to a message hl7apy's strict validation accepts, else AE."""
    return "AA" if strict_errors(str(message)) is None else "AE"


def test_a40_merge_refused_by_the_receiver_leaves_the_planting_planted(db, add_hand_canaries, mllp_peer, cli):
    canaries = add_hand_canaries("ehr-a", count=2)
    add_hand_canaries("ehr-a", count=2, generation=2)
    mllp_peer.decide = _pam_identity_feed
    assert plant(db, "ehr-a", mllp_peer.url + "&retire=a40-merge").ok
    result = cli("retire", canaries[0]["id"])
    assert result.exit_code == 1 and "ADT^A40 (a40-merge) refused (AR)" in result.output
    assert set(_states(db).values()) == {"planted"}
    assert "A29" not in mllp_peer.events()


def test_rotation_against_a_strict_receiver_retires_each_identity_on_its_own(db, add_hand_canaries, mllp_peer):
    canaries = add_hand_canaries("ehr-a", count=3)
    mllp_peer.decide = _strict_receiver
    assert plant(db, "ehr-a", mllp_peer.url).ok
    report = rotate(db, "ehr-a", 3, FixtureGenerator())
    assert report.ok, report
    retiring = [m for m in mllp_peer.messages if str(m.segment("MSH")(9)(1)(2)) != "A28"]
    assert [str(m.segment("MSH")(9)) for m in retiring] == ["ADT^A31^ADT_A05"] * 3
    assert [str(m.segment("PID")(3)[0][0]) for m in retiring] == [c["ipp"] for c in canaries]
    assert all([str(rep) for rep in m.segment("PID")(32)] == ["VALI", "DESA"] for m in retiring)
    assert {r["generation"]: r["state"] for r in list_plantings(db)} == {1: "retired", 2: "planted"}


def test_a40_merge_when_chosen_merges_each_canary_into_a_distinct_survivor(db, add_hand_canaries, mllp_peer):
    canaries = add_hand_canaries("ehr-a", count=3)
    mllp_peer.decide = _strict_receiver
    assert plant(db, "ehr-a", mllp_peer.url + "&retire=a40-merge").ok
    report = rotate(db, "ehr-a", 3, FixtureGenerator())
    assert report.ok, report
    merges = [m for m in mllp_peer.messages if str(m.segment("MSH")(9)) == "ADT^A40^ADT_A39"]
    assert [str(m.segment("MRG")(1)[0][0]) for m in merges] == [c["ipp"] for c in canaries]
    survivors = [str(m.segment("PID")(3)[0][0]) for m in merges]
    new_ipps = {r["external_id"] for r in list_plantings(db) if r["generation"] == 2}
    assert len(set(survivors)) == 3 and set(survivors) == new_ipps
    assert all(str(m.segment("PID")(5)) for m in merges)  # the survivor's full identity
    assert {r["generation"]: r["state"] for r in list_plantings(db)} == {1: "retired", 2: "planted"}


def test_a40_merge_without_a_survivor_left_deactivates_instead(db, add_hand_canaries, mllp_peer):
    add_hand_canaries("ehr-a", count=2)
    mllp_peer.decide = _strict_receiver
    assert plant(db, "ehr-a", mllp_peer.url + "&retire=a40-merge").ok
    report = retire(db, select_for_retire(db, system="ehr-a"))
    assert len(report.retired) == 2 and not report.failed
    assert mllp_peer.events() == ["A28", "A28", "A31", "A31"]
    assert any("no distinct live canary" in w for w in report.warnings)


def test_merge_into_one_record_is_refused(db, add_hand_canaries, mllp_peer, cli):
    add_hand_canaries("ehr-a", count=1)
    result = cli("plant", "ehr-a", "--to", mllp_peer.url + "&retire=a40-merge&merge_into=40999999")
    assert result.exit_code == 1 and "merge_into" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert list_plantings(db) == [] and mllp_peer.messages == []


def test_retire_options_are_checked_before_planting(db, add_hand_canaries, mllp_peer, fhir_server, cli):
    add_hand_canaries("ehr-a", count=1)
    with pytest.raises(CanaryError, match="invalid retire 'a29'.*a31-inactive, a40-merge"):
        plant(db, "ehr-a", mllp_peer.url + "&retire=a29")
    with pytest.raises(CanaryError, match="invalid retire 'a31-inactive' for fhir"):
        plant(db, "ehr-a", fhir_server.url, retire="a31-inactive")
    result = cli("plant", "ehr-a", "--to", mllp_peer.url, "--retire", "delete")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert list_plantings(db) == [] and mllp_peer.messages == []


def test_fhir_delete_is_read_back_and_an_engine_that_drops_it_is_caught(db, add_hand_canaries, fhir_server):
    add_hand_canaries("ehr-fhir", count=1)
    assert plant(db, "ehr-fhir", fhir_server.url).ok
    fhir_server.ignore_writes = True  # answers 204 to every DELETE, deletes nothing
    report = retire(db, select_for_retire(db, system="ehr-fhir"))
    assert not report.retired and "still there after delete" in report.failed[0][1]
    assert set(_states(db).values()) == {"planted"}
    fhir_server.ignore_writes = False
    report = retire(db, select_for_retire(db, system="ehr-fhir"))
    assert len(report.retired) == 1 and not fhir_server.of_type("Patient")


def test_fhir_inactive_updates_the_patient_and_reads_it_back(db, add_hand_canaries, fhir_server):
    add_hand_canaries("ehr-fhir", count=1)
    assert plant(db, "ehr-fhir", fhir_server.url + "?retire=inactive").ok
    fhir_server.ignore_writes = True
    report = retire(db, select_for_retire(db, system="ehr-fhir"))
    assert not report.retired and "read back active" in report.failed[0][1]
    fhir_server.ignore_writes = False
    report = retire(db, select_for_retire(db, system="ehr-fhir"))
    assert len(report.retired) == 1
    [patient] = fhir_server.of_type("Patient")
    assert patient["active"] is False and fhir_server.deletes == []
    assert fhir_server.of_type("Condition")  # the record stays, deactivated
    assert set(_states(db).values()) == {"retired"}
