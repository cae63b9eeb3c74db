"""FHIR R4 FR Core transaction Bundle for one canary, validated with fhir.resources.

fhir.resources 8.x (pydantic 2) ships R5 as its default package and R4B beside it; R4B has the same
structure as R4 for every resource used here (Patient, Practitioner, Coverage, Condition,
MedicationStatement, AllergyIntolerance, DocumentReference, Bundle), so it validates R4 content.
The 6.x line that defaulted to R4 needs pydantic 1, which clashes with the rest of the stack.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from canary.errors import CanaryError
from canary.generate.text import ins_form
from canary.normalize import national_phone
from canary.plant.countries import country_of_birth
from canary.plant.identity import carries_ins, identity_evidence, status_updated
from canary.plant.timing import PARIS as LOCAL_TIME

FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition"
INS_NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"  # national professional id: '8' + RPPS
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
FINESS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
# CIM-10 as French systems code it (ATIH's PMSI edition), published by the ANS terminology server.
ICD10_SYSTEM = "https://smt.esante.gouv.fr/terminologie-cim-10"
ATC_SYSTEM = "http://www.whocc.no/atc"
CIP_SYSTEM = "https://smt.esante.gouv.fr/terminologie-cip"
V2_0203_FR = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
# FR Core binds fr-core-address-insee-code to fr-core-vs-insee-code, which includes this code system.
INSEE_COMMUNE = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
# Required binding of fr-core-identity-reliability's identityStatus: PROV, RECUP, VALI, QUAL (RNIV).
IDENTITY_STATUS = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status"
# The same evidence as PAM FR's ZFD-5..7: how the traits were obtained (SM, INSI...), and the identity
# document checked (CN, PA, CS, LE...).
METHOD_COLLECTION = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-method-collection"
VALIDATION_MODE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity"
# Deleted first when a canary is retired; the Patient goes last, the shared Practitioner stays.
RETIRE_ORDER = ("DocumentReference", "AllergyIntolerance", "MedicationStatement", "Condition", "Coverage",
                "Patient")


@dataclass(frozen=True)
class Establishment:
    name: str
    finess: str | None
    ipp_system: str


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def upper(value: str | None) -> str | None:
    """Names and places as the INS traits and postal addresses write them: upper case, no diacritics."""
    return ins_form(value) if value else None


def birth_place(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """patient-birthPlace: the INSEE code in fr-core-address-insee-code; born abroad, the 99xxx code there,
    the country (ISO 3166 alpha-3) in ``country`` and no city."""
    place = record.get("birth_place") or {}
    code = str(place.get("code") or "")
    if not code:
        return None
    country = country_of_birth(code)
    abroad = code.startswith("99")
    return {"extension": [{"url": f"{FR_CORE}/fr-core-address-insee-code",
                           "valueCoding": _coding(INSEE_COMMUNE, code)}],
            "city": None if abroad else upper(place.get("name")),
            "country": country.alpha3 if country else None}


def _reliability(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Sub-extensions of fr-core-identity-reliability: status, and how the identity was obtained and checked."""
    evidence = identity_evidence(record)
    # Current FR Core: lastUpdated 1..1, and the INSi query date is dateInterrogationINSi (2.2.0's dateCollection).
    out: list[dict[str, Any]] = [{"url": "identityStatus",
                                  "valueCoding": _coding(IDENTITY_STATUS, record.get("identity_status") or "PROV")},
                                 {"url": "lastUpdated", "valueDateTime": status_updated(record).isoformat()}]
    if evidence["source"]:
        out.append({"url": "methodCollection", "valueCoding": _coding(METHOD_COLLECTION, evidence["source"])})
    if evidence["insi_date"]:
        out.append({"url": "dateInterrogationINSi", "valueDate": evidence["insi_date"]})
    if evidence["document"]:
        out.append({"url": "validationMode", "valueCoding": _coding(VALIDATION_MODE, evidence["document"])})
    return out


