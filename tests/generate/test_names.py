"""Names follow the land and the real frequencies: the shipped department tables, the long tail,
the host's own surnames (counts of 10 or more only), origin names for people born abroad."""

from __future__ import annotations

import csv
import gzip
import math
import random
from pathlib import Path

import pytest

from canary.generate.catchment import Catchment, Geography, Site
from canary.generate.names import RESIDENCE_NAMING_SHARE
from canary.generate.patient import PatientGenerator
from canary.generate.profile import MIN_COUNT, HostProfile, build_profile, read_export
from canary.generate.text import ins_form
from tests.support.generate import TODAY, generate_batch


def _bound(p: float, n: int) -> float:
    """Four standard errors of a share p over n draws (a failure is a real departure, not chance)."""
    return 4 * math.sqrt(max(p * (1 - p), 0.01) / n)


def _regional(reference, department: str, lift: float = 5.0) -> set[str]:
    """Surnames the department's councillors bear at least ``lift`` times as often as the nation's
    (Breton names in Finistère, Corsican ones in Corse-du-Sud), with 3 bearers there or more."""
    tables = reference.names
    local = tables.local(department)
    here = {n: local.table.share(i) for i, n in enumerate(local.table.items)}
    national = {n: tables.seen.share(i) for i, n in enumerate(tables.seen.items) if n in here}
    return {n for n, share in here.items() if share >= lift * national[n] and share >= 0.0005}


def _local_rate(reference, department: str, names: set[str]) -> float:
    """The share of a department's draws the shipped tables give to ``names`` (all local names)."""
    local = reference.names.local(department).table
    in_table = sum(local.share(i) for i, n in enumerate(local.items) if n in names)
    return reference.names.shares[department].local * in_table


@pytest.fixture(scope="module")
def geography(reference):
    return Geography.load(reference.communes, reference.seeds_dir)


def _site_batch(reference, pools, geography, commune: str, count: int, seed: int = 5) -> list[dict]:
    catchment = Catchment.around(reference.communes, geography, Site(reference.communes[commune], "commune"))
    generator = PatientGenerator(reference, pools, catchment=catchment, geography=geography)
    return generate_batch(generator, count, seed=seed)


@pytest.mark.parametrize("department", ["29", "2A", "67"])
def test_department_draws_follow_the_shipped_table(reference, department):
    tables = reference.names
    rng = random.Random(7)
    draws = [tables.pick_surname(rng, department) for _ in range(4000)]
    local = tables.local(department)
    shares = tables.shares[department]
    in_local = sum(n in local.names for n in draws) / len(draws)
    assert abs(in_local - shares.local) < _bound(shares.local, len(draws))
    regional = _regional(reference, department)
    assert len(regional) > 20
    expected = _local_rate(reference, department, regional)
    got = sum(n in regional for n in draws) / len(draws)
    assert abs(got - expected) < _bound(expected, len(draws))
    # The same names are rare in a department far away.
    elsewhere = [tables.pick_surname(rng, "69") for _ in range(4000)]
    assert sum(n in regional for n in elsewhere) / len(elsewhere) < expected / 4


def test_rarity_follows_the_long_tail(reference):
    tables = reference.names
    counts = {n: 0 for n in tables.unseen.items}
    rows = (line.split("\t") for line in _lines(reference.seeds_dir / "names" / "surnames.tsv.gz"))
    counts.update({name: int(residents) for name, residents, _ in rows if residents != "0"})
    rng = random.Random(3)
    draws = [tables.pick_surname(rng) for _ in range(5000)]
    # A surname no councillor of the half million bears: the table's share (18 %), not 2 %.
    unseen = sum(counts.get(n, 0) == 0 for n in draws) / len(draws)
    assert abs(unseen - tables.national.unseen) < _bound(tables.national.unseen, len(draws))
    # Borne by 1 to 9 and by 50-499 councillors: the shares the Good-Turing weights give.
    for low, high in ((1, 9), (50, 499)):
        expected = tables.national.local * sum(tables.seen.share(i) for i, n in enumerate(tables.seen.items)
                                               if low <= counts[n] <= high)
        got = sum(low <= counts.get(n, 0) <= high for n in draws) / len(draws)
        assert abs(got - expected) < _bound(expected, len(draws)), (low, high)


def _lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return fh.read().splitlines()[1:]


def test_department_tables_hold_only_filtered_names(reference):
    for department in ("29", "75", "971"):
        local = reference.names.local(department)
        assert local is not None and local.names <= reference.surname_set


