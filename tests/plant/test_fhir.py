"""Planting FHIR R4 FR Core transaction Bundles into a real FHIR endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading

import pytest
import requests
from urllib3.exceptions import InsecureRequestWarning

from canary.errors import CanaryError
from canary.plant.channels.fhir.bundle import INS_NIR_SYSTEM
from canary.plant.lifecycle import list_plantings
from canary.plant.planter import plant, retire, select_for_retire
from tests.support.peers.fhir import RunningServer
from tests.support.ports import closed_port
from tests.support.records import qualify


def _set(db, canary_id, **fields):
    record = json.loads(db.execute("SELECT record FROM canaries WHERE id = ?", [canary_id]).fetchone()[0])
    db.execute("UPDATE canaries SET record = ? WHERE id = ?", [json.dumps(record | fields), canary_id])
    db.conn.commit()


def _ext(resource, url_end):
    return next(e for e in resource.get("extension", []) if e["url"].endswith(url_end))


def test_bundle_per_canary_with_fr_core_content_and_server_ids(db, add_hand_canaries, fhir_server, monkeypatch):
    fhir_server.token = "s3cret"
    monkeypatch.setenv("FHIR_TOKEN", "s3cret")
    canaries = add_hand_canaries("ehr-fhir", count=2)
    qualify(db, [canaries[0]["id"]])
    _set(db, canaries[0]["id"], allergies=[{"substance": "Pénicilline", "reaction": "Urticaire"}],
         tokens={"url": "https://portail.example.fr/d/abc123", "hostname": None},
         coverage={"regime": "Régime général", "caisse": "CPAM du Rhône",
                   "amc": {"name": "Harmonie Mutuelle", "member_number": "778899"}})
    report = plant(db, "ehr-fhir", fhir_server.url, token_env="FHIR_TOKEN")
    assert report.ok and len(report.planted) == 2
    assert len(fhir_server.bundles) == 2

    patients = fhir_server.of_type("Patient")
    first = next(p for p in patients if p["identifier"][-1]["value"] == canaries[0]["ipp"])
    ins = first["identifier"][0]
    assert ins["system"] == INS_NIR_SYSTEM and ins["value"] == canaries[0]["nir"]
    assert _ext(first, "fr-core-identity-reliability")["extension"][0]["valueCoding"]["code"] == "QUAL"
    birth_place = _ext(first, "patient-birthPlace")["valueAddress"]
    assert birth_place["extension"][0]["valueCoding"]["code"] == "69123"
    assert first["name"][0]["family"] == canaries[0]["birth_name"]
    gp = fhir_server.store[first["generalPractitioner"][0]["reference"]]
    assert {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810003456789"} in [
        {k: i[k] for k in ("system", "value")} for i in gp["identifier"]]
    # One shared GP: the second bundle found it with ifNoneExist instead of creating another.
    assert len(fhir_server.of_type("Practitioner")) == 1
    second = next(p for p in patients if p is not first)
    assert all(i["system"] != INS_NIR_SYSTEM for i in second["identifier"])  # VALI: no INS

    by_subject = {kind: [r for r in fhir_server.of_type(kind)
                         if (r.get("subject") or r.get("beneficiary") or r.get("patient") or {}).get("reference")
                         == f"Patient/{first['id']}"]
                  for kind in ("Coverage", "Condition", "MedicationStatement", "AllergyIntolerance",
                               "DocumentReference")}
    assert len(by_subject["Coverage"]) == 2
    assert by_subject["Condition"][0]["code"]["coding"][0]["code"] == "I10"
    assert by_subject["MedicationStatement"][0]["medicationCodeableConcept"]["coding"][0]["code"] == "C08CA01"
    assert by_subject["AllergyIntolerance"][0]["code"]["text"] == "Pénicilline"
    assert by_subject["DocumentReference"][0]["content"][0]["attachment"]["url"] == \
        "https://portail.example.fr/d/abc123"
    sent = json.dumps(fhir_server.bundles)
    assert "FICT" not in sent and "canary" not in sent.lower()
    assert not any(c["id"] in sent or c["token"] in sent for c in canaries)

    rows = {r["canary_id"]: r for r in list_plantings(db, system="ehr-fhir")}
    row = rows[canaries[0]["id"]]
    assert row["state"] == "planted" and row["external_id"] == f"Patient/{first['id']}"
    assert len(row["resources"]) == 7 and not any(r.startswith("Practitioner/") for r in row["resources"])
    assert "s3cret" not in json.dumps(list_plantings(db))  # the token itself is never stored
    # The server gives back what it stored under the id we recorded.
    answer = requests.get(f"{fhir_server.url}/{row['external_id']}", headers={"Authorization": "Bearer s3cret"},
                          timeout=5)
    assert answer.status_code == 200 and answer.json()["identifier"][-1]["value"] == canaries[0]["ipp"]


def test_retries_on_500_and_429_then_succeeds(db, add_hand_canaries, fhir_server):
    add_hand_canaries("ehr-fhir", count=1)
    fhir_server.fail_next = [500, 429, 503]
    report = plant(db, "ehr-fhir", fhir_server.url)
    assert report.ok and len(fhir_server.bundles) == 1


def test_persistent_5xx_stops_with_a_clear_error(db, add_hand_canaries, fhir_server):
    add_hand_canaries("ehr-fhir", count=2)
    fhir_server.fail_next = [503] * 10
    report = plant(db, "ehr-fhir", fhir_server.url)
    assert report.stopped and "server error 503 after 4 attempts" in report.stopped
    assert [r["state"] for r in list_plantings(db)] == ["failed", "planned"]


def test_4xx_is_a_clear_error_with_the_operation_outcome(db, add_hand_canaries, fhir_server, cli):
    add_hand_canaries("ehr-fhir", count=2)
    fhir_server.reject_with = "Patient.identifier: IPP already used by another patient"
    result = cli("plant", "ehr-fhir", "--to", fhir_server.url)
    assert result.exit_code == 1
    assert "refused (422)" in result.output and "IPP already used by another patient" in result.output
    rows = list_plantings(db)
    assert [r["state"] for r in rows] == ["failed", "failed"] and rows[0]["in_flight"] == 0
    assert not fhir_server.store


def test_401_without_the_bearer_token(db, add_hand_canaries, fhir_server, monkeypatch):
    add_hand_canaries("ehr-fhir", count=1)
    fhir_server.token = "right"
    report = plant(db, "ehr-fhir", fhir_server.url)
    assert report.stopped and "authentication refused (401)" in report.stopped
    monkeypatch.setenv("FHIR_TOKEN", "wrong")
    assert "401" in plant(db, "ehr-fhir", fhir_server.url, token_env="FHIR_TOKEN").stopped
    monkeypatch.delenv("FHIR_TOKEN")
    with pytest.raises(CanaryError, match="FHIR_TOKEN"):
        plant(db, "ehr-fhir", fhir_server.url, token_env="FHIR_TOKEN")
    monkeypatch.setenv("FHIR_TOKEN", "right")
    # The token variable's name is remembered with the target; its value is read at each run.
    assert plant(db, "ehr-fhir", fhir_server.url).ok


def test_unreachable_server_is_a_clear_error(db, add_hand_canaries, cli):
    add_hand_canaries("ehr-fhir", count=1)
    result = cli("plant", "ehr-fhir", "--to", f"http://127.0.0.1:{closed_port()}/fhir")
    assert result.exit_code == 1 and "cannot reach" in result.output and "Connection refused" in result.output
    assert [r["state"] for r in list_plantings(db)] == ["failed"]
    assert list_plantings(db)[0]["in_flight"] == 0


def test_server_dies_half_way_then_resume_plants_the_rest_once(db, add_hand_canaries, fhir_server):
    add_hand_canaries("ehr-fhir", count=4)
    port = fhir_server.port
    original_apply = fhir_server._apply

    def apply_then_die(bundle):
        answer = original_apply(bundle)
        if len(fhir_server.bundles) == 2:
            fhir_server.fail_next = [503] * 20  # the server goes down after the second canary
        return answer

    fhir_server._apply = apply_then_die
    report = plant(db, "ehr-fhir", fhir_server.url)
    assert len(report.planted) == 2 and report.stopped
    fhir_server.running.stop()
    fhir_server.fail_next = []
    fhir_server.running = RunningServer(fhir_server, port)
    report = plant(db, "ehr-fhir", fhir_server.url)
    assert report.ok and len(report.planted) == 2
    assert len(fhir_server.of_type("Patient")) == 4
    assert {r["state"] for r in list_plantings(db)} == {"planted"}
    assert len(plant(db, "ehr-fhir", fhir_server.url).planted) == 0


def test_retire_deletes_every_resource_but_the_shared_gp(db, add_hand_canaries, fhir_server, cli):
    canaries = add_hand_canaries("ehr-fhir", count=2)
    assert plant(db, "ehr-fhir", fhir_server.url).ok
    planting = next(r for r in list_plantings(db) if r["canary_id"] == canaries[0]["id"])
    result = cli("retire", str(planting["id"]))
    assert result.exit_code == 0, result.output
    assert fhir_server.deletes[-1] == planting["external_id"]  # the Patient goes last
    assert set(fhir_server.deletes) == set(planting["resources"])
    assert planting["external_id"] not in fhir_server.store
    assert len(fhir_server.of_type("Practitioner")) == 1 and len(fhir_server.of_type("Patient")) == 1
    rows = {r["canary_id"]: r for r in list_plantings(db)}
    assert rows[canaries[0]["id"]]["state"] == "retired" and rows[canaries[1]["id"]]["state"] == "planted"
    # Retiring again finds nothing live.
    assert select_for_retire(db, ident=str(planting["id"])) == []
    fhir_server.fail_next = [500] * 10
    report = retire(db, select_for_retire(db, system="ehr-fhir"))
    assert report.failed and list_plantings(db)[1]["state"] == "planted"


def test_tls_is_verified_unless_insecure(db, add_hand_canaries, fhir_tls_server):
    add_hand_canaries("ehr-fhir", count=1)
    report = plant(db, "ehr-fhir", fhir_tls_server.url)
    assert report.stopped and "TLS verification failed" in report.stopped
    assert not fhir_tls_server.bundles
    with pytest.warns(InsecureRequestWarning):  # urllib3 says so for every unverified request
        report = plant(db, "ehr-fhir", fhir_tls_server.url, insecure=True)
    assert report.ok and len(fhir_tls_server.bundles) == 1


def test_connection_lost_after_sending_is_marked_in_flight(db, add_hand_canaries):
    add_hand_canaries("ehr-fhir", count=2)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def read_then_hang_up() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.close()

    thread = threading.Thread(target=read_then_hang_up, daemon=True)
    thread.start()
    try:
        report = plant(db, "ehr-fhir", f"http://127.0.0.1:{port}/fhir")
    finally:
        thread.join(5)
        listener.close()
    assert report.stopped and "connection lost" in report.stopped
    rows = list_plantings(db)
    assert [(r["state"], r["in_flight"]) for r in rows] == [("failed", 1), ("planned", 0)]


def test_a_resource_that_does_not_validate_is_never_sent(db, add_hand_canaries, fhir_server):
    canaries = add_hand_canaries("ehr-fhir", count=2)
    _set(db, canaries[0]["id"], birth_date="1980-13-45")
    report = plant(db, "ehr-fhir", fhir_server.url)
    assert report.planted == [canaries[1]["id"]]
    assert report.failed[0][0] == canaries[0]["id"] and "FHIR Patient does not validate" in report.failed[0][1]
    assert len(fhir_server.bundles) == 1
    row = next(r for r in list_plantings(db) if r["canary_id"] == canaries[0]["id"])
    assert row["state"] == "failed" and row["attempts"] == 0
