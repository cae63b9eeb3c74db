"""Contact points: phone numbers from the operator's pool, mail addresses on the operator's domains.

A canary is only worth something if a call or a mail to it reaches us, so nothing here invents a
number or a domain: without pools, canaries have no phone and no e-mail.
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import phonenumbers

from canary.generate.mail_providers import provider_local_part, provider_weights
from canary.generate.mail_shapes import MailboxShaper
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
# The same, averaged over hospital patients: what a host profile's shares are compared with.
MOBILE_SHARE = 0.9
LANDLINE_SHARE = 0.4
EMAIL_SHARE = 0.5
# E-mails outside the big providers (~10%) spread over thousands of domains (companies, schools,
# small ISPs, family domains); an owned domain passes for one of them.
TAIL_SHARE = 0.10
OPEN_GROUPS = 8  # pool blocks short of their target size kept open at once in a seeding run


def _share(table: tuple[tuple[int, float], ...], age: int) -> float:
    return next(share for limit, share in table if age < limit)


def phone_problem(number: str) -> str | None:
    """Why a thief would reject this number, or None if it passes as a real French subscriber."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return "not an E.164 number"
    key = phone_key(number) if number.startswith("+") else None
    # The reserved blocks first: they say more to the operator than "invalid" does.
    if key is not None and key.startswith(FICTION_PREFIXES):
        return "in an ARCEP block reserved for fiction"
    if key is not None and key.startswith(TELEMARKETING_PREFIXES):
        return "in a prefix reserved for telemarketing"
    if not number.startswith("+") or not phonenumbers.is_valid_number(parsed):
        return "not a valid number in the national plan"
    if key is None:
        return "not a French number"
    return None


class ContactBounds(Protocol):
    """What picking a contact point asks of one seeding run's crowding bounds (``crowding.ContactBudget``
    keeps the counters): whether a number or a domain still fits, and taking one."""

    open_blocks: dict[str, Any]  # category -> the pool's blocks still open in this run (OpenBlocks)

    unfilled: Any  # Counter: "phone" / "email" / "landline:ZONE" -> contact points missing

    def phone_fits(self, number: str) -> bool: ...

    def phone_fits_cap(self, number: str) -> bool: ...

    def joins_later(self, number: str) -> bool: ...

    def partly_filled(self, number: str) -> bool: ...

    def take_phone(self, number: str) -> None: ...

    def domain_fits(self, domain: str) -> bool: ...

    def take_domain(self, domain: str) -> None: ...


def block_verdict(number: str) -> tuple[str | None, str | None]:
    """``(phone_problem, phone_category)`` of ``number``, worked out once per block of 10,000.

    Both depend on the first 5 national digits at most (libphonenumber's patterns for +33 and the
    overseas codes, ARCEP's reserved prefixes): a pool of 100,000 numbers loads in a blink, however
    often a command reads it. The lint re-checks each number."""
    if number.startswith("+") and number[1:].isdigit():
        verdict = _verdict(number[:-4] + "0000")  # the block's first number: the same country, length, prefix
        if verdict[0] is None:
            return verdict
    return _verdict.__wrapped__(number)  # a rejection says exactly why (a foreign plan may look further)


