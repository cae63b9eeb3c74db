"""Planting over MLLP into a real hl7 MLLP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from canary.errors import CanaryError
from canary.plant.lifecycle import list_plantings
from canary.plant.planter import plant
from canary.store.registry import add_system
from tests.support.ports import closed_port
from tests.support.records import qualify

ROOT = Path(__file__).resolve().parents[2]


def test_a28_carries_pam_fr_fields_and_ack_marks_planted(db, add_hand_canaries, mllp_peer):
    canaries = add_hand_canaries("ehr-a", count=3)
    qualify(db, [canaries[0]["id"]])
    report = plant(db, "ehr-a", mllp_peer.address + "?app=MEDIBOARD&facility=CHU")
    assert report.ok and sorted(report.planted) == sorted(c["id"] for c in canaries)
    assert mllp_peer.events() == ["A28"] * 3

    message = mllp_peer.messages[0]
    msh = message.segment("MSH")
    assert str(msh(12)) == "2.5^FRA^2.10"
    assert str(msh(9)) == "ADT^A28^ADT_A05"
    assert str(msh(5)) == "MEDIBOARD" and str(msh(6)) == "CHU"
    pid = message.segment("PID")
    record = canaries[0]
    identifiers = pid(3)
    assert str(identifiers[0][0]) == record["ipp"] and str(identifiers[0][4]) == "PI"
    ins = identifiers[1]
    assert str(ins[0]) == record["nir"]
    assert str(ins[3]) == "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO"
    assert str(ins[4]) == "INS"
    assert "1.2.250.1.213.1.4.10" not in str(message) and "1.2.250.1.213.1.4.11" not in str(message)
    used, birth = pid(5)[0], pid(5)[1]
    assert str(used[6]) == "D" and str(birth[6]) == "L"
    assert str(birth[0]) == record["birth_name"].upper()
    assert str(birth[2]) == " ".join(record["first_names"]).upper()
    assert str(pid(7)) == record["birth_date"].replace("-", "")
    assert str(pid(8)) == record["sex"]
    bdl = [rep for rep in pid(11) if str(rep[6]) == "BDL"]
    assert len(bdl) == 1 and str(bdl[0][8]) == record["birth_place"]["code"]
    assert str(bdl[0][2]) == record["birth_place"]["name"].upper()
    assert "0612340000" in str(pid(13)) and record["email"] in str(pid(13))
    assert str(pid(32)) == "QUAL"
    assert str(message.segment("ZFD")(5)) == "INSI" and str(message.segment("ROL")(3)) == "ODRP"
    # A VALI identity carries no INS (RNIV): only the IPP.
    assert len(mllp_peer.pids()[1](3)) == 1 and str(mllp_peer.pids()[1](32)) == "VALI"
    sent = "".join(str(m) for m in mllp_peer.messages)
    assert "FICT" not in sent and "canary" not in sent.lower()
    assert not any(c["id"] in sent or c["token"] in sent for c in canaries)

    rows = list_plantings(db, system="ehr-a")
    assert {r["state"] for r in rows} == {"planted"}
    assert {r["external_id"] for r in rows} == {c["ipp"] for c in canaries}
    assert all(r["planted_at"] and r["channel"] == "mllp" and r["target"] == mllp_peer.address for r in rows)


def test_values_are_escaped(db, add_hand_canaries, mllp_peer):
    add_hand_canaries("ehr-a", count=1)
    record = json.loads(db.execute("SELECT record FROM canaries").fetchone()[0])
    record["address"]["line"] = "3 rue Bel|Air ^ & ~ \\ fin"
    db.execute("UPDATE canaries SET record = ?", [json.dumps(record)])
    db.conn.commit()
    assert plant(db, "ehr-a", mllp_peer.url).ok
    home = mllp_peer.pids()[0](11)[0]
    assert str(home[0]) == r"3 RUE BEL\F\AIR \S\ \T\ \R\ \E\ FIN"
    assert mllp_peer.messages[0].unescape(str(home[0])) == "3 RUE BEL|AIR ^ & ~ \\ FIN"


def test_plant_twice_sends_nothing_twice(db, add_hand_canaries, mllp_peer, cli):
    add_hand_canaries("ehr-a", count=2)
    first = cli("plant", "ehr-a", "--to", mllp_peer.url)
    assert first.exit_code == 0, first.output
    second = cli("plant", "ehr-a", "--to", mllp_peer.url)
    assert second.exit_code == 0 and "0 planted" in second.output and "2 already" in second.output
    assert len(mllp_peer.messages) == 2


def test_nack_leaves_nothing_planted_and_names_the_error(db, add_hand_canaries, mllp_peer, cli):
    add_hand_canaries("ehr-a", count=2)
    mllp_peer.decide = lambda message: "AE"
    result = cli("plant", "ehr-a", "--to", mllp_peer.url)
    assert result.exit_code == 1
    assert "PID-7 date de naissance invalide" in result.output
    rows = list_plantings(db, system="ehr-a")
    assert [r["state"] for r in rows] == ["failed", "failed"]
    assert all("(AE)" in r["error"] and r["planted_at"] is None for r in rows)
    # Once the receiver accepts, the next run plants them.
    mllp_peer.decide = lambda message: "AA"
    assert cli("plant", "ehr-a", "--to", mllp_peer.url).exit_code == 0
    assert {r["state"] for r in list_plantings(db, system="ehr-a")} == {"planted"}


def test_unreachable_peer_is_a_clear_error(db, add_hand_canaries, cli):
    add_hand_canaries("ehr-a", count=2)
    result = cli("plant", "ehr-a", "--to", f"mllp://127.0.0.1:{closed_port()}", "--app", "DPI", "--facility", "CHUX")
    assert result.exit_code == 1
    assert "cannot connect" in result.output and "refused" in result.output.lower()
    # A target that never took a canary keeps no row: nothing reads as waiting to be planted forever.
    assert list_plantings(db, system="ehr-a") == []
    # Once a target took canaries, a later outage keeps the rest planned for the next run.


def test_no_ack_is_an_error_and_the_retry_is_an_update(db, add_hand_canaries, mllp_peer):
    add_hand_canaries("ehr-a", count=2)
    mllp_peer.decide = lambda message: "silent"
    report = plant(db, "ehr-a", mllp_peer.url)
    assert not report.ok and "no acknowledgement" in report.stopped
    rows = list_plantings(db, system="ehr-a")
    assert [r["state"] for r in rows] == ["failed", "planned"]
    mllp_peer.decide = lambda message: "AA"
    assert plant(db, "ehr-a", mllp_peer.url).ok
    # The first canary's outcome was unknown: it is sent as an update (A31), not created twice.
    assert mllp_peer.events() == ["A28", "A31", "A28"]


def test_an_ack_with_an_empty_segment_is_one_error_line_and_the_next_run_completes(db, add_hand_canaries, mllp_peer,
                                                                                  cli):
    add_hand_canaries("ehr-a", count=3)
    mllp_peer.decide = lambda message: "empty-segment" if len(mllp_peer.messages) == 2 else "AA"
    result = cli("plant", "ehr-a", "--to", mllp_peer.url)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert "unreadable acknowledgement" in result.output and "empty segment" in result.output
    rows = list_plantings(db, system="ehr-a")
    assert [r["state"] for r in rows] == ["planted", "failed", "planned"]
    assert rows[1]["in_flight"] and "empty segment" in rows[1]["error"]
    # Nothing lost: the next run sends the unanswered one as an update and plants the rest.
    mllp_peer.decide = lambda message: "AA"
    assert plant(db, "ehr-a", mllp_peer.url).ok
    assert mllp_peer.events() == ["A28", "A28", "A31", "A28"]
    # Retiring through the same receiver: the same clear error, the planting stays planted.
    mllp_peer.decide = lambda message: "empty-segment"
    result = cli("retire", "--system", "ehr-a")
    assert result.exit_code == 1 and "Traceback" not in result.output and "empty segment" in result.output
    assert {r["state"] for r in list_plantings(db, system="ehr-a")} == {"planted"}


def test_peer_dropping_the_link_half_way_then_resume(db, add_hand_canaries, mllp_peer):
    add_hand_canaries("ehr-a", count=5)
    mllp_peer.decide = lambda message: "close" if len(mllp_peer.messages) == 3 else "AA"
    report = plant(db, "ehr-a", mllp_peer.url)
    assert len(report.planted) == 2 and report.stopped
    states = [r["state"] for r in list_plantings(db, system="ehr-a")]
    assert states == ["planted", "planted", "failed", "planned", "planned"]
    mllp_peer.decide = lambda message: "AA"
    report = plant(db, "ehr-a", mllp_peer.url)
    assert len(report.planted) == 3 and report.ok
    assert mllp_peer.events() == ["A28", "A28", "A28", "A31", "A28", "A28"]


def test_process_killed_half_way_leaves_a_state_the_next_run_completes(db, db_path, add_hand_canaries, mllp_peer):
    add_hand_canaries("ehr-a", count=4)
    # The peer holds its answer to the third message; we kill the planting process meanwhile.
    mllp_peer.decide = lambda message: "silent" if len(mllp_peer.messages) == 3 else "AA"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CANARY_PLANT_TIMEOUT": "30"}
    process = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "plant", "ehr-a", "--to",
                                mllp_peer.url], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            if len(mllp_peer.messages) >= 3:
                break
            mllp_peer.received.wait(0.1)
            mllp_peer.received.clear()
        assert len(mllp_peer.messages) == 3
        # While that run waits for its ACK, a second run on the same target is refused, sending nothing.
        with pytest.raises(CanaryError, match="another plant"):
            plant(db, "ehr-a", mllp_peer.url)
        assert len(mllp_peer.messages) == 3
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    rows = list_plantings(db, system="ehr-a")
    assert [(r["state"], r["in_flight"]) for r in rows] == [("planted", 0), ("planted", 0), ("planned", 1),
                                                              ("planned", 0)]
    mllp_peer.decide = lambda message: "AA"
    report = plant(db, "ehr-a", mllp_peer.url)
    assert report.ok and len(report.planted) == 2
    assert mllp_peer.events() == ["A28", "A28", "A28", "A31", "A28"]
    assert {r["state"] for r in list_plantings(db, system="ehr-a")} == {"planted"}


def test_the_receiving_application_and_facility_are_required(db, add_hand_canaries, mllp_peer, cli):
    add_hand_canaries("ehr-a", count=1)
    for url, extra in [(mllp_peer.address, []), (mllp_peer.address + "?app=DPI", []),
                       (mllp_peer.address, ["--facility", "CHUX"])]:
        result = cli("plant", "ehr-a", "--to", url, *extra)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "MSH-5/MSH-6" in lines[0] and "?app=NAME&facility=NAME" in lines[0]
    assert mllp_peer.messages == [] and list_plantings(db) == []
    assert cli("plant", "ehr-a", "--to", mllp_peer.address, "--app", "DPI", "--facility", "CHUX").exit_code == 0
    msh = mllp_peer.messages[0].segment("MSH")
    assert (str(msh(5)), str(msh(6))) == ("DPI", "CHUX")


def test_ipp_namespace_is_a_short_code(db, add_hand_canaries, mllp_peer, cli):
    add_system(db, "ehr-b", "ehr", establishment="CH de Villefranche", finess="690000880")
    add_hand_canaries("ehr-b", count=1)
    report = plant(db, "ehr-b", mllp_peer.url + "&ipp_oid=1.2.250.1.999.1.1&ipp_namespace=CHVF")
    assert report.ok and report.warnings == []
    message = mllp_peer.messages[0]
    assert str(message.segment("PID")(3)[0][3]) == "CHVF&1.2.250.1.999.1.1&ISO"
    assert str(message.segment("MSH")(4)) == "690000880"
    # Not configured: the setting, else the sending application (as SIGEMS or HMLIT feeds write it), never the
    # establishment's name.
    add_system(db, "ehr-c", "ehr", establishment="CH de Villefranche", finess="690000880")
    add_hand_canaries("ehr-c", count=1)
    report = plant(db, "ehr-c", mllp_peer.url)
    assert report.ok and "IPP assigning authority not configured" in report.warnings[0]
    # HD-2 only with an OID (HD-3 ISO): a FINESS is not an IPP domain's OID, so the namespace stands alone.
    assert str(mllp_peer.messages[1].segment("PID")(3)[0][3]) == "GAM"
    assert "VILLEFRANCHE" not in str(mllp_peer.messages[1].segment("PID"))
    assert cli("config", "set", "plant.hl7.ipp_namespace", "chvf").exit_code == 0
    add_hand_canaries("ehr-c", count=1)
    assert plant(db, "ehr-c", mllp_peer.url).ok
    assert str(mllp_peer.messages[2].segment("PID")(3)[0][3]) == "CHVF"
    with pytest.raises(CanaryError, match="invalid ipp_namespace 'CH de Villefranche'"):
        plant(db, "ehr-c", mllp_peer.url, ipp_namespace="CH de Villefranche")


def test_bad_target_urls_are_clear_errors(db, add_hand_canaries):
    add_hand_canaries("ehr-a", count=1)
    for url, words in [("mllp://127.0.0.1", "mllp://host:port"), ("ftp://x/y", "unsupported"),
                       ("https://user:pw@127.0.0.1/fhir", "credentials"), ("file://relative", "file:///")]:
        with pytest.raises(CanaryError, match=words):
            plant(db, "ehr-a", url)
    with pytest.raises(CanaryError, match="do not apply"):
        plant(db, "ehr-a", "mllp://127.0.0.1:1", mapping="mediboard")
    assert list_plantings(db) == []


@pytest.mark.parametrize("mllp_peer", ["iso-8859-1"], indirect=True)
def test_latin1_link(db, add_hand_canaries, mllp_peer):
    canaries = add_hand_canaries("ehr-a", count=2)
    for canary, line in zip(canaries, ["1 rue de l'Œuvre", "2 place de l'Euro €"], strict=True):
        record = json.loads(db.execute("SELECT record FROM canaries WHERE id = ?", [canary["id"]]).fetchone()[0])
        record["address"]["line"] = line
        db.execute("UPDATE canaries SET record = ? WHERE id = ?", [json.dumps(record), canary["id"]])
    db.conn.commit()
    report = plant(db, "ehr-a", mllp_peer.url, encoding="iso-8859-1")
    assert report.planted == [canaries[0]["id"]]
    assert report.failed[0][0] == canaries[1]["id"] and "cannot be sent in iso-8859-1" in report.failed[0][1]
    assert len(mllp_peer.messages) == 1  # the second one never left
    assert str(mllp_peer.messages[0].segment("MSH")(18)) == "8859/1"
    assert str(mllp_peer.pids()[0](11)[0][0]) == "1 RUE DE L'OEUVRE"
