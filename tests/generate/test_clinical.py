"""Clinical part: every check_clinical rule fires on a record made to break it, and generated patients
of every age and sex pass them all."""

from __future__ import annotations

import copy
import random
from datetime import date, timedelta
from typing import Any

import pytest
from stdnum import luhn

from canary.generate.admin import AdminTables, make_administrative
from canary.generate.clinical import ClinicalTables, check_clinical, make_clinical

TODAY = date(2026, 11, 28)


@pytest.fixture(scope="module")
def tables() -> ClinicalTables:
    return ClinicalTables.load()


def valid_record(**overrides: Any) -> dict[str, Any]:
    record = {
        "sex": "M",
        "birth_date": "1958-04-12",
        "conditions": [
            {"code": "I10", "label": "Hypertension essentielle (primitive)", "onset": "2012-05-03"},
            {"code": "N40", "label": "Hyperplasie de la prostate", "onset": "2019-01-20"},
        ],
        "prescriptions": [
            {"drug": "AMLODIPINE 5 mg, comprimé", "cip13": None, "atc": "C08CA01",
             "dosage": "1 comprimé le matin", "start": "2026-10-02", "end": "2026-12-31"},
        ],
        "allergies": [{"substance": "Pénicillines", "reaction": "Urticaire"}],
    }
    record.update(overrides)
    return record


def test_valid_record_passes(tables: ClinicalTables) -> None:
    assert check_clinical(valid_record(), TODAY, tables) == []


def condition(code: str, label: str, onset: str | None) -> list[dict[str, Any]]:
    return [{"code": code, "label": label, "onset": onset}]


def prescription(drug: str, atc: str, start: str, end: str | None = None, cip13: str | None = None) -> list[dict]:
    return [{"drug": drug, "cip13": cip13, "atc": atc, "dosage": "1 comprimé par jour", "start": start, "end": end}]


AMOX_ADULT = "AMOXICILLINE 1 g, comprimé dispersible"
PROSTATE_CANCER = ("C61", "Tumeur maligne de la prostate")
BREAST_CANCER = ("C50.9", "Tumeur maligne du sein, sans précision")
BIRTH = ("O80.0", "Accouchement (unique) spontané par présentation du sommet")
BRONCHIOLITIS = ("J21.9", "Bronchiolite (aiguë), sans précision")
HYPERTENSION = ("I10", "Hypertension essentielle (primitive)")

BROKEN = {
    "bad_record": {"birth_date": "12/04/1958"},
    "unknown_code": {"conditions": condition("X99.9", "Maladie imaginaire", "2010-01-01")},
    "label_mismatch": {"conditions": condition("I10", "Hypertension artérielle", "2010-01-01")},
    "bad_date": {"conditions": condition(*HYPERTENSION, "2010-13-01")},
    "onset_before_birth": {"conditions": condition(*HYPERTENSION, "1950-01-01")},
    "onset_in_future": {"conditions": condition(*HYPERTENSION, "2027-06-01")},
    "sex_mismatch": {"sex": "F", "conditions": condition(*PROSTATE_CANCER, "2020-01-01")},
    "age_mismatch": {"birth_date": "2021-03-01", "conditions": condition(*HYPERTENSION, "2024-01-01"),
                     "prescriptions": []},
    "pregnancy_sex": {"conditions": condition(*BIRTH, "1990-06-01")},
    "pregnancy_age": {"sex": "F", "conditions": condition(*BIRTH, "2014-06-01")},
    "unknown_drug": {"prescriptions": prescription("PILULE MIRACLE 10 mg, comprimé", "A01AA01", "2026-01-01")},
    "atc_mismatch": {"prescriptions": prescription("AMLODIPINE 5 mg, comprimé", "C09AA05", "2026-01-01")},
    "cip13_invalid": {"prescriptions": prescription("AMLODIPINE 5 mg, comprimé", "C08CA01", "2026-01-01",
                                                    cip13="3400912345678")},
    "drug_start_before_birth": {"prescriptions": prescription("AMLODIPINE 5 mg, comprimé", "C08CA01", "1950-01-01")},
    "drug_start_in_future": {"prescriptions": prescription("AMLODIPINE 5 mg, comprimé", "C08CA01", "2027-01-01")},
    "drug_end_before_start": {"prescriptions": prescription("AMLODIPINE 5 mg, comprimé", "C08CA01",
                                                            "2026-01-01", end="2025-12-01")},
    "drug_sex_mismatch": {"sex": "F", "conditions": [],
                          "prescriptions": prescription("TAMSULOSINE LP 0,4 mg, gélule à libération prolongée",
                                                        "G04CA02", "2026-01-01")},
    "drug_before_marketing": {"prescriptions": prescription("ELIQUIS 5 mg, comprimé pelliculé (apixaban)", "B01AF02",
                                                            "2005-01-01")},
    "allergy_conflict": {"prescriptions": prescription(AMOX_ADULT, "J01CA04", "2026-01-01", end="2026-01-07")},
}


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_each_rule_fires(tables: ClinicalTables, rule: str) -> None:
    problems = check_clinical(valid_record(**BROKEN[rule]), TODAY, tables)
    assert rule in {found for found, _ in problems}, problems