@functools.lru_cache(maxsize=65_536)
def _verdict(number: str) -> tuple[str | None, str | None]:
    problem = phone_problem(number)
    return problem, phone_category(number) if problem is None else None


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
    # The same numbers per category, grouped by block of 1,000 (the unit of the crowding bounds).
    blocks: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=lambda: MappingProxyType({}))
    # Numbers of each category not yet found taken, for picks without a budget, with the ``taken`` that
    # answered (one per seeding run). A number it calls taken stays taken: it is dropped when first
    # found, and a used-up category is known at once instead of walked for every canary.
    free: dict[str, tuple[Callable[[str, str], bool], list[str]]] = field(default_factory=dict, compare=False,
                                                                          repr=False)

    @classmethod
    def from_pool(cls, numbers: tuple[str, ...]) -> PhoneBook:
        groups: dict[str, list[str]] = defaultdict(list)
        blocks: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        rejected: dict[str, str] = {}
        for number in numbers:
            problem, category = block_verdict(number)
            if problem or category is None:
                rejected[number] = problem or "not a subscriber number"
            else:
                groups[category].append(number)
                blocks[category][number[:-3]].append(number)
        return cls(MappingProxyType({k: tuple(v) for k, v in groups.items()}), MappingProxyType(rejected),
                   MappingProxyType({k: tuple(tuple(b) for b in v.values()) for k, v in blocks.items()}))

    def pick(self, rng: random.Random, category: str, taken: Callable[[str, str], bool],
             avoid: set[str], budget: ContactBounds | None = None, *, grouped: bool = True) -> str | None:
        """A free number of ``category``; with ``budget``, only from blocks that still take one.
        ``grouped``: the number is the one a thief groups the patient by (a mobile, else the first
        phone): its block also follows its target size (block_density); else only the caps."""
        if budget is not None:
            slot = category if grouped else f"{category}|ungrouped"
            blocks = budget.open_blocks.get(slot)
            if blocks is None:
                blocks = budget.open_blocks[slot] = OpenBlocks(self.blocks.get(category, ()),
                                                               budget if grouped else None)
            if grouped:
                return blocks.pick(rng, taken, avoid, budget.phone_fits, budget)
            return blocks.pick(rng, taken, avoid, budget.phone_fits_cap)
        known = self.free.get(category)
        if known is None or known[0] is not taken:
            known = self.free[category] = (taken, list(self.by_category.get(category, ())))
        return _draw(known[1], rng, taken, avoid)


class OpenBlocks:
    """One category's blocks that may still take a canary in one seeding run, each with its numbers
    not yet found taken.

    The budget lives for one run and its counters only grow, so a block found full stays full and a
    taken number stays taken: both are swap-removed when found. Each pick then costs a few draws,
    whatever the pool's size or how used up it is (walking every block for each canary made a seed
    past the pool's capacity quadratic), and a used-up category answers at once.
    """

    def __init__(self, blocks: tuple[tuple[str, ...], ...], budget: ContactBounds | None = None):
        self.blocks = [list(block) for block in blocks if block]
        # 10,000-blocks (E.164 spelling) -> their 1,000-blocks; those still short of their target size
        # (block_density): a canary joins one of them or opens a new one, so groups reach their size.
        self.tens: dict[str, list[list[str]]] = defaultdict(list)
        for block in self.blocks:
            self.tens[block[0][:-4]].append(block)
        self.joining: list[str] = [head for head, subs in self.tens.items()
                                   if budget is not None and budget.partly_filled(subs[0][0])]

    def pick(self, rng: random.Random, taken: Callable[[str, str], bool], avoid: set[str],
             fits: Callable[[str], bool], budget: ContactBounds | None = None) -> str | None:
        # Join a group still short of its size, more surely the more are open: a few stay open at once,
        # so canaries seeded one after another seldom share a block.
        while budget is not None and self.joining and rng.random() < len(self.joining) / OPEN_GROUPS:
            index = int(rng.random() * len(self.joining))
            head = self.joining[index]
            number = self._join(head, rng, taken, avoid, fits, budget)
            if number is None:
                _swap_remove(self.joining, index)
                continue
            if not budget.joins_later(number):
                _swap_remove(self.joining, index)
            return number
        number = self._open(rng, taken, avoid, fits)
        if number is not None and budget is not None and budget.joins_later(number):
            self.joining.append(number[:-4])
        return number

    def _join(self, head: str, rng: random.Random, taken: Callable[[str, str], bool], avoid: set[str],
              fits: Callable[[str], bool], budget: ContactBounds) -> str | None:
        subs = [block for block in self.tens[head] if block and fits(block[0])]
        if not subs or not budget.partly_filled(subs[0][0]):
            return None
        rng.shuffle(subs)
        for block in subs:
            number = _draw(block, rng, taken, avoid)
            if number is not None:
                return number
        return None

    def _open(self, rng: random.Random, taken: Callable[[str, str], bool], avoid: set[str],
              fits: Callable[[str], bool]) -> str | None:
        blocks = self.blocks
        passed: list[int] = []  # ids of blocks whose only free numbers are this canary's own
        while len(blocks) > len(passed):
            index = int(rng.random() * len(blocks))
            block = blocks[index]
            if id(block) in passed:
                continue
            if not block or not fits(block[0]):  # emptied by a group joining it, or full
                _swap_remove(blocks, index)
                continue
            number = _draw(block, rng, taken, avoid)
            if number is not None:
                return number
            if block:
                passed.append(id(block))
            else:
                _swap_remove(blocks, index)
        return None


