"""Contact pools: parsing pool.phones, the per-block crowding bound of a system, loud exhaustion."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from canary.errors import CanaryError
from canary.generate.contact_points import budget_for_system, unfilled_contacts
from canary.generate.crowding import domain_cap, expected_in_block, poisson_quantile
from canary.generate.patient import PatientGenerator
from canary.generate.pools import Pools, parse_phone_pool
from canary.generate.seeding import seed_system
from canary.normalize import phone_key
from canary.store.registry import add_system, list_canaries


def test_numbers_ranges_and_files_from_many_blocks(tmp_path):
    listed = tmp_path / "phones.txt"
    listed.write_text("# numbers bought from a second carrier\n+33 7 81 23 45 00-+33781234502\n+33955123456\n")
    pool = parse_phone_pool(["+33756120000-+33756120002, +33612345678\n+33612345678", f"@{listed}"])
    assert pool == ("+33756120000", "+33756120001", "+33756120002", "+33612345678",
                    "+33781234500", "+33781234501", "+33781234502", "+33955123456")
    # The setting's own list form (config set splits on commas and new lines) gives the same.
    assert parse_phone_pool(["+33756120000-+33756120002", "+33612345678", f"@{listed}"]) == pool


@pytest.mark.parametrize(("entry", "says"), [
    ("+33639981234", "+33639981234 is in an ARCEP block reserved for fiction"),
    ("+33199000000-+33199000099", "+33199000000 (in +33199000000-+33199000099) is in an ARCEP block reserved for "
                                  "fiction"),
    ("+33162001234", "in a prefix reserved for telemarketing"),
    ("+33800123456", "not a mobile, landline or 09 subscriber number"),
    ("0612345678", "'0612345678' is not an E.164 number (+33...), a range or an @file"),
    ("+33612340999-+33612340000", "is reversed or larger than"),
    ("+33612340000-+336123409", "two E.164 numbers of equal length"),
    ("+33600000000-+33609999999", "larger than 100,000 numbers"),
    ("@/nonexistent/phones.txt", "cannot read the pool file /nonexistent/phones.txt"),
])
def test_a_bad_entry_stops_with_one_line_naming_it(entry, says):
    with pytest.raises(CanaryError) as raised:
        parse_phone_pool(["+33612345678", entry])
    message = str(raised.value)
    assert message.startswith("pool.phones: ") and says in message and "\n" not in message


def test_a_bad_pool_writes_nothing(cli, db):
    assert cli("system", "add", "ehr-a", "--kind", "ehr").exit_code == 0
    assert cli("config", "set", "pool.phones", "+33756120000-+33756120999,+33639981234").exit_code == 0
    result = cli("seed", "ehr-a", "--count", "5")
    assert result.exit_code == 1
    assert result.output.strip() == ("error: pool.phones: +33639981234 is in an ARCEP block reserved for fiction; "
                                     "a thief would spot it")
    assert db.execute("SELECT COUNT(*) FROM canaries").fetchone()[0] == 0


def test_poisson_bound_figures():
    # 750,000 patients, 90% with a mobile: ~33 per 10,000-number block, as the issue counts.
    assert round(expected_in_block("mobile", 10_000, 750_000, _national())) == 33
    assert [poisson_quantile(m) for m in (0.0, 0.044, 0.436, 3.27, 32.7)] == [0, 1, 4, 10, 52]
    assert domain_cap(100_000, _national()) == 5 and domain_cap(750_000, _national()) == 17


def _national():
    from canary.generate.crowding import HostShares

    return HostShares()


def _many_blocks() -> tuple[str, ...]:
    """Two blocks of 1,000 mobiles in each of 150 blocks of 10,000, plus 09 numbers."""
    phones = []
    for block in range(150):
        base = 756_100_000 + block * 10_000
        phones += [f"+33{n}" for n in range(base, base + 2_000)]
    phones += [f"+33955{n:06d}" for n in range(2_000)]
    return tuple(phones)


def test_no_block_carries_more_of_one_system_than_its_population_would(db, reference):
    add_system(db, "ehr-a", "ehr")
    add_system(db, "lab-b", "lab")
    pools = Pools(phones=_many_blocks(), host_patients=100_000)
    generator = PatientGenerator(reference, pools)
    for system, count, seed in (("ehr-a", 900, 1), ("ehr-a", 600, 2), ("lab-b", 400, 3)):
        seed_system(db, system, count, generator.bounded(budget_for_system(db, system, pools)), seed=seed)
    for system in ("ehr-a", "lab-b"):
        per_block: Counter[str] = Counter()
        for canary in list_canaries(db, system=system):
            for phone in canary["phones"]:
                key = phone_key(phone)
                per_block.update((key[:6], key[:5]))
        mobiles = {p: n for p, n in per_block.items() if p.startswith("7")}
        # Fully owned 1,000-blocks: Q(0.44) = 4; 10,000-blocks with 2,000 owned: Q(4.4) - 3 real = 9. Within
        # those caps each 10,000-block carries its target group size (block_density): mostly one or two.
        assert max(n for p, n in mobiles.items() if len(p) == 6) <= 4
        assert max(n for p, n in mobiles.items() if len(p) == 5) <= 9
        assert len([p for p in mobiles if len(p) == 6]) > 100  # spread over many blocks
    # The pool (300 blocks of 1,000 -> ~1,200 mobiles under the bound) cannot carry 1,500 canaries:
    # the rest say so instead of crowding a block.
    short = unfilled_contacts(db, "ehr-a")
    assert short and all(kinds == ["phone"] for kinds in short.values())
    assert all(not c["phones"] for c in list_canaries(db, system="ehr-a") if c["id"] in short)


def test_an_exhausted_pool_is_loud_in_seed_and_lint(cli):
    assert cli("system", "add", "ehr-a", "--kind", "ehr").exit_code == 0
    assert cli("config", "set", "pool.phones", "+33756120000-+33756120999").exit_code == 0
    assert cli("config", "set", "pool.mail_domains", "messagerie-famille.fr").exit_code == 0
    assert cli("config", "set", "tripwire.base_url", "https://portail-patient.example.fr").exit_code == 0
    assert cli("config", "set", "tripwire.dns_zone", "docs.example.fr").exit_code == 0
    result = cli("seed", "ehr-a", "--count", "60", "--seed", "4")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING: pool.")]
    assert len(warnings) == 2, result.stderr
    phone_line, mail_line = warnings
    assert phone_line.startswith("WARNING: pool.phones ran out: ")
    assert "of 60 canaries should have a phone and have none (pool: 1,000 numbers in 1 block(s) of 1,000 and 1 of " \
           "10,000; for a host of 100,000 patients (generate.host_patients) a block carries at most 4 mobiles per " \
           "1,000 and 12 per 10,000, and at the host's block density a 10,000-block of the pool about " in phone_line
    # The operator is told how many blocks the canaries with a phone would need at that density: with
    # real subscribers all around the pool's numbers, one or two canaries a block.
    per_block = float(phone_line.split("block of the pool about ")[1].split(" canaries")[0])
    wanted = int(phone_line.split("canaries: ")[1].split(" phones")[0])
    needed = int(phone_line.split("phones need about ")[1].split(" blocks")[0])
    assert 1 <= per_block <= 2 and abs(needed - wanted / per_block) <= wanted * 0.05 + 1
    assert "blocks of 10,000); add numbers" in phone_line
    assert "of 60 canaries should have an e-mail and have none (1 owned domains, at most 5 canaries each" in mail_line
    lint = cli("lint", "--json")
    assert lint.exit_code == 1
    problems = json.loads(lint.output)["problems"]
    exhausted = [p for p in problems if p["rule"] == "contact-pool-exhausted"]
    short_phones = int(phone_line.split("ran out: ")[1].split(" of")[0])
    assert sum(p["field"] == "phones" for p in exhausted) == short_phones
    assert {p["rule"] for p in problems} == {"contact-pool-exhausted"}
    listed = {c["id"]: c for c in json.loads(cli("list", "--json").output)}
    assert all(not listed[p["canary_id"]]["phones"] for p in exhausted if p["field"] == "phones")
    # A larger host spreads more canaries per block: the same pool carries more.
    assert cli("config", "set", "generate.host_patients", "750000").exit_code == 0
    bigger = cli("seed", "ehr-a", "--count", "10", "--seed", "5")
    assert "at most 10 mobiles per 1,000 and 52 per 10,000" in bigger.stderr


def test_a_phone_is_left_empty_as_often_as_the_host_leaves_it(reference):
    from random import Random

    from canary.generate.contacts import PhoneBook, choose_phones

    book = PhoneBook.from_pool(tuple(f"+33756{n:06d}" for n in range(20_000))
                               + tuple(f"+33{z}4567{n:04d}" for z in "12345" for n in range(2_000)))
    rng = Random(12)
    ages = [rng.choice((2, 30, 50, 70, 80, 90)) for _ in range(4_000)]

    def empty_share(**shares: float) -> float:
        draws = [choose_phones(book, rng, age=age, zone="04", taken=lambda k, v: False, **shares) for age in ages]
        return sum(not d.numbers for d in draws) / len(draws)

    national = empty_share()
    assert national < 0.05  # admission desks nearly always get a number
    # A host whose patients give a mobile 60% of the time and a landline 30%: ~28% without any.
    assert 0.22 < empty_share(mobile_share=0.6, landline_share=0.3) < 0.34
    assert empty_share(mobile_share=1.0, landline_share=0.0) < 0.05
