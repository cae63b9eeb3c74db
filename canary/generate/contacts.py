"""Contact points: phone numbers from the operator's pool, mail addresses on the operator's domains.

A canary is only worth something if a call or a mail to it reaches us, so nothing here invents a
number or a domain: without pools, canaries have no phone and no e-mail.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import phonenumbers

from canary.generate.text import has_marker_word, looks_hex, mail_form
from canary.normalize import email_key, phone_key

# ARCEP blocks reserved for fiction (films, books): libphonenumber rejects them, and so would a thief.
FICTION_PREFIXES = ("19900", "26191", "35301", "46571", "53649", "63998")
# Prefixes reserved to telemarketing platforms: nobody's home or mobile number.
TELEMARKETING_PREFIXES = ("162", "163", "270", "271", "377", "378", "424", "425", "568", "569", "948", "949")
# Overseas departments: landline prefix (national, without 0) and their mobile prefixes.
_OVERSEAS_LANDLINES = MappingProxyType({"262": "0262", "269": "0269", "590": "0590", "594": "0594", "596": "0596"})
_OVERSEAS_MOBILES = MappingProxyType({"692": "0262", "693": "0262", "639": "0269", "690": "0590", "691": "0590",
                                      "694": "0594", "696": "0596", "697": "0596"})

# Who has which contact point, by age (ARCEP/CREDOC Baromètre du numérique; rounded). The record of a
# child carries a parent's mobile.
_MOBILE_SHARE = ((15, 0.9), (70, 0.95), (85, 0.8), (200, 0.55))
_LANDLINE_SHARE = ((15, 0.25), (40, 0.15), (70, 0.4), (200, 0.7))
_EMAIL_SHARE = ((15, 0.25), (30, 0.7), (60, 0.75), (75, 0.55), (85, 0.3), (200, 0.12))


def _share(table: tuple[tuple[int, float], ...], age: int) -> float:
    return next(share for limit, share in table if age < limit)


def phone_problem(number: str) -> str | None:
    """Why a thief would reject this number, or None if it passes as a real French subscriber."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return "not an E.164 number"
    if not number.startswith("+") or not phonenumbers.is_valid_number(parsed):
        return "not a valid number in the national plan"
    key = phone_key(number)
    if key is None:
        return "not a French number"
    if key.startswith(FICTION_PREFIXES):
        return "in an ARCEP block reserved for fiction"
    if key.startswith(TELEMARKETING_PREFIXES):
        return "in a prefix reserved for telemarketing"
    return None


def phone_category(number: str) -> str | None:
    """``mobile``, ``mobile:0262``..., ``landline:01``..``landline:0596``, ``voip`` (09), else None."""
    key = phone_key(number)
    if key is None:
        return None
    if key[:3] in _OVERSEAS_MOBILES:
        return f"mobile:{_OVERSEAS_MOBILES[key[:3]]}"
    if key[:3] in _OVERSEAS_LANDLINES:
        return f"landline:{_OVERSEAS_LANDLINES[key[:3]]}"
    if key[0] in "67":
        return "mobile"
    if key[0] in "12345":
        return f"landline:0{key[0]}"
    if key[0] == "9":
        return "voip"
    return None


