"""How many canaries of one system a block of numbers or a mail domain can carry without standing out.

A thief holding one establishment's dump counts its patients per block of 1,000 and 10,000 numbers
and per mail domain. The model: the host's real patients with a contact point of a kind are spread
over that kind's numbers (or the long tail of mail domains) uniformly, so the count a block or a
domain shows follows a Poisson law of mean

    λ = host patients × share with that contact point × share of them in that category
        × block size / numbers in the category                         (phones)
    λ = host patients × share with an e-mail × TAIL_SHARE / TAIL_DOMAINS   (an owned mail domain)

The canaries put there, plus the real patients still expected there (the numbers of the block the
operator does not own), stay within the count such a population reaches with probability
1 − ``ALPHA``: cap = Q(λ, 1 − ALPHA) − ⌊λ × share of the block not owned⌋. With 100,000 patients:
4 mobiles per 1,000-block, 12 per 10,000-block, 5 canaries per owned domain; with 750,000: 10, 52, 17.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from canary.generate.contacts import EMAIL_SHARE, LANDLINE_SHARE, MOBILE_SHARE, TAIL_SHARE, phone_category
from canary.generate.pools import Pools
from canary.normalize import phone_key

ALPHA = 0.001  # a block or a domain this crowded turns up once in a thousand in a real population
BLOCK_SIZES = (1_000, 10_000)
VOIP_SHARE_OF_LANDLINES = 0.25  # internet-box (09) numbers among home phones
TAIL_DOMAINS = 5_000  # the long tail of mail domains (TAIL_SHARE of e-mails) spread evenly over this many
# Category -> (share of France's people living there, subscriber numbers in the category).
_METRO = 0.97
_ZONES = MappingProxyType({"01": 0.19, "02": 0.20, "03": 0.19, "04": 0.23, "05": 0.16})
_OVERSEAS = MappingProxyType({  # population share; numbers of mobile prefixes, of landline prefix
    "0262": (0.013, 2_000_000, 1_000_000), "0269": (0.004, 1_000_000, 1_000_000),
    "0590": (0.006, 2_000_000, 1_000_000), "0594": (0.004, 1_000_000, 1_000_000),
    "0596": (0.005, 2_000_000, 1_000_000),
})


@functools.lru_cache(maxsize=4096)  # the same few means for every block of a seeding run
def poisson_quantile(mean: float, alpha: float = ALPHA) -> int:
    """The smallest k with P(X > k) <= alpha for X ~ Poisson(mean)."""
    if mean <= 0:
        return 0
    # Work in logs so a large mean does not underflow exp(-mean).
    k, log_p = 0, -mean
    cumulative = math.exp(log_p)
    while 1.0 - cumulative > alpha:
        k += 1
        log_p += math.log(mean) - math.log(k)
        cumulative += math.exp(log_p)
    return k


@dataclass(frozen=True)
class HostShares:
    """Shares of the host's patients with each contact point (a host profile's, or the national averages)."""

    mobile: float = MOBILE_SHARE
    landline: float = LANDLINE_SHARE
    email: float = EMAIL_SHARE


def expected_in_block(category: str, size: int, host_patients: int, shares: HostShares) -> float:
    """λ: the host's real patients expected to hold a number in one block of ``size`` of ``category``."""
    kind, _, zone = category.partition(":")
    if category == "mobile":
        people, numbers = shares.mobile * _METRO, 200_000_000  # 06 and 07
    elif category == "voip":
        people, numbers = shares.landline * VOIP_SHARE_OF_LANDLINES, 100_000_000
    elif kind == "landline" and zone in _ZONES:
        people, numbers = shares.landline * (1 - VOIP_SHARE_OF_LANDLINES) * _ZONES[zone], 100_000_000
    elif zone in _OVERSEAS:
        population, mobiles, landlines = _OVERSEAS[zone]
        share = shares.mobile if kind == "mobile" else shares.landline
        people, numbers = share * population, mobiles if kind == "mobile" else landlines
    else:
        return 0.0
    return host_patients * people * size / numbers


def domain_cap(host_patients: int, shares: HostShares) -> int:
    """Canaries of one system an owned mail domain may carry."""
    return poisson_quantile(host_patients * shares.email * TAIL_SHARE / TAIL_DOMAINS)


