import random

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
