import random
from collections import Counter
from datetime import date

import pytest
from stdnum.fr import nir as stdnum_nir

from canary.generate.lint import lint_records
from canary.generate.patient import PatientGenerator, Pools
from canary.normalize import phone_key
from canary.store.markers import markers_for
from tests.support.generate import TODAY, generate_batch

RECORD_KEYS = {"sex", "birth_name", "used_name", "first_names", "birth_date", "birth_place", "nir",
               "identity_status", "address", "phones", "email", "ipp"}


def test_two_thousand_records_pass_every_lint_rule_and_share_no_identifier(batch, pools):
    assert lint_records(batch, TODAY, pools) == []
    markers = [m for record in batch for m in markers_for(record)]
    assert len(markers) == len(set(markers))
    for kind in ("nir", "ipp", "name_birth"):
        assert sum(k == kind for k, _ in markers) >= len(batch)


def test_records_follow_the_contract(batch):
    for record in batch[:200]:
        assert set(record) >= RECORD_KEYS
        assert not {"id", "system", "generation", "created_at", "tokens"} & (set(record) - {"id"})
        assert stdnum_nir.is_valid(record["nir"])
        assert set(record["address"]) == {"line", "postcode", "city", "commune_code"}
        assert all(p.startswith("+") for p in record["phones"])


def test_same_seed_same_canaries(generator):
    assert generate_batch(generator, 50, seed=5) == generate_batch(generator, 50, seed=5)
    assert generate_batch(generator, 50, seed=5) != generate_batch(generator, 50, seed=6)


def test_values_already_in_the_registry_are_avoided(reference):
    pools = Pools(phones=("+33612300001", "+33612300002"), mail_domains=("boite.fr",))
    generator = PatientGenerator(reference, pools)
    first = generator.generate(random.Random(1), today=TODAY, taken=lambda kind, value: False)
    taken = set(markers_for(first)) | {("phone", "612300001")}
    again = generator.generate(random.Random(1), today=TODAY, taken=lambda kind, value: (kind, value) in taken)
    assert not set(markers_for(again)) & taken
    assert "+33612300001" not in again["phones"]


def test_an_exhausted_pool_leaves_the_phone_out_rather_than_reusing_it(reference):
    generator = PatientGenerator(reference, Pools(phones=("+33612300001",)))
    records = generate_batch(generator, 30, seed=2)
    assert sum(len(r["phones"]) for r in records) == 1


def test_without_pools_there_is_no_phone_and_no_email(reference):
    records = generate_batch(PatientGenerator(reference, Pools()), 100, seed=3)
    assert all(r["phones"] == [] and r["email"] is None for r in records)


def _age(record) -> int:
    birth = date.fromisoformat(record["birth_date"])
    return TODAY.year - birth.year - ((TODAY.month, TODAY.day) < (birth.month, birth.day))


def test_the_mix_looks_like_a_hospital_s_patients(batch):
    n = len(batch)
    ages = [_age(r) for r in batch]
    assert 0.3 < sum(a >= 65 for a in ages) / n < 0.5  # the elderly dominate hospital stays
    assert 0.05 < sum(a < 5 for a in ages) / n < 0.12
    assert max(ages) <= 102 and min(ages) >= 0
    assert 0.5 < sum(r["sex"] == "F" for r in batch) / n < 0.6
    statuses = Counter(r["identity_status"] for r in batch)
    assert set(statuses) == {"QUAL", "VALI", "RECUP", "PROV"}
    assert statuses["QUAL"] / n > 0.45
    foreign = sum(r["birth_place"]["code"].startswith("99") for r in batch) / n
    assert 0.06 < foreign < 0.16
    counts = Counter(len(r["first_names"]) for r in batch)
    assert counts[1] and counts[2] and counts[3] and counts[4] and counts[2] + counts[3] > n / 2
    assert any("-" in name for r in batch for name in r["first_names"])  # compound first names
    women = [r for r in batch if r["sex"] == "F" and _age(r) >= 40]
    assert 0.35 < sum(r["used_name"] is not None for r in women) / len(women) < 0.75
    assert all(r["used_name"] is None for r in batch if _age(r) < 18)
    with_email = [r for r in batch if r["email"]]
    assert 0.35 < len(with_email) / n < 0.75
    old = [r for r in batch if _age(r) >= 85]
    assert sum(r["email"] is not None for r in old) / len(old) < 0.35  # older people less online