@dataclass
class ContactBudget:
    """The counters of one seeding run for one system: what each block and owned domain still takes.

    Built from the system's active canaries; the generator asks ``phone_fits`` before handing out a
    number and ``take_phone`` after. ``unfilled`` counts the contact points a canary should have had
    but the pools could not give under these bounds.
    """

    host_patients: int
    owned: Mapping[str, int]  # block prefix (national digits) -> numbers of the pool in it
    shares: HostShares = field(default_factory=HostShares)
    used: Counter[str] = field(default_factory=Counter)  # block prefix or domain -> this system's canaries
    unfilled: Counter[str] = field(default_factory=Counter)  # "phone" / "email" -> contact points missing
    carried: Counter[str] = field(default_factory=Counter)
    _caps: dict[str, int] = field(default_factory=dict)
    # Block of 1,000 as spelt in the pool (number[:-3]) -> its 1,000- and 10,000-number prefixes and the
    # smaller cap: a number is parsed once per block and run, not at every check.
    _heads: dict[str, tuple[str, str, int]] = field(default_factory=dict, repr=False)
    # Category -> the pool's blocks still open in this run (canary.generate.contacts.OpenBlocks).
    open_blocks: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def for_system(cls, host_patients: int, pool: Iterable[str], in_use_phones: Iterable[str],
                   in_use_domains: Iterable[str], shares: HostShares | None = None) -> ContactBudget:
        owned: Counter[str] = Counter()
        # One normalisation per block of 1,000, not per number: pools run to hundreds of thousands.
        for head, numbers in Counter(number[:-3] for number in pool).items():
            key = phone_key(head + "000")
            if key:
                for prefix in _prefixes(key):
                    owned[prefix] += numbers
        budget = cls(host_patients=host_patients, owned=MappingProxyType(dict(owned)), shares=shares or HostShares())
        for number in in_use_phones:
            key = phone_key(number)
            if key:
                budget.used.update(_prefixes(key))
        budget.used.update(f"@{d.lower()}" for d in in_use_domains)
        return budget

    def block_cap(self, number: str) -> int:
        """The fewest canaries any block holding ``number`` may carry (1,000 and 10,000)."""
        key = phone_key(number) or ""
        caps = []
        for size, prefix in zip(BLOCK_SIZES, _prefixes(key), strict=True):
            if prefix not in self._caps:
                category = phone_category(number) or ""
                mean = expected_in_block(category, size, self.host_patients, self.shares)
                free_share = 1 - self.owned.get(prefix, 0) / size
                self._caps[prefix] = max(0, poisson_quantile(mean) - math.floor(mean * free_share))
            caps.append(self._caps[prefix])
        return min(caps)

    def phone_fits(self, number: str) -> bool:
        small, large, cap = self._head(number)
        return cap > 0 and self.used[small] < self._caps[small] and self.used[large] < self._caps[large]

    def take_phone(self, number: str) -> None:
        small, large, _ = self._head(number)
        self.used[small] += 1
        self.used[large] += 1
        self.carried["phone"] += 1

    def _head(self, number: str) -> tuple[str, str, int]:
        head = self._heads.get(number[:-3])
        if head is None:
            small, large = _prefixes(phone_key(number) or "")
            head = self._heads[number[:-3]] = (small, large, self.block_cap(number))  # block_cap fills _caps
        return head

    def domain_fits(self, domain: str) -> bool:
        return self.used[f"@{domain.lower()}"] < domain_cap(self.host_patients, self.shares)

    def take_domain(self, domain: str) -> None:
        self.used[f"@{domain.lower()}"] += 1
        self.carried["email"] += 1


def _prefixes(key: str) -> tuple[str, str]:
    """The 1,000- and 10,000-number blocks of 9 national digits."""
    return key[:-3], key[:-4]


def exhaustion_warnings(budget: ContactBudget, pools: Pools, count: int) -> list[str]:
    """One line per contact point the pools could not give to every canary that should have it."""
    lines = []
    host = f"a host of {budget.host_patients:,} patients (generate.host_patients)"
    phones = budget.unfilled["phone"]
    if phones:
        blocks = len({number[:-3] for number in pools.phones})
        mean = [expected_in_block("mobile", size, budget.host_patients, budget.shares) for size in BLOCK_SIZES]
        lines.append(
            f"pool.phones ran out: {phones} of {count} canaries should have a phone and have none "
            f"(pool: {len(pools.phones):,} numbers in {blocks:,} block(s) of 1,000; for {host} a block carries at most "
            f"{poisson_quantile(mean[0])} mobiles per 1,000 and {poisson_quantile(mean[1])} per 10,000); "
            "add numbers from other blocks")
    emails = budget.unfilled["email"]
    if emails:
        lines.append(
            f"pool.mail_domains ran out: {emails} of {count} canaries should have an e-mail and have none "
            f"({len(pools.mail_domains)} owned domains, at most {domain_cap(budget.host_patients, budget.shares)} "
            f"canaries each for {host}); add domains or pool.mailbox_providers")
    return lines
