import random
from collections import Counter

from canary.generate.contacts import PhoneBook, phone_category, phone_problem, pick_email, pick_phones
from canary.generate.text import has_marker_word, looks_hex


def test_the_pool_drops_what_a_thief_would_spot():
    book = PhoneBook.from_pool(("+33612345678", "+33639981234", "+33199001234", "+33162001234", "+33377001234",
                                "+33145670001", "+3361", "+262692123456", "+33800123456"))
    assert book.by_category["mobile"] == ("+33612345678",)
    assert book.by_category["landline:01"] == ("+33145670001",)
    assert book.by_category["mobile:0262"] == ("+262692123456",)
    assert set(book.rejected) == {"+33639981234", "+33199001234", "+33162001234", "+33377001234", "+3361",
                                  "+33800123456"}
    assert "fiction" in book.rejected["+33199001234"]
    assert "telemarketing" in book.rejected["+33377001234"]


def test_categories():
    assert phone_category("+33712345678") == "mobile"
    assert phone_category("+33298123456") == "landline:02"
    assert phone_category("+33955123456") == "voip"
    assert phone_category("+590590123456") == "landline:0590"
    assert phone_problem("+33612345678") is None


def test_landline_only_from_the_patient_s_zone():
    book = PhoneBook.from_pool(("+33298000001", "+33298000002"))
    rng = random.Random(4)
    for _ in range(50):
        assert pick_phones(book, rng, age=80, zone="04", taken=lambda k, v: False) == []
    assert any(pick_phones(book, rng, age=80, zone="02", taken=lambda k, v: False) for _ in range(20))


def test_mail_local_parts_look_like_people_s():
    rng = random.Random(8)
    seen = set()
    for _ in range(500):
        address = pick_email(rng, ("boite.fr",), first_name="MARIE-HELENE", family_name="LE GALL",
                             birth_year=1962, department="29", age=40,
                             taken=lambda kind, value: value in seen)
        if address:
            seen.add(address)
            local = address.split("@")[0]
            assert local.isascii() and local == local.lower()
            assert not has_marker_word(local) and not looks_hex(local)
            assert "legall" in local.replace(".", "").replace("-", "").replace("_", "")
    assert len(seen) > 200  # collisions push to other shapes and digits, all unique


def test_no_domain_no_email():
    assert pick_email(random.Random(1), (), first_name="A", family_name="B", birth_year=1950, department="75",
                      age=40, taken=lambda k, v: False) is None


def test_checking_one_number_per_block_of_1000_gives_the_per_number_verdict():
    rng = random.Random(5)
    numbers = []
    for code in ("+33", "+262", "+590", "+594", "+596"):
        numbers += [f"{code}{rng.randint(100_000_000, 999_999_999)}" for _ in range(3000)]
    book = PhoneBook.from_pool(tuple(numbers))
    for category, members in book.by_category.items():
        for number in members:
            assert phone_problem(number) is None and phone_category(number) == category
    for number in book.rejected:
        assert phone_problem(number) is not None or phone_category(number) is None


# -- consumer mailboxes the operator can really open (issue 26) ---------------------------------------------

PROVIDERS = ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net", "sfr.fr", "wanadoo.fr",
             "outlook.fr", "icloud.com", "yahoo.fr")
_NAMES = (("LUC", "MULLER"), ("MARIE", "DUPONT"), ("JEAN-PIERRE", "LE GALL"), ("ANA", "ROY"), ("YVES", "MARTIN"))


def _proposals(count: int, age: int, seed: int = 4, host=None) -> list[str]:
    from canary.generate.contacts import choose_email

    rng = random.Random(seed)
    seen: set[str] = set()
    out = []
    while len(out) < count:
        first, family = _NAMES[len(out) % len(_NAMES)]
        choice = choose_email(rng, (), first_name=first, family_name=family, birth_year=2026 - age,
                              department="01", age=age, taken=lambda kind, value: value in seen,
                              providers=PROVIDERS, email_share=1.0, provider_mix=host)
        assert choice.at_provider and choice.address
        seen.add(choice.address)
        out.append(choice.address)
    return out


def test_proposed_consumer_mailboxes_are_never_the_bare_short_shapes():
    import re

    addresses = _proposals(3000, age=45)
    for address in addresses:
        local = address.split("@")[0]
        assert re.search(r"\d", local), address  # lmuller@gmail.com, marie.dupont@orange.fr: someone's already
        letters = re.sub(r"[^a-z]", "", local)
        if not any(first.lower().replace("-", "") in letters for first, _ in _NAMES):
            assert len(re.sub(r"\D", "", local)) >= 4, address  # an initial only with a 4-digit number
        assert not has_marker_word(local) and not looks_hex(local) and len(local) <= 40
    separators = Counter("." if "." in a.split("@")[0] else "_" if "_" in a else "-" if "-" in a.split("@")[0]
                         else "" for a in addresses)
    assert len(separators) == 4 and min(separators.values()) > 100  # the shapes people use, mixed
    assert any("1981" in a for a in addresses) and any("01" in a.split("@")[0] for a in addresses)


def test_providers_follow_age_without_a_host_profile():
    old = Counter(a.split("@")[1] for a in _proposals(2000, age=80))
    young = Counter(a.split("@")[1] for a in _proposals(2000, age=22))
    isp = ("orange.fr", "wanadoo.fr", "free.fr", "sfr.fr", "laposte.net")
    assert sum(old[p] for p in isp) / 2000 > 0.7 and sum(young[p] for p in isp) / 2000 < 0.15
    assert young["gmail.com"] / 2000 > 0.5 and old["gmail.com"] / 2000 < 0.15
    assert young["icloud.com"] > 5 * max(1, old["icloud.com"])


def test_providers_follow_the_host_s_mix_by_age():
    host = {"75-200": {"counts": {"laposte.net": 600, "gmail.com": 400}, "other": 30},
            "15-29": {"counts": {"free.fr": 900, "orange.fr": 100}, "other": 5}}
    old = Counter(a.split("@")[1] for a in _proposals(2000, age=80, host=host))
    young = Counter(a.split("@")[1] for a in _proposals(2000, age=22, host=host))
    assert abs(old["laposte.net"] / 2000 - 0.6) < 0.05 and abs(old["gmail.com"] / 2000 - 0.4) < 0.05
    assert abs(young["free.fr"] / 2000 - 0.9) < 0.03
    # Providers the host does not publish (fewer than 10 of its patients) stay rare.
    assert sum(old[p] for p in PROVIDERS if p not in ("laposte.net", "gmail.com")) / 2000 < 0.1