def patient_resource(record: Mapping[str, Any], site: Establishment, gp_ref: str | None, *,
                     with_ipp: bool = True) -> dict[str, Any]:
    first_names = [ins_form(name) for name in record.get("first_names") or []]
    identifiers = [{"use": "usual", "type": {"coding": [_coding(V2_0203, "PI")]},
                    "system": site.ipp_system, "value": record["ipp"]}] if with_ipp else []
    if carries_ins(record):
        identifiers.insert(0, {"use": "official", "type": {"coding": [_coding(V2_0203_FR, "INS-NIR")]},
                               "system": INS_NIR_SYSTEM, "value": record["nir"]})
    names = [{"use": "official", "family": upper(record["birth_name"]), "given": first_names[:1],
              "extension": [{"url": f"{FR_CORE}/fr-core-patient-birth-list-given-name",
                             "valueString": " ".join(first_names)}]}]
    if record.get("used_name"):
        names.append({"use": "usual", "family": upper(record["used_name"]), "given": first_names[:1]})
    extensions: list[dict[str, Any]] = [{"url": f"{FR_CORE}/fr-core-identity-reliability",
                                         "extension": _reliability(record)}]
    place = birth_place(record)
    if place:
        extensions.append({"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress": place})
    telecom = []
    for index, phone in enumerate(record.get("phones") or []):
        number = national_phone(phone)
        telecom.append({"system": "phone", "value": number, "rank": index + 1,
                        "use": "mobile" if number[:2] in ("06", "07") else "home"})
    if record.get("email"):
        telecom.append({"system": "email", "value": record["email"], "use": "home"})
    address = record.get("address") or {}
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "meta": {"profile": [f"{FR_CORE}/fr-core-patient" + ("-ins" if carries_ins(record) else "")]},
        "extension": extensions,
        "identifier": identifiers,
        "active": True,
        "name": names,
        "telecom": telecom or None,
        "gender": {"F": "female", "M": "male"}.get(record.get("sex") or "", "unknown"),
        "birthDate": record.get("birth_date"),
        "address": [{"use": "home", "type": "both", "line": [upper(address["line"])] if address.get("line") else None,
                     "city": upper(address.get("city")), "postalCode": address.get("postcode"), "country": "FRA"}]
        if address else None,
    }
    if gp_ref:
        patient["generalPractitioner"] = [{"reference": gp_ref}]
    if site.finess:
        patient["managingOrganization"] = {"identifier": {"system": FINESS_SYSTEM, "value": site.finess},
                                           "display": site.name}
    return patient


def practitioner_resource(gp: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "meta": {"profile": [f"{FR_CORE}/fr-core-practitioner"]},
        "identifier": [
            {"use": "official", "type": {"coding": [_coding(V2_0203_FR, "IDNPS")]},
             "system": IDNPS_SYSTEM, "value": f"8{gp['rpps']}"},
            {"type": {"coding": [_coding(V2_0203_FR, "RPPS")]}, "system": RPPS_SYSTEM, "value": gp["rpps"]},
        ],
        "name": [{"use": "official", "family": upper(gp.get("family_name")),
                  "given": [upper(gp["first_name"])] if gp.get("first_name") else None, "prefix": ["Dr"]}],
        "address": [{"city": upper(gp["city"])}] if gp.get("city") else None,
    }


def coverage_resources(record: Mapping[str, Any], patient_ref: str) -> list[dict[str, Any]]:
    coverage = record.get("coverage") or {}
    out = []
    if coverage.get("regime") or coverage.get("caisse"):
        out.append({"resourceType": "Coverage", "status": "active",
                    "type": {"text": coverage.get("regime")},
                    # The insured's social security number, as billing reads it from the carte Vitale whatever
                    # the identity's status (the INS-NIR identifier of the Patient stays with QUAL only).
                    "subscriberId": record.get("nir"),
                    "beneficiary": {"reference": patient_ref},
                    "payor": [{"display": coverage.get("caisse") or coverage.get("regime")}]})
    amc = coverage.get("amc") or {}
    if amc.get("name"):
        out.append({"resourceType": "Coverage", "status": "active", "type": {"text": "Complémentaire santé"},
                    # The member number; a CSS managed by the caisse knows the beneficiary by the NIR.
                    "subscriberId": amc.get("member_number") or record.get("nir"),
                    "beneficiary": {"reference": patient_ref},
                    "payor": [{"display": amc["name"]}]})
    return out


def condition_resource(condition: dict[str, Any], patient_ref: str) -> dict[str, Any]:
    return {"resourceType": "Condition",
            "clinicalStatus": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                  "active")]},
            "code": {"coding": [_coding(ICD10_SYSTEM, condition["code"], condition.get("label"))],
                     "text": condition.get("label")},
            "subject": {"reference": patient_ref},
            "onsetDateTime": condition.get("onset")}


def medication_resource(prescription: dict[str, Any], patient_ref: str, today: date) -> dict[str, Any]:
    codings = []
    if prescription.get("cip13"):
        codings.append(_coding(CIP_SYSTEM, prescription["cip13"], prescription.get("drug")))
    if prescription.get("atc"):
        codings.append(_coding(ATC_SYSTEM, prescription["atc"]))
    end = prescription.get("end")
    return {"resourceType": "MedicationStatement",
            "status": "completed" if end and end < today.isoformat() else "active",
            "medicationCodeableConcept": {"coding": codings or None, "text": prescription.get("drug")},
            "subject": {"reference": patient_ref},
            "effectivePeriod": {"start": prescription.get("start"), "end": end},
            "dosage": [{"text": prescription["dosage"]}] if prescription.get("dosage") else None}