def _draw(numbers: list[str], rng: random.Random, taken: Callable[[str, str], bool], avoid: set[str]) -> str | None:
    """A random number of ``numbers`` that is free and not in ``avoid``; taken ones are removed as found."""
    while numbers:
        index = int(rng.random() * len(numbers))
        if numbers[index] in avoid:  # this canary's other number (rare: ``avoid`` holds one at most)
            index = next((i for i, n in enumerate(numbers) if n not in avoid), -1)
            if index < 0:
                return None
        number = numbers[index]
        if taken("phone", phone_key(number) or number):
            _swap_remove(numbers, index)
            continue
        return number
    return None


def _swap_remove(items: list[Any], index: int) -> None:
    items[index] = items[-1]
    items.pop()


@dataclass(frozen=True)
class PhoneChoice:
    numbers: list[str]
    wanted: bool  # the patient should have a phone (host shares or age tables said so)

    @property
    def unfilled(self) -> bool:
        """A phone was wanted and the pool had none to give under the bounds."""
        return self.wanted and not self.numbers


def choose_phones(book: PhoneBook, rng: random.Random, *, age: int, zone: str, taken: Callable[[str, str], bool],
                  budget: ContactBounds | None = None, mobile_share: float | None = None,
                  landline_share: float | None = None) -> PhoneChoice:
    """A mobile and/or a landline in the patient's own zone; never a landline from another region.

    ``mobile_share`` / ``landline_share``: the host's shares of patients with one (a host profile);
    the age tables keep their shape, scaled to the host's mean, and a patient with neither stays
    without a phone as often as the host's patients do. ``budget``: per-block bounds of the system.
    """
    host = mobile_share is not None or landline_share is not None
    wants_mobile = rng.random() < _scaled(_MOBILE_SHARE, age, mobile_share, MOBILE_SHARE)
    wants_landline = rng.random() < _scaled(_LANDLINE_SHARE, age, landline_share, LANDLINE_SHARE)
    if not (wants_mobile or wants_landline or host):
        wants_mobile = rng.random() < 0.6  # admission desks nearly always ask for a number
    phones: list[str] = []
    used: set[str] = set()
    if wants_mobile:
        overseas = len(zone) == 4
        number = (book.pick(rng, f"mobile:{zone}", taken, used, budget) if overseas else None) or (
            book.pick(rng, "mobile", taken, used, budget))
        if number:
            phones.append(number)
            used.add(number)
            if budget is not None:
                budget.take_phone(number)
    if wants_landline:
        # Internet-box numbers (09) are home phones too, anywhere in France.
        category = f"landline:{zone}" if rng.random() < 0.75 else "voip"
        grouped = not phones  # no mobile: the home number is the one a thief groups by
        number = (book.pick(rng, category, taken, used, budget, grouped=grouped)
                  or book.pick(rng, f"landline:{zone}", taken, used, budget, grouped=grouped))
        if number:
            phones.append(number)
            if budget is not None:
                budget.take_phone(number)
    if budget is not None and not phones and wants_landline and not wants_mobile:
        # No home number left for this zone: a mobile keeps the host's share of patients without
        # any phone (a thief counts empty phone fields before he looks at prefixes).
        budget.unfilled[f"landline:{zone}"] += 1  # said by exhaustion_warnings: the home numbers ran out
        number = book.pick(rng, "mobile", taken, used, budget) or book.pick(rng, "voip", taken, used, budget)
        if number:
            phones.append(number)
            budget.take_phone(number)
    return PhoneChoice(phones, wanted=wants_mobile or wants_landline)


