"""Administrative part: régime and caisse consistent with where the patient lives, real mutual insurers,
a treating physician with a Luhn-valid RPPS practising in the patient's department."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from stdnum import luhn

from canary.generate.admin import (
    CSS,
    MSA,
    REGIME_GENERAL,
    AdminTables,
    make_administrative,
    rpps_number,
)

TODAY = date(2026, 11, 28)
SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.fixture(scope="module")
def tables() -> AdminTables:
    return AdminTables.load(SEEDS)


def make(tables: AdminTables, rng: random.Random, commune: str = "69383", birth: date = date(1970, 5, 17)) -> dict:
    return make_administrative(rng, tables, sex="F", birth_date=birth, commune_code=commune, today=TODAY)


def test_shape(tables: AdminTables) -> None:
    part = make(tables, random.Random(1))
    assert set(part) == {"coverage", "gp"}
    assert {"regime", "caisse", "amc"} <= set(part["coverage"])
    assert {"rpps", "family_name", "first_name", "city"} <= set(part["gp"])


def test_caisse_follows_the_department(tables: AdminTables) -> None:
    rng = random.Random(2)
    seen = Counter()
    for _ in range(3000):
        coverage = make(tables, rng, commune="69383")["coverage"]
        seen[coverage["regime"]] += 1
        if coverage["regime"] == REGIME_GENERAL:
            assert (coverage["caisse"], coverage["caisse_code"]) == ("CPAM du Rhône", "691")
        if coverage["regime"] == MSA:
            assert coverage["caisse"] == "MSA Ain-Rhône"
    assert seen[REGIME_GENERAL] / 3000 > 0.85
    assert 0.03 < seen[MSA] / 3000 < 0.08
    assert len(seen) >= 4  # some special régimes show up


def test_every_department_has_a_caisse_and_towns(tables: AdminTables) -> None:
    assert set(tables.caisses) == set(tables.towns)
    assert len(tables.caisses) == 101  # 96 metropolitan and 5 overseas departments


def test_alsace_moselle_local_regime(tables: AdminTables) -> None:
    rng = random.Random(3)
    regimes = Counter(make(tables, rng, commune="67482")["coverage"]["regime"] for _ in range(500))
    assert any("Alsace-Moselle" in regime for regime in regimes)


def test_overseas_and_multi_caisse_departments(tables: AdminTables) -> None:
    rng = random.Random(4)
    reunion = {make(tables, rng, commune="97411")["coverage"]["caisse"] for _ in range(300)}
    assert "CGSS de La Réunion" in reunion
    nord = {make(tables, rng, commune="59350")["coverage"]["caisse"] for _ in range(500)}
    assert {"CPAM de Lille-Douai", "CPAM du Hainaut"} <= nord


def test_mutual_insurers_are_real_names_with_member_numbers(tables: AdminTables) -> None:
    names = {amc.name for amc in tables.amcs.items}
    rng = random.Random(5)
    kinds = Counter()
    for _ in range(4000):
        amc = make(tables, rng)["coverage"]["amc"]
        if amc is None:
            kinds["none"] += 1
        elif amc["name"] == CSS:
            kinds["css"] += 1
            assert amc["member_number"] is None
        else:
            kinds["mutuelle"] += 1
            assert amc["name"] in names
            number = amc["member_number"]
            assert 9 <= len(number) <= 11 and number[0] != "0" and number.isalnum()
    assert kinds["mutuelle"] / 4000 > 0.8
    assert kinds["css"] and kinds["none"]
    assert {"Harmonie Mutuelle", "MGEN", "Malakoff Humanis"} <= names


def test_gp_practises_in_the_patient_department(tables: AdminTables) -> None:
    rng = random.Random(6)
    rhone_towns = {town.name for town in tables.towns["69"].items}
    for _ in range(500):
        gp = make(tables, rng, commune="69383")["gp"]
        assert gp["city"] in rhone_towns
        assert gp["family_name"] and gp["first_name"]
    paris = Counter(make(tables, rng, commune="75115")["gp"]["city"] for _ in range(200))
    assert set(paris) == {"Paris"}


def test_children_may_have_a_paediatrician_adults_never(tables: AdminTables) -> None:
    rng = random.Random(7)
    child = Counter(make(tables, rng, birth=date(2020, 1, 1))["gp"]["specialty"] for _ in range(500))
    adult = Counter(make(tables, rng, birth=date(1980, 1, 1))["gp"]["specialty"] for _ in range(500))
    assert child["Pédiatrie"] and child["Médecine générale"] > child["Pédiatrie"]
    assert set(adult) == {"Médecine générale"}


def test_rpps_is_luhn_valid() -> None:
    rng = random.Random(8)
    for _ in range(5000):
        rpps = rpps_number(rng)
        assert len(rpps) == 11 and rpps.startswith(("100", "101")) and luhn.is_valid(rpps)


def test_deterministic_and_path_wrapper(tables: AdminTables) -> None:
    def run(reference, seed: int) -> list[dict]:
        rng = random.Random(seed)
        return [make_administrative(rng, reference, sex="M", birth_date=date(1990, 1, 1),
                                    commune_code="13055", today=TODAY) for _ in range(100)]

    assert run(tables, 9) == run(tables, 9) == run(SEEDS, 9)
    assert run(tables, 9) != run(tables, 10)


def test_unknown_department_is_an_error(tables: AdminTables) -> None:
    with pytest.raises(ValueError):
        make(tables, random.Random(1), commune="98735")
