"""The stealth planner: the thief's advantage per group filter, the budget, the published sample."""

from __future__ import annotations

import json
import math

import pytest

from canary.generate.catchment import Catchment, Geography, Site
from canary.generate.patient import PatientGenerator, Pools
from canary.generate.plan import plan, poisson_quantile, sample_chance
from canary.generate.profile import HostProfile, build_profile, read_export
from canary.generate.seeding import seed_system
from tests.support.generate import TODAY, generate_batch
from tests.support.host_population import write_host_export

PATIENTS = 750_000


@pytest.fixture(scope="module")
def geography(reference):
    return Geography.load(reference.communes, reference.seeds_dir)


@pytest.fixture(scope="module")
def lyon(reference, geography):
    return Catchment.around(reference.communes, geography, Site(reference.communes["69383"], "commune"))


@pytest.fixture(scope="module")
def host(tmp_path_factory, reference, geography):
    path = tmp_path_factory.mktemp("host") / "patients.csv"
    write_host_export(path, reference, 3000, geography=geography)
    columns, rows = read_export(path)
    return HostProfile.from_data(build_profile(columns, rows, None, today=TODAY), reference.communes)


def spread_pool() -> Pools:
    """Mobiles over 300 blocks of 1,000 in 60 blocks of 10,000, landlines over 04 blocks, many domains."""
    phones = [f"+33{prefix}{block:02d}{sub}{n:03d}" for prefix in ("612", "632", "652", "745", "767", "778")
              for block in range(10) for sub in range(5) for n in range(0, 1000, 97)]
    phones += [f"+33{z}{block:04d}{n:04d}" for z in "12345" for block in range(2200, 2240)
               for n in range(0, 10000, 331)]
    # Domains are drawn at random (not balanced), so give them room: ~3 canaries each on average.
    domains = tuple(f"{kind}-{word}.fr" for kind in ("famille", "maison")
                    for word in ("arnaud", "besson", "carre", "dumont", "etienne", "ferrand", "gautier", "hoarau",
                                 "imbert", "jacquet", "klein", "lacroix", "marchal", "nicolas", "olivier", "perrin",
                                 "quere", "roussel", "simon", "tessier"))
    return Pools(phones=tuple(phones), mail_domains=domains)


def by_name(report: dict) -> dict[str, dict]:
    return {f["name"]: f for f in report["filters"]}


def test_sample_chance_and_poisson_bound():
    assert sample_chance(200, 750_000, 1000) == pytest.approx(1 - (1 - 200 / 750_000) ** 1000)
    assert 0.23 < sample_chance(200, 750_000, 1000) < 0.24
    assert sample_chance(0, 1000, 10) == 0.0 and sample_chance(5, 0, 10) == 0.0
    assert poisson_quantile(34) in range(50, 56)  # ~34 per 10,000-block, the figure
    assert poisson_quantile(0.01) == 1
    big = poisson_quantile(10_000)
    assert 10_250 < big < 10_400


def test_national_canaries_in_one_block_stand_out(reference, lyon, geography):
    """The issue's measurement: national mix, one 1,000-number block, two owned domains."""
    pools = Pools(phones=tuple(f"+33756120{n:03d}" for n in range(1000)),
                  mail_domains=("messagerie-famille.fr", "boite-perso.fr"))
    records = generate_batch(PatientGenerator(reference, pools, geography=geography), 300, seed=1)
    report = plan(records, patients=PATIENTS, sample=1000, today=TODAY, catchment=lyon,
                  pool_phones=pools.phones, pool_domains=pools.mail_domains)
    filters = by_name(report)
    assert filters["catchment"]["canaries_flagged"] > 0.9 and filters["catchment"]["advantage"] > 0.7
    assert filters["block crowding"]["advantage"] > 0.8 and filters["block crowding"]["exceeds"]
    assert filters["mail domains"]["advantage"] > 0.3 and filters["mail domains"]["exceeds"]
    assert report["stealth_budget"] < 50
    assert filters["IPP range"]["advantage"] is None and "no host profile" in filters["IPP range"]["note"]
    assert report["sample_chance"] == pytest.approx(1 - (1 - 300 / PATIENTS) ** 1000, abs=1e-4)


def test_canaries_following_catchment_profile_and_spread_pools_blend_in(reference, lyon, geography, host):
    pools = spread_pool()
    generator = PatientGenerator(reference, pools, catchment=lyon, profile=host, geography=geography)
    records = generate_batch(generator, 200, seed=2)
    report = plan(records, patients=PATIENTS, sample=1000, today=TODAY, catchment=lyon, profile=host,
                  pool_phones=pools.phones, pool_domains=pools.mail_domains)
    filters = by_name(report)
    assert set(filters) == {"catchment", "block crowding", "mail domains", "missing phone", "missing e-mail",
                            "IPP range", "age/sex"}
    assert not any(f["exceeds"] for f in filters.values()), [f for f in filters.values() if f["exceeds"]]
    assert filters["block crowding"]["advantage"] == 0 and filters["mail domains"]["advantage"] == 0
    assert filters["IPP range"]["canaries_flagged"] == 0
    assert report["stealth_budget"] >= 200
    for f in filters.values():
        assert f["advantage"] is None or f["advantage"] <= max(0.05, f["noise"])