def pick_phones(book: PhoneBook, rng: random.Random, *, age: int, zone: str, taken: Callable[[str, str], bool],
                budget: ContactBounds | None = None, mobile_share: float | None = None,
                landline_share: float | None = None) -> list[str]:
    """The numbers of :func:`choose_phones`."""
    return choose_phones(book, rng, age=age, zone=zone, taken=taken, budget=budget, mobile_share=mobile_share,
                         landline_share=landline_share).numbers


def _scaled(table: tuple[tuple[int, float], ...], age: int, host: float | None, national: float) -> float:
    share = _share(table, age)
    if host is None:
        return share
    # Keep the age shape, move the mean to the host's: scale the share down, or the lack of it.
    if host <= national:
        return share * host / national
    return 1.0 - (1.0 - share) * (1.0 - host) / (1.0 - national)


@dataclass(frozen=True)
class EmailChoice:
    address: str | None
    wanted: bool
    at_provider: bool = False  # a consumer mailbox the operator must open before the canary carries it

    @property
    def unfilled(self) -> bool:
        return self.wanted and self.address is None


def choose_email(rng: random.Random, domains: tuple[str, ...], *, first_name: str, family_name: str,
                 birth_year: int, department: str, age: int, taken: Callable[[str, str], bool],
                 providers: tuple[str, ...] = (), budget: ContactBounds | None = None,
                 email_share: float | None = None, provider_mix: Mapping[str, Any] | None = None,
                 shaper: MailboxShaper | None = None) -> EmailChoice:
    """A name-like address at a consumer provider (``providers``) or on an owned domain (``domains``).

    With both, owned domains take the long tail's share (``TAIL_SHARE``); ``budget`` caps
    each owned domain per system. ``email_share``: the host's share of patients with an e-mail.
    The provider follows the patient's age: ``provider_mix`` (the host profile's ``email_providers``)
    where published, else the national mix by age (canary.generate.mail_providers). Its name follows
    ``shaper`` (shapes and digits by age, digit-free only for a rare name pair: canary.generate.mail_shapes);
    without one it always carries digits. Either way it is likely still free for the operator to open.
    """
    if not (domains or providers):
        return EmailChoice(None, wanted=False)
    if rng.random() >= _scaled(_EMAIL_SHARE, age, email_share, EMAIL_SHARE):
        return EmailChoice(None, wanted=False)
    owned = [d for d in domains if budget is None or budget.domain_fits(d)]
    at_provider = bool(providers) and (not owned or not domains or rng.random() >= TAIL_SHARE)
    if at_provider:
        domain = rng.choices(providers, provider_weights(providers, age, provider_mix))[0]
    elif owned:
        domain = owned[int(rng.random() * len(owned))]
    else:
        return EmailChoice(None, wanted=True)
    first = mail_form(first_name)
    family = mail_form(family_name).replace("-", "")
    for attempt in range(12):
        if at_provider and shaper is not None:
            local = shaper.propose(rng, first_name, family_name, birth_year, department, age, attempt)
        elif at_provider:
            local = provider_local_part(rng, first, family, birth_year, department, attempt)
        else:
            local = _local_part(rng, first, family, birth_year, department, attempt)
        if not local or has_marker_word(local) or looks_hex(local) or len(local) > 40:
            continue
        address = f"{local}@{domain}"
        if not taken("email", email_key(address)):
            if budget is not None and not at_provider:
                budget.take_domain(domain)
            return EmailChoice(address, wanted=True, at_provider=at_provider)
    return EmailChoice(None, wanted=True)


def pick_email(rng: random.Random, domains: tuple[str, ...], *, first_name: str, family_name: str,
               birth_year: int, department: str, age: int, taken: Callable[[str, str], bool],
               providers: tuple[str, ...] = (), budget: ContactBounds | None = None,
               email_share: float | None = None, provider_mix: Mapping[str, Any] | None = None) -> str | None:
    """The address of :func:`choose_email`."""
    return choose_email(rng, domains, first_name=first_name, family_name=family_name, birth_year=birth_year,
                        department=department, age=age, taken=taken, providers=providers, budget=budget,
                        email_share=email_share, provider_mix=provider_mix).address


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
