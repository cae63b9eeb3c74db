"""Catchment: canaries live where the establishment's patients live; the site from --commune,
--postcode or the FINESS department; one clear line for what cannot be placed."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from canary.errors import CanaryError
from canary.generate.admin import department_of
from canary.generate.catchment import (
    Catchment,
    Geography,
    Site,
    department_of_finess,
    distance_km,
    resolve_commune,
    seed_departments,
    site_of_system,
)
from canary.generate.patient import PatientGenerator
from canary.generate.places import pick_birth_place
from tests.support.generate import TODAY, generate_batch


@pytest.fixture(scope="module")
def geography(reference):
    return Geography.load(reference.communes, reference.seeds_dir)


def _department_share(catchment: Catchment, department: str, draws: int = 4000) -> float:
    rng = random.Random(5)
    return sum(catchment.pick(rng).department == department for _ in range(draws)) / draws


def test_every_commune_has_a_point_in_france(reference, geography):
    assert set(reference.communes) <= set(geography.points)
    lyon, paris = geography.points["69383"], geography.points["75101"]
    assert 385 < distance_km(lyon, paris) < 400  # Lyon - Paris as the crow flies: ~392 km
    assert all(-22 < lat < 52 for lat, _ in geography.points.values())


@pytest.mark.parametrize(("code", "low", "high"), [("69383", 0.78, 0.92), ("29019", 0.82, 0.95),
                                                   ("15014", 0.68, 0.88)])
def test_most_patients_live_in_the_site_department_with_a_tail(reference, geography, code, low, high):
    site = Site(reference.communes[code], "commune")
    catchment = Catchment.around(reference.communes, geography, site)
    share = _department_share(catchment, site.department)
    assert low <= share <= high
    assert abs(share - catchment.department_share()) < 0.03
    # The tail reaches far: some patients live more than 200 km away.
    rng = random.Random(9)
    far = sum(distance_km(geography.points[code], geography.points[catchment.pick(rng).code]) > 200
              for _ in range(2000))
    assert 20 < far < 300


def test_national_mix_is_what_the_issue_measured(reference):
    rng = random.Random(2)
    outside = sum(reference.residences.pick(rng).department != "69" for _ in range(3000)) / 3000
    assert outside > 0.9  # the 96 % of the issue: why a place matters


def test_site_from_finess_is_the_department_largest_town(reference):
    site = site_of_system(reference.communes, {"name": "x", "site_commune": None, "finess": "690000000"})
    assert site is not None and site.source == "finess"
    assert site.commune.city == "LYON"  # Lyon counted whole, not Villeurbanne against one arrondissement
    assert site_of_system(reference.communes, {"name": "x", "site_commune": None, "finess": None}) is None
    explicit = site_of_system(reference.communes, {"name": "x", "site_commune": "29019", "finess": "690000000"})
    assert explicit is not None and explicit.department == "29"
    departments = seed_departments(reference.seeds_dir)
    assert department_of_finess(departments, "2A0000000") == "2A"
    assert department_of_finess(departments, "970400000") == "974"
    with pytest.raises(CanaryError, match="unknown FINESS"):
        department_of_finess(departments, "960000000")


def test_commune_by_code_name_or_postcode(reference):
    assert resolve_commune(reference.communes, "29019", None).name == "Brest"
    assert resolve_commune(reference.communes, "brest", None).code == "29019"
    assert resolve_commune(reference.communes, None, "29200").code == "29019"
    assert resolve_commune(reference.communes, "Lyon", None).city == "LYON"
    assert resolve_commune(reference.communes, "Saint-Martin", "65360").department == "65"
    with pytest.raises(CanaryError, match="4 communes match"):
        resolve_commune(reference.communes, "Saint-Martin", None)
    with pytest.raises(CanaryError, match="unknown commune"):
        resolve_commune(reference.communes, "Nulle-Part-sur-Mer", None)
    with pytest.raises(CanaryError, match="unknown postcode"):
        resolve_commune(reference.communes, None, "00000")


def test_generated_canaries_follow_the_catchment(reference, pools, geography):
    site = Site(reference.communes["69383"], "commune")
    catchment = Catchment.around(reference.communes, geography, site)
    generator = PatientGenerator(reference, pools, catchment=catchment, geography=geography)
    records = generate_batch(generator, 600, seed=4)
    departments = Counter(department_of(r["address"]["commune_code"]) for r in records)
    assert 0.75 < departments["69"] / len(records) < 0.93
    # Birth places: born in the home department or a nearby one far more often than by chance.
    born_near = sum(1 for r in records if r["birth_place"]["code"][:2] in {"69", "01", "38", "42", "71", "07"})
    assert born_near / len(records) > 0.45


def test_birth_places_near_home_with_nearby_departments(reference, geography):
    home = reference.communes["29019"]  # Brest: Bretagne is 22, 29, 35, 56
    rng = random.Random(1)
    born = [pick_birth_place(reference, rng, TODAY.replace(year=1960), home, abroad_possible=False,
                             nearby=geography.nearby["29"]).code[:2] for _ in range(1500)]
    rng = random.Random(1)
    plain = [pick_birth_place(reference, rng, TODAY.replace(year=1960), home, abroad_possible=False).code[:2]
             for _ in range(1500)]
    region = {"22", "35", "56"}
    assert sum(d in region for d in born) > 2 * sum(d in region for d in plain)


def test_system_add_and_edit_place_the_establishment(cli):
    added = cli("system", "add", "ehr-lyon", "--kind", "ehr", "--finess", "690000000", "--commune", "69383")
    assert added.exit_code == 0, added.output
    brest = cli("system", "add", "ehr-brest", "--kind", "ehr", "--postcode", "29200", "--patients", "500000")
    assert brest.exit_code == 0
    systems = {s["name"]: s for s in json.loads(cli("system", "list", "--json").output)}
    assert systems["ehr-lyon"]["site_commune"] == "69383"
    assert systems["ehr-brest"]["site_commune"] == "29019" and systems["ehr-brest"]["patients"] == 500000
    assert cli("system", "edit", "ehr-lyon", "--commune", "Brest", "--patients", "750000").exit_code == 0
    assert cli("system", "edit", "ehr-brest", "--no-site").exit_code == 0
    systems = {s["name"]: s for s in json.loads(cli("system", "list", "--json").output)}
    assert systems["ehr-lyon"]["site_commune"] == "29019" and systems["ehr-lyon"]["patients"] == 750000
    assert systems["ehr-brest"]["site_commune"] is None


@pytest.mark.parametrize(("args", "message"), [
    (["--finess", "960000000"], "error: unknown FINESS '960000000': '96' is not a French department"),
    (["--commune", "Nulle-Part-sur-Mer"], "error: unknown commune 'Nulle-Part-sur-Mer': give its INSEE code "
                                          "or its exact name"),
    (["--postcode", "00000"], "error: unknown postcode '00000': no commune has it"),
    (["--patients", "0"], "error: --patients 0: the system's patient count must be at least 1"),
])
def test_what_cannot_be_placed_is_one_line_and_nothing_is_written(cli, args, message):
    result = cli("system", "add", "ehr-x", "--kind", "ehr", *args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [message]
    assert json.loads(cli("system", "list", "--json").output) == []


def test_edit_of_an_unknown_commune_changes_nothing(cli):
    cli("system", "add", "ehr-lyon", "--kind", "ehr", "--commune", "69383")
    result = cli("system", "edit", "ehr-lyon", "--commune", "Nulle-Part-sur-Mer", "--patients", "10")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    (system,) = json.loads(cli("system", "list", "--json").output)
    assert system["site_commune"] == "69383" and system["patients"] is None


def test_seed_lives_near_the_site_and_lint_names_systems_without_place(cli):
    cli("system", "add", "ehr-lyon", "--kind", "ehr", "--finess", "690000000")
    cli("system", "add", "lab-nowhere", "--kind", "lab")
    seeded = cli("seed", "ehr-lyon", "--count", "60", "--seed", "3")
    assert seeded.exit_code == 0, seeded.output
    nowhere = cli("seed", "lab-nowhere", "--count", "5", "--seed", "3")
    assert "lab-nowhere has no place" in nowhere.output
    canaries = json.loads(cli("list", "--system", "ehr-lyon", "--json").output)
    assert sum(c["address"]["commune_code"].startswith("69") for c in canaries) >= 42
    linted = json.loads(cli("lint", "--json").output)
    assert any("lab-nowhere has no place" in n for n in linted["notes"])
    assert not any("ehr-lyon has no place" in n for n in linted["notes"])