@dataclass(frozen=True)
class PhoneBook:
    """The usable part of the operator's pool, sorted by category; rejected numbers left out."""

    by_category: Mapping[str, tuple[str, ...]]
    rejected: Mapping[str, str]
    # Categories found full. Numbers are only ever taken while one generator runs (it lives for one
    # command), so a full category stays full: walking it again for every canary made a seed into a
    # used-up pool cost seconds per batch while holding the registry's write lock.
    exhausted: set[str] = field(default_factory=set, compare=False, repr=False)

    @classmethod
    def from_pool(cls, numbers: tuple[str, ...]) -> PhoneBook:
        groups: dict[str, list[str]] = defaultdict(list)
        rejected: dict[str, str] = {}
        # Validity in the French plan depends on the first digits only (libphonenumber's patterns
        # for +33 and the overseas codes look at 5 at most): check one number per block of 1,000
        # so an operator's range of 100,000 numbers loads in a blink. The lint re-checks each one.
        verdicts: dict[tuple[str, int], tuple[str | None, str | None]] = {}
        for number in numbers:
            block = (number[:-3], len(number))
            if block not in verdicts:
                problem = phone_problem(number)
                verdicts[block] = (problem, phone_category(number) if problem is None else None)
            problem, category = verdicts[block]
            if problem or category is None:
                rejected[number] = problem or "not a subscriber number"
            else:
                groups[category].append(number)
        return cls(MappingProxyType({k: tuple(v) for k, v in groups.items()}), MappingProxyType(rejected))

    def pick(self, rng: random.Random, category: str, taken: Callable[[str, str], bool],
             avoid: set[str]) -> str | None:
        numbers = self.by_category.get(category, ())
        if not numbers or category in self.exhausted:
            return None
        for _ in range(12):
            number = numbers[int(rng.random() * len(numbers))]
            if number not in avoid and not taken("phone", phone_key(number) or number):
                return number
        # A crowded pool: walk it from a random start so a free number is always found if any.
        start = int(rng.random() * len(numbers))
        free_but_avoided = False
        for offset in range(len(numbers)):
            number = numbers[(start + offset) % len(numbers)]
            if taken("phone", phone_key(number) or number):
                continue
            if number in avoid:
                free_but_avoided = True
                continue
            return number
        if not free_but_avoided:
            self.exhausted.add(category)
        return None


def pick_phones(book: PhoneBook, rng: random.Random, *, age: int, zone: str,
                taken: Callable[[str, str], bool]) -> list[str]:
    """A mobile and/or a landline in the patient's own zone; never a landline from another region."""
    wants_mobile = rng.random() < _share(_MOBILE_SHARE, age)
    wants_landline = rng.random() < _share(_LANDLINE_SHARE, age)
    if not (wants_mobile or wants_landline):
        wants_mobile = rng.random() < 0.6  # admission desks nearly always ask for a number
    phones: list[str] = []
    used: set[str] = set()
    if wants_mobile:
        overseas = len(zone) == 4
        number = (book.pick(rng, f"mobile:{zone}", taken, used) if overseas else None) or (
            book.pick(rng, "mobile", taken, used))
        if number:
            phones.append(number)
            used.add(number)
    if wants_landline:
        # Internet-box numbers (09) are home phones too, anywhere in France.
        category = f"landline:{zone}" if rng.random() < 0.75 else "voip"
        number = book.pick(rng, category, taken, used) or book.pick(rng, f"landline:{zone}", taken, used)
        if number:
            phones.append(number)
    return phones


def pick_email(rng: random.Random, domains: tuple[str, ...], *, first_name: str, family_name: str,
               birth_year: int, department: str, age: int, taken: Callable[[str, str], bool]) -> str | None:
    if not domains or rng.random() >= _share(_EMAIL_SHARE, age):
        return None
    first = mail_form(first_name)
    family = mail_form(family_name).replace("-", "")
    for attempt in range(12):
        local = _local_part(rng, first, family, birth_year, department, attempt)
        if not local or has_marker_word(local) or looks_hex(local) or len(local) > 40:
            continue
        address = f"{local}@{domains[int(rng.random() * len(domains))]}"
        if not taken("email", email_key(address)):
            return address
    return None


def _local_part(rng: random.Random, first: str, family: str, year: int, department: str, attempt: int) -> str:
    """Shapes people pick for their own address; digits get likelier once the plain ones are taken."""
    digits = ""
    if attempt > 0 or rng.random() < 0.35:
        digits = rng.choice((str(year), f"{year % 100:02d}", department if department.isdigit() else "",
                             str(rng.randint(1, 99)), f"{rng.randint(1, 12):02d}{year % 100:02d}"))
    shape = rng.random()
    if shape < 0.38:
        local = f"{first}.{family}"
    elif shape < 0.5:
        local = f"{first[0]}.{family}"
    elif shape < 0.62:
        local = f"{first[0]}{family}"
    elif shape < 0.72:
        local = f"{family}.{first}"
    elif shape < 0.82:
        local = f"{first}{family}"
    elif shape < 0.88:
        local = f"{first}_{family}"
    elif shape < 0.94:
        local = f"{first}-{family}"
    else:
        local = f"{family}{first[0]}"
    return local.strip(".-_") + digits