def allergy_resource(allergy: dict[str, Any], patient_ref: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {"coding": [_coding(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active")]},
        "code": {"text": allergy["substance"]},
        "patient": {"reference": patient_ref},
    }
    if allergy.get("reaction"):
        resource["reaction"] = [{"manifestation": [{"text": allergy["reaction"]}]}]
    return resource


def document_resource(url: str, patient_ref: str, created: str | None) -> dict[str, Any]:
    return {"resourceType": "DocumentReference", "status": "current",
            "type": {"coding": [_coding("http://loinc.org", "11488-4", "Consult note")],
                     "text": "Compte rendu de consultation"},
            "subject": {"reference": patient_ref},
            "date": created,
            "content": [{"attachment": {"contentType": "application/pdf", "url": url,
                                        "title": "Compte rendu de consultation"}}]}


def _prune(value: Any) -> Any:
    """Drop empty values: FHIR forbids empty elements."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [v for v in (_prune(v) for v in value) if v not in (None, "", [], {})]
    return value


def validate(resource: dict[str, Any]) -> dict[str, Any]:
    """Check a resource against the R4(B) model; return it as the model writes it back."""
    name = resource.get("resourceType", "")
    try:
        model = get_fhir_model_class(name).model_validate(resource)
    except (KeyError, ValueError, ValidationError) as exc:
        raise CanaryError(f"FHIR {name or 'resource'} does not validate: {exc}") from exc
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def instant(moment: datetime) -> str:
    """A FHIR instant as French servers write it: Paris time with its offset, milliseconds."""
    local = moment.astimezone(LOCAL_TIME)
    return local.isoformat(timespec="milliseconds")


def build_bundle(record: Mapping[str, Any], site: Establishment, *, today: date | None = None,
                 created: str | None = None, sent_at: datetime | None = None, with_ipp: bool = True) -> dict[str, Any]:
    """A transaction Bundle: Patient, GP Practitioner, Coverage, Condition, MedicationStatement,
    AllergyIntolerance and DocumentReference. Patient and Practitioner are created only if absent.
    ``created``: the DocumentReference's date; ``sent_at``: every resource's ``meta.lastUpdated``;
    ``with_ipp`` False: the Patient carries no IPP, the server allocates it."""
    today = today or date.today()
    entries: list[dict[str, Any]] = []
    stamp = instant(sent_at) if sent_at else None

    def stamped(resource: dict[str, Any]) -> dict[str, Any]:
        if stamp:
            resource["meta"] = {**(resource.get("meta") or {}), "lastUpdated": stamp}
        return resource

    def add(resource: dict[str, Any], if_none_exist: str | None = None) -> str:
        resource = stamped(resource)
        full_url = f"urn:uuid:{uuid.uuid4()}"
        request = {"method": "POST", "url": resource["resourceType"]}
        if if_none_exist:
            request["ifNoneExist"] = if_none_exist
        entries.append({"fullUrl": full_url, "resource": validate(_prune(resource)), "request": request})
        return full_url

    gp = record.get("gp") or {}
    gp_ref = add(practitioner_resource(gp), f"identifier={IDNPS_SYSTEM}|8{gp['rpps']}") if gp.get("rpps") else None
    # The Patient entry is created first in our list of references, but added after the GP it points to.
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    patient = validate(_prune(stamped(patient_resource(record, site, gp_ref, with_ipp=with_ipp))))
    # Created only if absent, keyed on the IPP; without one (the server allocates it) there is no key.
    request = {"method": "POST", "url": "Patient"}
    if with_ipp:
        request["ifNoneExist"] = f"identifier={site.ipp_system}|{record['ipp']}"
    entries.append({"fullUrl": patient_url, "resource": patient, "request": request})
    for coverage in coverage_resources(record, patient_url):
        add(coverage)
    for condition in record.get("conditions") or []:
        add(condition_resource(condition, patient_url))
    for prescription in record.get("prescriptions") or []:
        add(medication_resource(prescription, patient_url, today))
    for allergy in record.get("allergies") or []:
        if allergy.get("substance"):
            add(allergy_resource(allergy, patient_url))
    url = (record.get("tokens") or {}).get("url")
    if url:
        add(document_resource(url, patient_url, created))
    # Each resource was validated on its own (for an error that names it); the envelope is ours.
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def assigned_ipp(patient: Mapping[str, Any], site: Establishment) -> str | None:
    """The IPP a server gave a Patient: its identifier in the establishment's IPP system, else of type PI."""
    identifiers = patient.get("identifier") or []
    for identifier in identifiers:
        if identifier.get("system") == site.ipp_system and identifier.get("value"):
            return str(identifier["value"])
    for identifier in identifiers:
        codes = [c.get("code") for c in ((identifier.get("type") or {}).get("coding") or [])]
        if "PI" in codes and identifier.get("value"):
            return str(identifier["value"])
    return None
