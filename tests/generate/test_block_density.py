"""Phone block density: the profile learns how crowded the host's blocks are (counts only), and a
seeding run fills the pool's blocks so that a canary's block looks like a real patient's to a thief
counting rows per 10,000-block."""

from __future__ import annotations

import csv
import random
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from canary.generate.block_density import MIN_COUNT, group_sizes, poisson_density
from canary.generate.factory import host_and_generator
from canary.generate.profile import build_profile, read_export
from canary.generate.seeding import seed_system
from canary.normalize import phone_key
from canary.settings import set_setting
from canary.store.registry import add_system, save_host_profile

TODAY = date(2026, 11, 28)
PATIENTS = 6_000
# The host's mobiles fall on 400 blocks of 10,000 (06 10 00 to 06 13 99): ~13 rows per block, as a
# large establishment's patients crowd the blocks of the local shops' SIM batches.
HOST_BLOCKS = [f"61{b:03d}" for b in range(0, 400)]
SURNAMES = ("MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT",
            "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL", "FOURNIER", "GIRARD")
FIRST_NAMES = ("Anne", "Marie", "Pierre", "Jean", "Louis", "Claire", "Paul", "Julie", "Michel", "Sophie")


def _write_host(path: Path) -> list[dict[str, str]]:
    rng = random.Random(5)
    rows = []
    for i in range(PATIENTS):
        born = date(1950 + rng.randint(0, 70), rng.randint(1, 12), rng.randint(1, 28))
        mobile = f"0{rng.choice(HOST_BLOCKS)}{rng.randint(0, 9999):04d}" if rng.random() < 0.9 else ""
        landline = f"0298{rng.randint(0, 999_999):06d}" if not mobile else ""
        rows.append({"nom": rng.choice(SURNAMES), "prenom": rng.choice(FIRST_NAMES), "naissance": born.isoformat(),
                     "sexe": rng.choice("fm"),
                     "cp": "29200", "tel": landline, "tel2": mobile, "email": "", "ipp": str(40_000_000 + i)})
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _first_key(phones: list[str]) -> str:
    keys = [k for k in (phone_key(p) for p in phones if p) if k]
    mobiles = [k for k in keys if k[0] in "67"]
    return (mobiles or keys or [""])[0]


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> tuple[Path, list[dict[str, str]], dict]:
    path = tmp_path_factory.mktemp("host") / "patients.csv"
    rows = _write_host(path)
    columns, read = read_export(path)
    return path, rows, build_profile(columns, read, None, today=TODAY, source=str(path))


def test_the_profile_keeps_the_block_density_as_counts_of_rows_only(host):
    _, rows, profile = host
    blocks = profile["phone_blocks"]
    mobile = {int(d): n for d, n in blocks["mobile"]["counts"].items()}
    assert all(n >= MIN_COUNT for n in mobile.values())
    assert sum(mobile.values()) == sum(bool(r["tel2"]) for r in rows)
    # What a row sees: itself and ~13.5 others of the host in its block (1 + Poisson).
    mean = sum(d * n for d, n in mobile.items()) / sum(mobile.values())
    expected = 1 + sum(bool(r["tel2"]) for r in rows) / len(HOST_BLOCKS)
    assert abs(mean - expected) < 0.5
    # No number and no block prefix is stored: keys are small counts.
    assert all(int(d) <= 60 for part in blocks.values() for d in part["counts"])


def test_group_sizes_follow_the_host_whatever_the_real_patients_beside_the_pool():
    density = poisson_density(4.0)
    # The operator's numbers sit among as many real subscribers as any block: one canary a block.
    assert dict(group_sizes(density, 4.0)).get(1, 0) > 0.95
    # The operator owns the whole block: canaries make the density themselves (blocks of several).
    sizes = dict(group_sizes(density, 0.0))
    canaries = {m: m * w for m, w in sizes.items()}
    total = sum(canaries.values())
    for d, share in density:
        assert abs(canaries.get(d, 0) / total - share) < 0.02