def test_block_budget_counts_what_each_block_may_take():
    # One 10,000-block fully owned: 10 sub-blocks of 1,000.
    pool = tuple(f"+3361234{n:04d}" for n in range(10_000))
    report = plan([], patients=PATIENTS, sample=0, today=TODAY, pool_phones=pool)
    mean10 = PATIENTS * 34 / 750_000
    allowed10 = poisson_quantile(mean10) - int(mean10)
    assert by_name(report)["block crowding"]["budget"] == math.floor(allowed10 / 0.95)
    # A small establishment: fewer real subscribers per block, fewer canaries per block.
    small = plan([], patients=20_000, sample=0, today=TODAY, pool_phones=pool)
    assert by_name(small)["block crowding"]["budget"] < by_name(report)["block crowding"]["budget"]


def test_plan_cli_json_and_text(cli, db, generator):
    cli("system", "add", "ehr-lyon", "--kind", "ehr", "--finess", "690000000")
    seed_system(db, "ehr-lyon", 40, generator, seed=5, today=TODAY)
    report = json.loads(cli("plan", "ehr-lyon", "--patients", "750000", "--sample", "500", "--json").output)
    assert set(report) >= {"system", "site", "patients", "canaries", "sample", "sample_chance", "stealth_budget",
                           "filters", "threshold"}
    assert report["canaries"] == 40 and report["sample_chance"] == round(1 - (1 - 40 / 750_000) ** 500, 4)
    assert report["site"].startswith("69") and "from the FINESS department" in report["site"]
    assert {"name", "canaries_flagged", "patients_flagged", "advantage", "budget", "note", "noise",
            "exceeds"} <= set(report["filters"][0])
    text = cli("plan", "ehr-lyon", "--patients", "750000").output
    assert "stealth budget:" in text and "published sample of 1,000 records" in text
    assert cli("plan", "nowhere", "--patients", "10").output.startswith("error: unknown system")
    assert cli("plan", "ehr-lyon", "--patients", "0").exit_code == 2
    assert cli("plan", "ehr-lyon").output == ("error: system 'ehr-lyon': how many patients does it hold? give "
                                              "--patients N (or 'canary system edit ehr-lyon --patients N')\n")
    cli("system", "edit", "ehr-lyon", "--patients", "1000")
    assert json.loads(cli("plan", "ehr-lyon", "--json").output)["patients"] == 1000


def test_seed_warns_past_the_budget_and_lint_fails(cli):
    cli("config", "set", "pool.phones", "+33756120000-+33756120999")
    cli("config", "set", "pool.mail_domains", "messagerie-famille.fr")
    cli("system", "add", "ehr-lyon", "--kind", "ehr", "--finess", "690000000", "--patients", "750000")
    seeded = cli("seed", "ehr-lyon", "--count", "40", "--seed", "5")
    assert seeded.exit_code == 0
    # One block of 1,000 among a 750,000-patient host's subscribers: at the host's block density it carries
    # a canary or two, the others are left without a phone (said), never crowded into the block.
    assert "past the stealth budget" in seeded.output and "missing phone" in seeded.output
    assert "blocks of 10,000); add numbers from other blocks" in seeded.output
    linted = cli("lint", "--json")
    assert linted.exit_code == 1
    rules = {p["rule"] for p in json.loads(linted.output)["problems"]}
    assert {"population-budget", "population-missing-phone", "contact-pool-exhausted"} <= rules
    assert "population-block-crowding" not in rules
    planned = cli("plan", "ehr-lyon").output
    assert "canaries each at the host's block density: " in planned


def test_even_draws_cover_every_slice_in_random_order():
    import random

    from canary.weighted import EvenDraws

    draws = EvenDraws()
    rng = random.Random(4)
    first = [draws.next("age", rng) for _ in range(EvenDraws.STRATA)]
    assert sorted(int(u * EvenDraws.STRATA) for u in first) == list(range(EvenDraws.STRATA))
    assert first != sorted(first)  # no visible order from one canary to the next
    again = EvenDraws()
    rng = random.Random(4)
    assert [again.next("age", rng) for _ in range(EvenDraws.STRATA)] == first
    # 200 draws of a 12 % share: within a point of it, where independent draws wander by ~2.3 points.
    rng = random.Random(9)
    hits = sum(draws.next("share", rng) < 0.12 for _ in range(200))
    assert abs(hits / 200 - 0.12) <= 0.01
