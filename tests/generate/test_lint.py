"""Each lint rule, shown failing on a record that breaks it (and only the generated record passing)."""

import copy
from datetime import date

import pytest

from canary.generate.lint import Problem, lint_record, lint_records
from canary.generate.nir import check_key, make_nir
from canary.generate.patient import Pools
from tests.support.generate import TODAY, generate_batch


@pytest.fixture(scope="module")
def good(generator) -> dict:
    """A generated adult born in France after 1976, with a mobile, a landline and an e-mail."""
    for record in generate_batch(generator, 400, seed=21):
        if (record["birth_date"] > "1977" and record["birth_place"]["code"][:2].isdigit()
                and not record["birth_place"]["code"].startswith(("99", "97")) and len(record["phones"]) == 2
                and record["email"] and record["birth_date"] < "2000"):
            return record
    raise AssertionError("no suitable record in the sample")


def rules(record, reference, pools=None) -> set[str]:
    return {p.rule for p in lint_record(record, TODAY, reference=reference, pools=pools)}


def changed(record: dict, **fields) -> dict:
    out = copy.deepcopy(record)
    for dotted, value in fields.items():
        target = out
        *path, last = dotted.split("__")
        for key in path:
            target = target[key]
        target[last] = value
    return out


def with_nir(record: dict, first13: str) -> dict:
    return changed(record, nir=first13 + check_key(first13))


def test_the_generated_record_is_clean(good, reference, pools):
    assert lint_record(good, TODAY, reference=reference, pools=pools) == []


def test_problem_is_a_small_dataclass():
    problem = Problem("nir-key", "nir", "bad key")
    assert (problem.rule, problem.field, problem.message) == ("nir-key", "nir", "bad key")


def test_nir_key(good, reference):
    wrong = f"{(int(good['nir'][13:]) + 1) % 97:02d}"
    assert "nir-key" in rules(changed(good, nir=good["nir"][:13] + wrong), reference)
    assert "nir-key" in rules(changed(good, nir="1234"), reference)


def test_nir_sex_date_place_and_order(good, reference):
    nir = good["nir"]
    other_sex = "2" if nir[0] == "1" else "1"
    assert "nir-sex" in rules(with_nir(good, other_sex + nir[1:13]), reference)
    other_month = f"{int(nir[3:5]) % 12 + 1:02d}"
    assert "nir-birth-date" in rules(with_nir(good, nir[:3] + other_month + nir[5:13]), reference)
    assert "nir-birth-place" in rules(with_nir(good, nir[:5] + "75115" + nir[10:13]), reference)
    assert "nir-order" in rules(with_nir(good, nir[:10] + "000"), reference)


def test_birth_place_code_must_exist_on_the_birth_date(good, reference):
    def born(code, birth_date, name):
        sex = good["sex"]
        record = changed(good, birth_place={"code": code, "name": name}, birth_date=birth_date)
        return changed(record, nir=make_nir(sex, date.fromisoformat(birth_date), code, 7))

    assert "birth-place-unknown" in rules(born("99999", "1980-05-05", "Atlantide"), reference)
    assert "birth-place-unknown" in rules(born("99100", "1980-05-05", "France"), reference)  # France is not abroad
    assert "birth-place-unknown" in rules(born("2A004", "1960-05-05", "Ajaccio"), reference)  # 20004 then
    assert "birth-place-unknown" in rules(born("20004", "1980-05-05", "Ajaccio"), reference)  # 2A004 by then
    assert "birth-place-unknown" in rules(born("92012", "1955-05-05", "Boulogne-Billancourt"), reference)
    assert "birth-place-unknown" in rules(born("99352", "1955-05-05", "Algérie"), reference)  # French Algeria
    assert "birth-place-unknown" in rules(born("69383", "1980-05-05", "Marseille"), reference)  # wrong name
    assert "birth-place-unknown" not in rules(born("20004", "1960-05-05", "Ajaccio"), reference)
    assert "birth-place-unknown" not in rules(born("99350", "1960-05-05", "Maroc"), reference)


def test_test_identities_fict_and_test_oids_anywhere(good, reference):
    assert "test-identity" in rules(changed(good, birth_name="ADRTROIS"), reference)
    assert "test-identity" in rules(changed(good, birth_name="PAT-TROIS"), reference)
    assert "test-identity" in rules(changed(good, used_name="TCHITCHI"), reference)
    assert "test-identity" in rules(changed(good, birth_name="DUPONT-TEST"), reference)
    assert "test-identity" in rules(changed(good, conditions=[{"code": "Z00", "label": "FICT", "onset": None}]),
                                    reference)
    assert "test-identity" in rules(changed(good, ipp="1.2.250.1.213.1.4.10"), reference)
    assert "identity-status" in rules(changed(good, identity_status="FICT"), reference)