def _densities(rows: list[dict[str, str]], canaries: list[dict]) -> tuple[list[int], list[int]]:
    real_keys = [_first_key([r["tel"], r["tel2"]]) for r in rows]
    canary_keys = [_first_key(c["phones"]) for c in canaries]
    per_block = Counter(k[:5] for k in real_keys + canary_keys if k)
    return ([per_block[k[:5]] for k in real_keys if k and k[0] in "67"],
            [per_block[k[:5]] for k in canary_keys if k and k[0] in "67"])


@pytest.mark.parametrize("owned", ["spread", "whole blocks"])
def test_seeded_canaries_sit_in_blocks_as_crowded_as_the_host_s(db, db_path, tmp_path, host, owned):
    path, rows, profile = host
    if owned == "spread":  # a few numbers in each of the host's blocks: real patients all around
        pool = [f"+33{b}{n:04d}" for b in HOST_BLOCKS for n in (1234, 5678, 9012)]
    else:  # numbers over whole blocks of 10,000 nobody of the host holds: the canaries are their only rows
        pool = [f"+33{p}{b:02d}{n:04d}" for p in ("756", "781") for b in range(10, 100, 3)
                for n in range(0, 10_000, 97)]
    phones = tmp_path / "phones.txt"
    phones.write_text("\n".join(pool) + "\n", encoding="utf-8")
    set_setting(db, "pool.phones", [f"@{phones}"])
    add_system(db, "ehr", "ehr", patients=PATIENTS)
    save_host_profile(db, "ehr", profile)
    _, generator = host_and_generator(db, db_path, "ehr")
    count = 300 if owned == "spread" else 600  # the spread pool takes one canary a block: 400 blocks
    canaries = seed_system(db, "ehr", count, generator, seed=3)
    real, fake = _densities(rows, canaries)
    assert len(fake) > count * 2 // 3  # the pool gave them phones
    # The thief's filter at every threshold: share of canaries above it against real rows'. Whole blocks
    # fill in groups of ~15 canaries: 600 canaries are ~40 groups, a lumpier sample than 300 draws. (Before
    # the group sizes, both pools gave gaps of 0.13 and 0.9: one canary a block where the pool allowed.)
    tolerance = 0.1 if owned == "spread" else 0.2
    for threshold in range(2, 30):
        gap = abs(sum(d > threshold for d in fake) / len(fake) - sum(d > threshold for d in real) / len(real))
        assert gap < tolerance, (threshold, gap)
    assert abs(sum(fake) / len(fake) - sum(real) / len(real)) < 1.5


def test_home_numbers_running_out_are_said_not_hidden_behind_a_mobile(db, reference):
    from canary.generate.contact_points import budget_for_system
    from canary.generate.crowding import exhaustion_warnings
    from canary.generate.patient import PatientGenerator
    from canary.generate.pools import Pools

    # Mobiles from 300 blocks of 10,000, home numbers of zone 02 from a single one.
    mobiles = [f"+33{p}{b:02d}{n:04d}" for p in (612, 633, 752) for b in range(100) for n in (1234, 5678)]
    pools = Pools(phones=(*mobiles, *(f"+33298{b:02d}{n:04d}" for b in (41,) for n in range(0, 10_000, 500))))
    add_system(db, "ehr", "ehr")
    budget = budget_for_system(db, "ehr", pools)
    seed_system(db, "ehr", 400, PatientGenerator(reference, pools).bounded(budget), seed=2)
    lines = exhaustion_warnings(budget, pools, 400)
    homes = [line for line in lines if "home numbers of zone(s) 02 (" in line]
    assert len(homes) == 1 and "got a mobile instead" in homes[0], lines
    assert not [line for line in lines if "zone(s) 01" in line]  # no home number of 01 owned: not said