@pytest.mark.parametrize(
    ("birth_date", "drug", "atc"),
    [
        # a paediatric suspension dosed by weight, given to an adult
        ("1958-04-12", "AMOXICILLINE 250 mg/5 ml, poudre pour suspension buvable", "J01CA04"),
        # an adult statin given to a child
        ("2019-04-12", "ATORVASTATINE 20 mg, comprimé pelliculé", "C10AA05"),
    ],
)
def test_drug_age_mismatch(tables: ClinicalTables, birth_date: str, drug: str, atc: str) -> None:
    record = valid_record(birth_date=birth_date, conditions=[], allergies=[],
                          prescriptions=prescription(drug, atc, "2026-01-01"))
    assert "drug_age_mismatch" in {rule for rule, _ in check_clinical(record, TODAY, tables)}


@pytest.mark.parametrize(
    ("sex", "birth_date", "code_label", "rule"),
    [
        ("M", "1960-01-01", BREAST_CANCER, "sex_mismatch"),
        ("F", "1960-01-01", ("N40", "Hyperplasie de la prostate"), "sex_mismatch"),
        ("F", "1990-01-01", ("N41.0", "any label"), "sex_mismatch"),  # male-only even outside the table
        ("F", "1960-01-01", BRONCHIOLITIS, "age_mismatch"),  # paediatric condition in an adult
        ("F", "1940-01-01", ("Z34.9", "Surveillance d'une grossesse normale, sans précision"), "pregnancy_age"),
    ],
)
def test_sex_and_age_tells(tables: ClinicalTables, sex: str, birth_date: str,
                           code_label: tuple[str, str], rule: str) -> None:
    record = valid_record(sex=sex, birth_date=birth_date, prescriptions=[],
                          conditions=condition(*code_label, "2024-06-01"))
    assert rule in {found for found, _ in check_clinical(record, TODAY, tables)}


def random_birth(rng: random.Random) -> date:
    return TODAY - timedelta(days=rng.randint(0, 365 * 100 + 24))


def test_generated_patients_pass_every_rule(tables: ClinicalTables) -> None:
    admin = AdminTables.load()
    rng = random.Random(2026)
    communes = ["69123", "75115", "13055", "59350", "2A004", "97411", "29019", "67482", "01004", "48095"]
    for index in range(5000):
        sex = "F" if index % 2 else "M"
        birth = random_birth(rng)
        clinical = make_clinical(rng, sex=sex, birth_date=birth, today=TODAY, tables=tables)
        record = {"sex": sex, "birth_date": birth.isoformat(), **clinical}
        assert check_clinical(record, TODAY, tables) == [], record
        part = make_administrative(rng, admin, sex=sex, birth_date=birth,
                                   commune_code=communes[index % len(communes)], today=TODAY)
        rpps = part["gp"]["rpps"]
        assert len(rpps) == 11 and rpps.isdigit() and luhn.is_valid(rpps)


def test_same_seed_same_patient(tables: ClinicalTables) -> None:
    def run(seed: int) -> list[dict]:
        rng = random.Random(seed)
        return [make_clinical(rng, sex="F", birth_date=random_birth(rng), today=TODAY, tables=tables)
                for _ in range(200)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_wrapper_without_tables_matches_loaded_tables(tables: ClinicalTables) -> None:
    kwargs = {"sex": "M", "birth_date": date(1948, 2, 29), "today": TODAY}
    assert make_clinical(random.Random(1), **kwargs) == make_clinical(random.Random(1), **kwargs, tables=tables)
    assert check_clinical(copy.deepcopy(valid_record()), TODAY) == []


def test_realistic_missingness_and_polypharmacy(tables: ClinicalTables) -> None:
    rng = random.Random(3)
    def patients(oldest: date) -> list[dict]:
        return [make_clinical(rng, sex=rng.choice("FM"), birth_date=oldest + timedelta(days=rng.randint(0, 3650)),
                              today=TODAY, tables=tables) for _ in range(1000)]

    children, elderly = patients(TODAY - timedelta(days=3650)), patients(date(1940, 1, 1))
    healthy_children = sum(not c["conditions"] for c in children) / len(children)
    assert healthy_children > 0.5
    mean_elderly_drugs = sum(len(c["prescriptions"]) for c in elderly) / len(elderly)
    assert mean_elderly_drugs > 2
    assert any(not c["conditions"] for c in elderly)  # some old records are empty too


def test_never_a_fabricated_cip13_and_labels_from_the_table(tables: ClinicalTables) -> None:
    rng = random.Random(4)
    for _ in range(1000):
        part = make_clinical(rng, sex=rng.choice("FM"), birth_date=random_birth(rng), today=TODAY, tables=tables)
        assert all(item["cip13"] is None for item in part["prescriptions"])
        assert all(tables.conditions[c["code"]].label == c["label"] for c in part["conditions"])


def test_children_get_paediatric_forms(tables: ClinicalTables) -> None:
    rng = random.Random(5)
    forms = set()
    for _ in range(3000):
        part = make_clinical(rng, sex=rng.choice("FM"), birth_date=TODAY - timedelta(days=rng.randint(200, 2000)),
                             today=TODAY, tables=tables)
        forms.update(item["drug"] for item in part["prescriptions"])
    assert any("suspension buvable" in form for form in forms)
    assert not any("1 g, comprimé" in form for form in forms)


@pytest.mark.parametrize(("sex", "birth"), [("X", date(1980, 1, 1)), ("F", date(2027, 1, 1))])
def test_bad_input_is_an_error(tables: ClinicalTables, sex: str, birth: date) -> None:
    with pytest.raises(ValueError):
        make_clinical(random.Random(1), sex=sex, birth_date=birth, today=TODAY, tables=tables)