def test_a_finistere_site_gives_breton_names_and_a_corsican_site_corsican_ones(reference, pools, geography):
    for department, site, other in (("29", "29019", "69383"), ("2A", "2A004", "69383")):
        regional = _regional(reference, department)
        expected = _local_rate(reference, department, regional)
        batch = _site_batch(reference, pools, geography, site, 1200)
        living = [r for r in batch if reference.communes[r["address"]["commune_code"]].department == department]
        french = [r for r in living if r["birth_place"]["code"] not in reference.country_origins]
        got = sum(r["birth_name"] in regional for r in french) / len(french)
        # Named after the residence department (85 in 100) or, mostly, after the same birth department.
        assert RESIDENCE_NAMING_SHARE * expected - _bound(expected, len(french)) < got
        assert got < expected + _bound(expected, len(french))
        far = _site_batch(reference, pools, geography, other, 600)
        assert sum(r["birth_name"] in regional for r in far) / len(far) < expected / 4


def test_first_names_lean_towards_the_department(reference):
    tables = reference.names
    base = reference.first_names[("M", 1971)]
    lift = tables.first_name_lift("29", "M")
    assert lift is not None
    breton = {n for n in base.items if lift.of(n) >= 2.0}
    assert {"YANN", "ERWAN"} & breton
    rng = random.Random(2)
    here = sum(tables.pick_first_name(rng, base, "M", "29") in breton for _ in range(4000))
    nation = sum(tables.pick_first_name(rng, base, "M", None) in breton for _ in range(4000))
    assert here > 2 * nation > 0
    # More weakly than surnames: the national favourites still lead.
    top = base.items[0]
    assert lift.of(top) > 0.4


def test_people_born_abroad_keep_their_origin_names(reference, pools, geography):
    batch = _site_batch(reference, pools, geography, "29019", 1500, seed=8)
    abroad = [r for r in batch if r["birth_place"]["code"] in reference.country_origins]
    assert len(abroad) > 40
    own = sum(r["birth_name"] in reference.origin_surnames[reference.country_origins[r["birth_place"]["code"]]].items
              for r in abroad)
    assert 0.65 < own / len(abroad) < 0.95


# -- the host's own surnames ---------------------------------------------------------------------

FREQUENT = {"LE GALL": 60, "QUEMENER": 25, "Kerébel": 12}  # written as exports do: any case, accents


def _host_export(path: Path, reference) -> list[str]:
    """A host of 600 patients: three frequent surnames, the rest rare made-up names (1 to 9 each)."""
    rng = random.Random(4)
    surnames = [name for name, n in FREQUENT.items() for _ in range(n)]
    rare = []
    while len(surnames) < 600:
        name = "KERV" + "".join(rng.choice("AEIOU") + rng.choice("LNRST") for _ in range(3))
        n = rng.randint(1, MIN_COUNT - 1)
        rare.append(name)
        surnames += [name] * min(n, 600 - len(surnames))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["nom", "prenom", "naissance", "sexe", "cp", "ipp"])
        for i, name in enumerate(surnames):
            writer.writerow([name, "Anne", f"19{50 + i % 40}-03-0{1 + i % 9}", "f", "29200", str(30_000_000 + i * 997)])
    return rare


def test_profile_learns_frequent_surnames_and_never_stores_a_rare_one(cli, db_path, tmp_path, reference):
    path = tmp_path / "patients.csv"
    rare = _host_export(path, reference)
    columns, rows = read_export(path)
    profile = build_profile(columns, rows, None, today=TODAY)
    assert profile["surnames"]["counts"] == {"LE GALL": 60, "QUEMENER": 25, "KEREBEL": 12}
    assert profile["surnames"]["other"] == 600 - 97
    cli("system", "add", "ehr-brest", "--kind", "ehr", "--commune", "29019")
    built = cli("profile", "build", "ehr-brest", str(path))
    assert built.exit_code == 0, built.output
    stored = b"".join(p.read_bytes() for p in Path(db_path).parent.glob(db_path.name + "*"))
    assert b"QUEMENER" in stored  # the frequent names are the aggregate
    leaked = [name for name in rare if name.encode() in stored]
    assert leaked == []


def test_generator_blends_the_host_s_surnames(reference, pools, geography, tmp_path):
    path = tmp_path / "patients.csv"
    _host_export(path, reference)
    columns, rows = read_export(path)
    data = build_profile(columns, rows, None, today=TODAY)
    profile = HostProfile.from_data(data, reference.communes)
    site = Site(reference.communes["29019"], "commune")
    generator = PatientGenerator(reference, pools, catchment=Catchment.around(reference.communes, geography, site),
                                 profile=profile, geography=geography)
    batch = generate_batch(generator, 800, seed=6)
    french = [r for r in batch if r["birth_place"]["code"] not in reference.country_origins]
    share = 97 / 600  # the host's patients bearing its published names
    got = sum(r["birth_name"] in {ins_form(n) for n in FREQUENT} for r in french) / len(french)
    assert abs(got - share) < _bound(share, len(french)) + 0.01
    le_gall = sum(r["birth_name"] == "LE GALL" for r in french) / len(french)
    assert abs(le_gall - 60 / 600) < _bound(0.1, len(french)) + 0.01
