"""FHIR resources checked against extracts of FR Core's published definitions (tests/plant/data/fr_core)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from canary.plant.channels.fhir.bundle import Establishment, build_bundle
from canary.plant.identity import identity_evidence
from tests.support.records import make_record

DATA = Path(__file__).parent / "data" / "fr_core"
SITE = Establishment("CH de Villefranche", "690000880", "urn:oid:1.2.250.1.999.1.1")


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _resources(record: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    bundle = build_bundle(record, SITE, today=date(2026, 11, 28), created="2026-01-01T00:00:00Z")
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _patient(record: dict[str, Any]) -> dict[str, Any]:
    return _resources(record, "Patient")[0]


def _extension(resource: dict[str, Any], url: str) -> dict[str, Any]:
    return next(e for e in resource.get("extension", []) if e["url"] == url)


@pytest.mark.parametrize("status", ["PROV", "RECUP", "VALI", "QUAL"])
def test_identity_status_follows_the_required_binding(status):
    reliability = _load("StructureDefinition-fr-core-identity-reliability.json")
    value_set = _load("ValueSet-fr-core-vs-identity-status.json")
    code_system = _load("CodeSystem-fr-core-cs-identity-status.json")
    elements = {e["id"]: e for e in reliability["differential"]["element"]}
    binding = elements["Extension.extension:identityStatus.value[x]"]["binding"]
    assert binding["strength"] == "required" and binding["valueSet"].split("|")[0] == value_set["url"]

    extension = _extension(_patient(make_record(1, identity_status=status)), reliability["url"])
    [sub] = [e for e in extension["extension"]
             if e["url"] == elements["Extension.extension:identityStatus.url"]["fixedUri"]]
    coding = sub["valueCoding"]
    assert coding["system"] in {include["system"] for include in value_set["compose"]["include"]}
    assert coding["system"] == code_system["url"]
    assert coding["code"] == status and status in {c["code"] for c in code_system["concept"]}


def test_identity_evidence_in_the_reliability_sub_extensions():
    reliability = _load("StructureDefinition-fr-core-identity-reliability.json")
    elements = {e["id"]: e for e in reliability["differential"]["element"]}
    value_sets = {vs["url"]: vs for vs in (_load("ValueSet-fr-core-vs-identity-method-collection.json"),
                                           _load("ValueSet-fr-core-vs-mode-validation-identity.json"))}
    record = make_record(7, identity_status="QUAL", created_at="2026-03-01T10:00:00Z")
    extension = _extension(_patient(record), reliability["url"])
    subs = {e["url"]: e for e in extension["extension"]}
    assert set(subs) == {"lastUpdated", "identityStatus", "methodCollection", "dateInterrogationINSi",
                         "validationMode"}
    # Every slice the extension has, under its current name; the ones it requires are there.
    slices = {e["fixedUri"] for e in elements.values() if e["id"].endswith(".url")}
    assert set(subs) <= slices
    assert {e["sliceName"] for e in elements.values() if e.get("min", 0) >= 1} <= set(subs)
    for name in ("methodCollection", "validationMode"):
        assert elements[f"Extension.extension:{name}.url"]["fixedUri"] == name
        value_set = value_sets[elements[f"Extension.extension:{name}.value[x]"]["binding"]["valueSet"].split("|")[0]]
        coding = subs[name]["valueCoding"]
        assert coding["system"] == value_set["compose"]["include"][0]["system"] and coding["code"] in value_set["codes"]
    assert subs["methodCollection"]["valueCoding"]["code"] == "INSI"
    assert "2021-01-01" <= subs["dateInterrogationINSi"]["valueDate"] <= "2026-03-01"
    # lastUpdated is a dateTime with its Paris offset, not before the INSi query.
    stamp = datetime.fromisoformat(subs["lastUpdated"]["valueDateTime"])
    assert stamp.utcoffset() is not None and stamp.date().isoformat() >= subs["dateInterrogationINSi"]["valueDate"]
    # The same story as the HL7 ZFD segment (both read identity_evidence), and nothing claimed that did not happen.
    evidence = identity_evidence(record)
    assert (subs["dateInterrogationINSi"]["valueDate"], subs["validationMode"]["valueCoding"]["code"]) == (
        evidence["insi_date"], evidence["document"])
    provisional = _extension(_patient(make_record(7, identity_status="PROV")), reliability["url"])
    assert {e["url"] for e in provisional["extension"]} == {"lastUpdated", "identityStatus", "methodCollection"}


def test_ins_nir_slice_only_for_a_qualified_identity():
    slice_ = _load("fr-core-patient-ins-identifier.json")
    for status in ("PROV", "RECUP", "VALI", "QUAL"):
        record = make_record(2, identity_status=status)
        patient = _patient(record)
        ins = [i for i in patient["identifier"] if i["system"] == slice_["system"]]
        if status == "QUAL":
            assert len(ins) == 1 and ins[0]["value"] == record["nir"]
            assert ins[0]["type"]["coding"][0] == slice_["type"]
            assert patient["meta"]["profile"] == [slice_["profile"]]
        else:
            assert ins == [] and patient["meta"]["profile"] == [slice_["profile"].replace("-ins", "")], status
            assert record["nir"] not in json.dumps(patient)


def test_birth_place_insee_code_from_the_bound_code_system():
    extension_sd = _load("StructureDefinition-fr-core-address-insee-code.json")
    value_set = _load("ValueSet-fr-core-vs-insee-code.json")
    systems = {include["system"] for include in value_set["compose"]["include"]}
    assert extension_sd["differential"]["element"][0]["binding"]["valueSet"] == value_set["url"]

    born_in_france = _patient(make_record(3, birth_place={"code": "42218", "name": "Saint-Étienne"}))
    place = _extension(born_in_france, "http://hl7.org/fhir/StructureDefinition/patient-birthPlace")["valueAddress"]
    coding = _extension(place, extension_sd["url"])["valueCoding"]
    assert coding["system"] in systems and coding["code"] == "42218"
    assert place["city"] == "SAINT-ETIENNE" and place["country"] == "FRA"

    born_abroad = _patient(make_record(3, birth_place={"code": "99350", "name": "Maroc"}))
    place = _extension(born_abroad, "http://hl7.org/fhir/StructureDefinition/patient-birthPlace")["valueAddress"]
    assert _extension(place, extension_sd["url"])["valueCoding"]["code"] == "99350"
    assert place["country"] == "MAR" and "city" not in place
    assert "Maroc" not in json.dumps(born_abroad)


def test_names_and_places_in_one_casing():
    record = make_record(4, used_name="Dupont-Hérault", first_names=["Hélène", "Zoé"],
                         address={"line": "3 allée des Érables", "postcode": "69003", "city": "Lyon",
                                  "commune_code": "69383"},
                         gp={"rpps": "10003456789", "family_name": "Girard", "first_name": "Anaïs", "city": "Écully"})
    patient = _patient(record)
    assert [n["family"] for n in patient["name"]] == [record["birth_name"], "DUPONT-HERAULT"]
    assert patient["name"][0]["given"] == ["HELENE"]
    assert patient["name"][0]["extension"][0]["valueString"] == "HELENE ZOE"
    assert patient["address"][0]["line"] == ["3 ALLEE DES ERABLES"] and patient["address"][0]["city"] == "LYON"
    gp = _resources(record, "Practitioner")[0]
    assert gp["name"][0]["family"] == "GIRARD" and gp["name"][0]["given"] == ["ANAIS"]
    assert gp["address"][0]["city"] == "ECULLY"


def test_every_coverage_has_its_subscriber_id_and_conditions_use_cim10_fr():
    # AMO: the insured's social security number (what billing reads from the carte Vitale, whatever the INS
    # status); the INS-NIR identifier of the Patient stays with a qualified identity only.
    for status in ("QUAL", "VALI", "RECUP", "PROV"):
        record = make_record(5, identity_status=status)
        [coverage] = _resources(record, "Coverage")
        assert coverage["subscriberId"] == record["nir"], status
    css = make_record(6, coverage={"regime": "Régime général", "caisse": "CPAM du Rhône",
                                   "amc": {"name": "Complémentaire santé solidaire", "member_number": None}})
    assert [c["subscriberId"] for c in _resources(css, "Coverage")] == [css["nir"], css["nir"]]
    mutual = make_record(6, coverage={"regime": "Régime général", "caisse": "CPAM du Rhône",
                                      "amc": {"name": "Harmonie Mutuelle", "member_number": "778899"}})
    assert [c["subscriberId"] for c in _resources(mutual, "Coverage")] == [mutual["nir"], "778899"]
    validated = make_record(5, identity_status="VALI")
    assert not [i for i in _patient(validated)["identifier"] if i["system"] == "urn:oid:1.2.250.1.213.1.4.8"]
    [condition] = _resources(validated, "Condition")
    assert condition["code"]["coding"][0]["system"] == "https://smt.esante.gouv.fr/terminologie-cim-10"


def test_the_gp_has_one_national_id_under_the_ps_oid_in_hl7_and_fhir():
    from canary.plant.channels.mllp.hl7v2 import Peer, build_adt

    record = make_record(4)
    [gp] = _resources(record, "Practitioner")
    fhir = {i["system"]: i["value"] for i in gp["identifier"]}
    message = build_adt(record, "A28", Peer("GAM", "690000880", "DPI", "CHUX", "CHUX"), "1")
    rol = next(s for s in message.split("\r") if s.startswith("ROL|"))
    xcn = rol.split("|")[4].split("^")
    assert xcn[8] == "ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO" and xcn[12] == "RPPS"
    # Under the PS OID the value is the IDNPS, '8' + RPPS, in both channels.
    assert xcn[0] == fhir["urn:oid:1.2.250.1.71.4.2.1"] == "8" + record["gp"]["rpps"]