def test_births_happen_in_maternity_towns_and_people_live_where_people_live(batch, reference):
    recent = [r for r in batch if r["birth_date"] >= "1990" and not r["birth_place"]["code"].startswith("99")]
    populations = [reference.communes[r["birth_place"]["code"]].population for r in recent]
    assert min(populations) >= 2_000  # even a rural department's maternity is in its main town
    assert sorted(populations)[len(populations) // 2] > 50_000
    homes = Counter(r["address"]["city"] for r in batch)
    assert homes.most_common(1)[0][0] == "PARIS"


def test_special_birth_places(generator):
    records = generate_batch(generator, 3000, seed=9)
    codes = [(r["birth_place"]["code"], r["birth_date"]) for r in records]
    assert any(code.startswith("751") for code, _ in codes)  # Paris arrondissements
    assert any(code.startswith("97") for code, _ in codes)  # overseas
    for code, born in codes:
        if code.startswith(("2A", "2B")):
            assert born >= "1976-01-01"
        if code.startswith("20"):
            assert born < "1976-01-01"
        assert code not in ("75056", "69123", "13055")


def test_landlines_match_the_region_and_mobiles_are_mobiles(batch, reference):
    for record in batch:
        zone = reference.phone_zones[reference.communes[record["address"]["commune_code"]].department]
        for phone in record["phones"]:
            key = phone_key(phone)
            if key[0] in "12345":
                assert "0" + key[: len(zone) - 1] == zone
            else:
                assert key[0] in "679"


@pytest.mark.parametrize("word", ["canary", "honey", "test", "fake", "demo"])
def test_no_email_carries_a_tell_tale_word(batch, word):
    assert not any(word in r["email"] for r in batch if r["email"])


def test_big_city_addresses_use_the_arrondissement_s_own_streets(batch, reference):
    in_cities = [r for r in batch if r["address"]["commune_code"] in reference.city_streets]
    assert in_cities
    for record in in_cities:
        streets = reference.city_streets[record["address"]["commune_code"]].items
        assert any(record["address"]["line"].endswith(f"{s.kind} {s.name}") for s in streets)
    villages = [r for r in batch if reference.communes[r["address"]["commune_code"]].population > 100_000]
    assert not any("Église" in r["address"]["line"] or "Lavoir" in r["address"]["line"] for r in villages)


def test_a_child_s_email_is_a_parent_s(batch):
    children = [r for r in batch if r["email"] and _age(r) < 15]
    assert children
    own = [r for r in children if r["first_names"][0].lower() in r["email"].split("@")[0].split(".")]
    assert len(own) <= len(children) // 10  # only when a parent shares the child's first name


def test_no_hidden_state_global_random_untouched_and_tables_read_only(reference, pools):
    state = random.getstate()
    first = generate_batch(PatientGenerator(reference, pools), 20, seed=4)
    assert random.getstate() == state
    assert generate_batch(PatientGenerator(reference, pools), 20, seed=4) == first
    with pytest.raises(TypeError):
        reference.communes["75111"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        reference.surnames = None  # type: ignore[misc]


def test_people_born_abroad_mostly_carry_their_country_s_names(batch, reference):
    abroad = [r for r in batch if r["birth_place"]["code"] in reference.country_origins]
    assert len(abroad) > 50
    own = 0
    for record in abroad:
        origin = reference.country_origins[record["birth_place"]["code"]]
        own += record["birth_name"] in reference.origin_surnames[origin].items
    assert 0.65 < own / len(abroad) < 0.92