def test_names_without_digits_in_ins_form(good, reference):
    assert "name-digits" in rules(changed(good, birth_name="DUPONT2"), reference)
    assert "name-digits" in rules(changed(good, first_names=["MARIE1"]), reference)
    assert "name-characters" in rules(changed(good, birth_name="Dupont"), reference)
    assert "name-characters" in rules(changed(good, birth_name=""), reference)


def test_first_names_fit_the_birth_decade_and_sex(good, reference):
    sex = good["sex"]
    assert "first-name-decade" in rules(changed(good, first_names=["KEVIN" if sex == "M" else "ENZA"],
                                                birth_date="1925-03-03"), reference)
    wrong_sex = "MARTINE" if sex == "M" else "BERNARD"
    assert "first-name-decade" in rules(changed(good, first_names=[wrong_sex]), reference)
    assert "first-name-decade" in rules(changed(good, first_names=[good["first_names"][0], "ZZYZX"]), reference)


def test_address_commune_postcode_and_city(good, reference):
    assert "commune-postcode" in rules(changed(good, address__commune_code="00000"), reference)
    assert "commune-postcode" in rules(changed(good, address__postcode="75001", address__commune_code="69383",
                                               address__city="LYON"), reference)
    assert "commune-postcode" in rules(changed(good, address__city="NOWHERE"), reference)
    assert "address-line" in rules(changed(good, address__line="rue sans numero"), reference)


def test_phones_valid_real_owned_and_in_zone(good, reference, pools):
    assert "phone-invalid" in rules(changed(good, phones=["+33639981234"]), reference)  # fiction, 06 39 98
    assert "phone-invalid" in rules(changed(good, phones=["+33199001234"]), reference)  # fiction, 01 99 00
    assert "phone-invalid" in rules(changed(good, phones=["+33162001234"]), reference)  # telemarketing 0162
    assert "phone-invalid" in rules(changed(good, phones=["0612345678"]), reference)
    assert "phone-invalid" in rules(changed(good, phones=["+3361234"]), reference)
    assert "phone-not-owned" in rules(changed(good, phones=["+33698765432"]), reference, pools)
    zone = reference.phone_zones[reference.communes[good["address"]["commune_code"]].department]
    other = "5" if zone != "05" else "3"
    assert "phone-zone" in rules(changed(good, phones=[f"+33{other}45670001"]), reference)
    assert "duplicate" in rules(changed(good, phones=[good["phones"][0], good["phones"][0]]), reference)


def test_email_shape_words_hex_and_domain(good, reference, pools):
    domain = good["email"].split("@")[1]
    for local in ("canary.jean", "jean.test", "honeypot", "fake.marie", "demo12", "a3f9c2b1d4e5"):
        assert "email-marker" in rules(changed(good, email=f"{local}@{domain}"), reference), local
    assert "email-shape" in rules(changed(good, email="Jean Dupont@x.fr"), reference)
    assert "email-not-owned" in rules(changed(good, email="jean.dupont@gmail.com"), reference, pools)


def test_identity_basics(good, reference):
    assert "sex" in rules(changed(good, sex="X"), reference)
    assert "birth-date" in rules(changed(good, birth_date="2099-01-01"), reference)
    assert "birth-date" in rules(changed(good, birth_date="1890-01-01"), reference)
    assert "birth-date" in rules(changed(good, birth_date="31/12/1980"), reference)
    assert "identity-status" in rules(changed(good, identity_status="DOUT"), reference)


def test_duplicates_across_records_name_both_canaries(good, pools):
    a = changed(good, id="aaa")
    b = changed(good, id="bbb", ipp="999999999")
    found = lint_records([a, b], TODAY, pools)
    duplicated = {(cid, p.field) for cid, p in found if p.rule == "duplicate"}
    assert {("aaa", "nir"), ("bbb", "nir"), ("aaa", "name_birth"), ("bbb", "email")} <= duplicated
    assert ("aaa", "ipp") not in duplicated


def test_clinical_problems_are_reported(good, reference):
    clinical = pytest.importorskip("canary.generate.clinical")
    record = changed(good, sex="F", conditions=[{"code": "C61", "label": "Tumeur maligne de la prostate",
                                                 "onset": "2015-01-01"}])
    assert clinical.check_clinical(record, TODAY), "the clinical checks should catch this"
    assert any(rule.startswith("clinical-") for rule in rules(record, reference))


def test_pools_only_checked_when_given(good, reference):
    record = changed(good, phones=["+33698765432"], email="jean.dupont@gmail.com")
    assert not {"phone-not-owned", "email-not-owned"} & rules(record, reference)
    assert {"phone-not-owned", "email-not-owned"} <= rules(record, reference, Pools(("+33612345678",), ("a.fr",)))
