"""Mailbox-name shapes: learnt by age as counts only, followed by proposals, never a bare common name."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from canary.generate.mail_providers import age_group
from canary.generate.mail_shapes import FREE_BELOW, SYLLABLES, MailboxShaper, classify, name_rarity
from canary.generate.names import pick_first_names
from canary.generate.patient import PatientGenerator
from canary.generate.profile import MIN_COUNT, HostProfile, build_profile, read_export
from canary.generate.text import has_marker_word
from tests.support.generate import generate_batch
from tests.support.regional_hosts import host_mailbox

TODAY = date(2026, 11, 28)
PROVIDERS = ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net", "sfr.fr")
# Share of this export's mailboxes without digits, by age group: fewer for the young.
FREE_SHARE = {"15-29": 0.25, "30-44": 0.3, "45-59": 0.35, "60-74": 0.4, "75-200": 0.4}


def _export(path: Path, reference, count: int) -> list[dict[str, str]]:
    """A Mediboard-style export whose mailboxes have the shapes of tests/support/regional_hosts.py,
    with FREE_SHARE of them bare (digits stripped) by age group."""
    rng = random.Random(26)
    rows = []
    for i in range(count):
        sex, age = rng.choice("FM"), rng.randint(16, 90)
        born = TODAY - timedelta(days=365 * age + rng.randint(0, 300))
        first = pick_first_names(reference, rng, sex, born.year)[0]
        surname = reference.names.pick_surname(rng, "35")
        email = ""
        if rng.random() < 0.7:
            local = host_mailbox(rng, first, surname, born.year, age, "35").rstrip("0123456789")
            if rng.random() >= FREE_SHARE[age_group(age)]:
                local += rng.choice((f"{born.year % 100:02d}", str(born.year), "35", str(rng.randint(1, 99))))
            email = f"{local}@{rng.choice(PROVIDERS)}"
        rows.append({"nom": surname, "prenom": first.capitalize(), "naissance": born.isoformat(),
                     "sexe": sex.lower(), "cp": "35000", "email": email, "ipp": str(40_000_000 + i)})
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.fixture(scope="module")
def shaped_export(tmp_path_factory, reference):
    path = tmp_path_factory.mktemp("shapes") / "patients.csv"
    return path, _export(path, reference, 6000)


@pytest.fixture(scope="module")
def shaped_profile(shaped_export):
    path, _ = shaped_export
    columns, rows = read_export(path)
    return build_profile(columns, rows, None, today=TODAY)


def _age(born: str) -> int:
    day = date.fromisoformat(born)
    return TODAY.year - day.year - ((TODAY.month, TODAY.day) < (day.month, day.day))


def _free_share(locals_by_group: dict[str, list[str]], group: str) -> float:
    names = locals_by_group[group]
    return sum(not any(ch.isdigit() for ch in name) for name in names) / len(names)


def test_local_parts_are_classified_against_the_person_s_names():
    assert classify("marie.le-gall62", "Marie", "LE GALL", 1962, "29") == ("first.last", "yy")
    assert classify("mlegall", "MARIE", "LE GALL") == ("flast", "none")
    assert classify("m.legall", "MARIE", "LE GALL") == ("f.last", "none")
    assert classify("legall.marie1962", "MARIE", "LE GALL", 1962) == ("last.first", "year")
    assert classify("legallmarie", "MARIE", "LE GALL") == ("lastfirst", "none")
    assert classify("jeanlegall29", "Pierre", "LE GALL", 1990, "29") == ("firstlast", "dept")  # a parent's
    assert classify("legall", "MARIE", "LE GALL") == ("last", "none")
    assert classify("marie0412", "MARIE", "LE GALL", 1962) == ("first", "n4")
    assert classify("lapinou", "MARIE", "LE GALL") == ("other", "none")


def test_the_profile_learns_shapes_by_age_as_counts_only(shaped_profile, shaped_export):
    _, rows = shaped_export
    shapes = shaped_profile["email_shapes"]
    assert set(shapes) == set(FREE_SHARE)
    for group, learnt in shapes.items():
        for part in ("forms", "lengths", "digits"):
            assert all(n >= MIN_COUNT for n in learnt[part]["counts"].values()) and learnt[part]["other"] >= 0
            assert sum(learnt[part]["counts"].values()) + learnt[part]["other"] == learnt["mailboxes"]
        truth = [r["email"].split("@")[0] for r in rows
                 if r["email"] and age_group(_age(r["naissance"])) == group]
        assert learnt["with_digits"] == pytest.approx(1 - _free_share({group: truth}, group), abs=0.03)
        assert abs((1 - learnt["with_digits"]) - FREE_SHARE[group]) < 0.06
        assert learnt["forms"]["counts"]["first.last+none"] >= MIN_COUNT
    # The shapes of the host's table are recognised: the full name leads, nicknames are "other".
    forms = Counter()
    for learnt in shapes.values():
        forms.update({k.split("+")[0]: n for k, n in learnt["forms"]["counts"].items()})
    assert forms.most_common(1)[0][0] == "first.last" and forms["flast"] and forms["other"]


def test_no_local_part_reaches_the_registry(cli, db_path, shaped_export):
    path, rows = shaped_export
    cli("system", "add", "ehr-rennes", "--kind", "ehr", "--commune", "35238")
    built = cli("profile", "build", "ehr-rennes", str(path))
    assert built.exit_code == 0, built.output
    shown = json.loads(cli("profile", "show", "ehr-rennes", "--json").output)
    assert shown["email_shapes"]["45-59"]["forms"]["counts"]
    stored = b"".join(p.read_bytes() for p in Path(db_path).parent.glob(db_path.name + "*"))
    raw = set()
    for row in rows[::3]:
        if row["email"]:
            local = row["email"].split("@")[0]
            raw |= {row["email"], local}
    # (Surnames borne by 10 patients or more are kept by design: profile_names.py.) A local part of
    # 6 letters or fewer may spell a form or a key by chance ("flast", "other").
    leaked = sorted(v for v in raw if len(v) > 6 and v.encode() in stored)
    assert leaked == []


def test_proposals_follow_the_learnt_digit_share_by_age(reference, pools, shaped_profile):
    generator = PatientGenerator(reference, replace(pools, mail_domains=(), mailbox_providers=PROVIDERS),
                                 profile=HostProfile.from_data(shaped_profile, reference.communes))
    proposed: dict[str, list[str]] = {}
    for record in generate_batch(generator, 4000, seed=26):
        for point in record.get("contact_points", []):
            if point["kind"] == "email" and point["value"]:
                proposed.setdefault(age_group(_age(record["birth_date"])), []).append(point["value"].split("@")[0])
    for group in FREE_SHARE:
        if len(proposed.get(group, [])) < 150:
            continue  # too few of that age in the batch to judge
        learnt = 1 - shaped_profile["email_shapes"][group]["with_digits"]
        assert abs(_free_share(proposed, group) - learnt) < 0.08, (group, _free_share(proposed, group), learnt)
    assert _free_share(proposed, "60-74") > _free_share(proposed, "15-29")


def test_a_common_name_never_gets_a_bare_mailbox(reference):
    rarity = name_rarity(reference.names.bearers, reference.first_names)
    # A host whose every mailbox is a bare first.last: common pairs still get digits, rare ones may not.
    bare = {"mailboxes": 500, "with_digits": 0.0, "forms": {"counts": {"first.last+none": 500}, "other": 0},
            "lengths": {"counts": {}, "other": 0}, "digits": {"counts": {"0": 500}, "other": 0}}
    shaper = MailboxShaper(rarity, {group: bare for group in FREE_SHARE})
    rng = random.Random(6)
    for first, family in (("JEAN", "MARTIN"), ("MARIE", "DUPONT"), ("NATHALIE", "LE GALL"), ("KEVIN", "MULLER")):
        for _ in range(200):
            local = shaper.propose(rng, first, family, 1970, "29", 50, 0)
            assert any(ch.isdigit() for ch in local), local
    rare = [shaper.propose(rng, "GWENAELLE", "QUEMENEUR", 1970, "29", 50, 0) for _ in range(50)]
    assert rarity.holders("first.last", "none", "GWENAELLE", "QUEMENEUR") < 1
    assert sum(not any(ch.isdigit() for ch in local) for local in rare) > 25


def test_without_a_profile_proposals_follow_the_national_shapes(reference, pools):
    from canary.generate.mail_shapes import NATIONAL_SHAPES

    generator = PatientGenerator(reference, replace(pools, mail_domains=(), mailbox_providers=PROVIDERS))
    proposed: dict[str, list[str]] = {}
    for record in generate_batch(generator, 3000, seed=27):
        for point in record.get("contact_points", []):
            if point["kind"] == "email" and point["value"]:
                proposed.setdefault(age_group(_age(record["birth_date"])), []).append(point["value"].split("@")[0])
    for group in ("30-44", "45-59"):
        table = NATIONAL_SHAPES[group]
        national = sum(w for k, w in table.items() if k.endswith("+none")) / sum(table.values())
        # Digit-free as often as the national table says, as far as rare name pairs allow, never more.
        assert national - 0.2 < _free_share(proposed, group) < national + 0.05, (group, _free_share(proposed, group))
    lengths = [len(name) for names in proposed.values() for name in names]
    assert 11 < sum(lengths) / len(lengths) < 17


def test_a_profile_naming_forms_this_version_does_not_know_is_read_safely(reference):
    rarity = name_rarity(reference.names.bearers, reference.first_names)
    odd = {"mailboxes": 80, "with_digits": None, "forms": {"counts": {"emoji+none": 40, "first.last+n5": 30},
                                                           "other": 10},
           "lengths": {"counts": {"12": 40}, "other": 40}, "digits": {"counts": {}, "other": 80}}
    shaper = MailboxShaper(rarity, {"45-59": odd})
    rng = random.Random(2)
    names = [shaper.propose(rng, "JEAN", "MARTIN", 1970, "29", 50, 0) for _ in range(50)]
    # Name forms of a common pair carry digits; a digit-free one is an invented four-syllable nickname.
    assert all(any(ch.isdigit() for ch in name) or _is_nickname(name, 4) for name in names), names
    assert sum(name.startswith(("jean", "martin", "j")) for name in names) > 25


def _is_nickname(local: str, syllables: int) -> bool:
    return len(local) == 2 * syllables and all(local[i:i + 2] in SYLLABLES for i in range(0, len(local), 2))


def test_nicknames_are_invented_free_and_clean(reference):
    rarity = name_rarity(reference.names.bearers, reference.first_names)
    # Whatever the names, a nickname is free: three syllables with digits, four without.
    for first, family in (("JEAN", "MARTIN"), ("GWENAELLE", "QUEMENEUR")):
        assert rarity.holders("other", "none", first, family) < FREE_BELOW
        assert rarity.holders("other", "n2", first, family) < FREE_BELOW
        assert rarity.holders("other", "n1", first, family) >= FREE_BELOW  # one digit is too few
    only_nicknames = {"mailboxes": 500, "with_digits": 0.5,
                      "forms": {"counts": {"other+none": 250, "other+n2": 250}, "other": 0},
                      "lengths": {"counts": {}, "other": 0}, "digits": {"counts": {}, "other": 500}}
    shaper = MailboxShaper(rarity, {group: only_nicknames for group in FREE_SHARE})
    rng = random.Random(9)
    names = [shaper.propose(rng, "MARIE", "DUPONT", 1970, "29", 50, 0) for _ in range(400)]
    bare = [n for n in names if not any(ch.isdigit() for ch in n)]
    assert 120 < len(bare) < 280
    assert all(_is_nickname(n, 4) for n in bare)
    assert all(_is_nickname(n.rstrip("0123456789"), 3) and len(n) == 8 for n in names if n not in bare)
    assert not any(has_marker_word(n) or "marie" in n or "dupont" in n for n in names)


def test_proposals_are_as_short_as_the_host_s_mailboxes(reference, pools, shaped_profile, shaped_export):
    # The host's short mailboxes (a nickname, an initial and the surname) have free stand-ins: the lengths
    # proposed stay near the host's, though the short forms of common names are taken.
    _, rows = shaped_export
    host = [len(r["email"].split("@")[0]) for r in rows if r["email"]]
    generator = PatientGenerator(reference, replace(pools, mail_domains=(), mailbox_providers=PROVIDERS),
                                 profile=HostProfile.from_data(shaped_profile, reference.communes))
    proposed = [len(p["value"].split("@")[0]) for record in generate_batch(generator, 2000, seed=28)
                for p in record.get("contact_points", []) if p["kind"] == "email" and p["value"]]
    def share(lengths: list[int], low: int, high: int) -> float:
        return sum(low <= n <= high for n in lengths) / len(lengths)

    # Under 8 letters hardly anything is free (a bare surname, a first name and two digits, a short
    # nickname; the initial and surname of a rare name may be): those of the host are the lengths left
    # out; 8 to 10 letters are as common as the host's.
    assert share(proposed, 0, 7) < share(host, 0, 7) / 3
    assert share(proposed, 8, 10) > share(host, 8, 10) - 0.03
    assert abs(sum(proposed) / len(proposed) - sum(host) / len(host)) < 1.5


def test_common_names_keep_the_host_s_digit_free_share_through_nicknames(reference):
    rarity = name_rarity(reference.names.bearers, reference.first_names)
    # An older host's mailboxes are mostly bare full names; the canaries' common names cannot take those,
    # so invented nicknames carry the digit-free share (before: only the host's few bare nicknames did).
    older = {"mailboxes": 450, "with_digits": 0.222,
             "forms": {"counts": {"first.last+none": 300, "first.last+yy": 100, "other+none": 50}, "other": 0},
             "lengths": {"counts": {}, "other": 0}, "digits": {"counts": {}, "other": 450}}
    shaper = MailboxShaper(rarity, {"60-74": older})
    rng = random.Random(11)
    common = (("JEAN", "MARTIN"), ("MARIE", "DUPONT"), ("MICHEL", "BERNARD"), ("MONIQUE", "PETIT"))
    names = [shaper.propose(rng, first, family, 1955, "29", 70, 0) for _ in range(150) for first, family in common]
    bare = [n for n in names if not any(ch.isdigit() for ch in n)]
    assert abs(len(bare) / len(names) - 300 / 450 - 50 / 450) < 0.08
    assert all(_is_nickname(n, 4) for n in bare)
