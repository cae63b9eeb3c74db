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
When the host profile learnt how crowded its phone blocks are (block_density), λ per block is the
host's own: the other rows a real row sees in its 10,000-block (a tenth of it per 1,000-block).

Within those caps each 10,000-block of the pool carries a target group size (block_density), so
that a canary's block, counted as the thief counts it, looks like a real patient's.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from canary.generate.block_density import (
    group_sizes,
    host_density,
    host_part,
    mean_size,
    phone_kind_of_key,
    poisson_density,
    real_beside,
    target_of,
)
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
    # The host's block density per kind of phone (canary.generate.block_density; None: the Poisson
    # model of the national plan) and the key of the blocks' fixed target sizes (the system).
    densities: Mapping[str, tuple[tuple[int, float], ...] | None] = field(default_factory=dict)
    learnt: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # the profile's phone_blocks
    salt: str = ""
    _targets: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def for_system(cls, host_patients: int, pool: Iterable[str], in_use_phones: Iterable[str],
                   in_use_domains: Iterable[str], shares: HostShares | None = None,
                   profile_data: Mapping[str, Any] | None = None, salt: str = "") -> ContactBudget:
        owned: Counter[str] = Counter()
        # One normalisation per block of 1,000, not per number: pools run to hundreds of thousands.
        for head, numbers in Counter(number[:-3] for number in pool).items():
            key = phone_key(head + "000")
            if key:
                for prefix in _prefixes(key):
                    owned[prefix] += numbers
        kinds = ("mobile", "landline")
        budget = cls(host_patients=host_patients, owned=MappingProxyType(dict(owned)), shares=shares or HostShares(),
                     densities={kind: host_density(profile_data, kind) for kind in kinds},
                     learnt={kind: host_part(profile_data, kind) for kind in kinds}, salt=salt)
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
                host = self._host_mean(key)
                mean = (host * size / BLOCK_SIZES[1] if host is not None
                        else expected_in_block(category, size, self.host_patients, self.shares))
                beside = mean * (1 - self.owned.get(prefix, 0) / size)
                learnt = self.learnt.get(phone_kind_of_key(key))
                if host is not None and learnt:  # the host's own patients in this very block, as far as known
                    large = key[:-4]
                    beside = (real_beside(learnt, large, self.owned.get(large, 0)) or 0.0) * size / BLOCK_SIZES[1]
                self._caps[prefix] = max(0, poisson_quantile(mean) - math.floor(beside))
            caps.append(self._caps[prefix])
        return min(caps)

    def phone_fits(self, number: str) -> bool:
        small, large, cap = self._head(number)
        return cap > 0 and self.used[small] < self._caps[small] and self.used[large] < self._limit(large, number)

    def phone_fits_cap(self, number: str) -> bool:
        """Under the caps alone (a number the thief does not group the patient by)."""
        small, large, cap = self._head(number)
        return cap > 0 and self.used[small] < self._caps[small] and self.used[large] < self._caps[large]

    def joins_later(self, number: str) -> bool:
        """Once ``number`` is taken, its 10,000-block still waits for canaries to reach its target size."""
        _, large, _ = self._head(number)
        return self.used[large] + 1 < self._limit(large, number)

    def partly_filled(self, number: str) -> bool:
        """The 10,000-block of ``number`` holds canaries of the system but fewer than its target size."""
        _, large, _ = self._head(number)
        return 0 < self.used[large] < self._limit(large, number)

    def _limit(self, large: str, number: str) -> int:
        return min(self._caps[large], self.target(large, number))

    def target(self, large: str, number: str) -> int:
        """How many canaries the 10,000-block ``large`` (national digits) is to carry (block_density)."""
        target = self._targets.get(large)
        if target is None:
            # Sizes the block can reach (its cap, the pool's numbers in it); a block that mostly cannot
            # reach the host's density stays empty rather than show a group too small for it.
            feasible = self._feasible(large, number)
            target = self._targets[large] = target_of(large, self.salt, feasible) if feasible else 0
        return target

    def _feasible(self, large: str, number: str) -> tuple[tuple[int, float], ...]:
        """The target sizes the block can reach (its cap, the pool's numbers in it); none when it mostly
        cannot reach the host's density: it stays empty rather than show a group too small for it."""
        room = min(self._caps.get(large, 0), self.owned.get(large, 0))
        feasible = [(m, w) for m, w in self._sizes(large, number) if m <= room]
        reach = sum(w for _, w in feasible)
        return () if reach < 0.5 else tuple((m, w / reach) for m, w in feasible)

    def _host_mean(self, key: str) -> float | None:
        """The other numbers of the host a number sees in its 10,000-block (profile; None: not learnt)."""
        mean = self.learnt.get(phone_kind_of_key(key), {}).get("numbers_mean")
        return float(mean) if mean is not None else None

    def _sizes(self, large: str, number: str) -> tuple[tuple[int, float], ...]:
        kind = phone_kind_of_key(large)
        density = self.densities.get(kind)
        owned = self.owned.get(large, 0)
        learnt = self.learnt.get(kind, {})
        if density and large in (learnt.get("blocks") or {}):
            # One of the host's own crowded blocks: a canary there sees what a real patient there sees.
            return ((1, 1.0),)
        real = real_beside(learnt, large, owned) if density else None
        if not density or real is None:
            category = phone_category(number) or ""
            mean = expected_in_block(category, BLOCK_SIZES[1], self.host_patients, self.shares)
            density = poisson_density(round(mean, 1))
            real = mean * (1 - owned / BLOCK_SIZES[1])  # beside the operator's numbers
        return group_sizes(density, _coarse(real))

    def mean_target(self, number: str) -> float:
        """The mean number of canaries a pool block like ``number``'s carries at the host's density."""
        _, large, _ = self._head(number)
        return mean_size(self._feasible(large, number))

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


def _coarse(mean: float) -> float:
    """A mean rounded to a tenth below 1, else to 10 % steps: few distinct deconvolutions per run (each
    costs a fraction of a second), far finer than a Poisson count's own spread."""
    if mean < 1:
        return round(mean, 1)
    return round(1.1 ** round(math.log(mean) / math.log(1.1)), 2)


def _prefixes(key: str) -> tuple[str, str]:
    """The 1,000- and 10,000-number blocks of 9 national digits."""
    return key[:-3], key[:-4]


def pool_tens(budget: ContactBudget, pools: Pools) -> tuple[int, float]:
    """The pool's blocks of 10,000 and the mean count of canaries one carries at the host's block density."""
    firsts: dict[str, str] = {}
    for number in pools.phones:
        firsts.setdefault(number[:-4], number)
    if not firsts:
        return 0, 0.0
    sizes = [budget.mean_target(number) for number in firsts.values() if phone_category(number)]
    return len(firsts), (sum(sizes) / len(sizes) if sizes else 0.0)


def exhaustion_warnings(budget: ContactBudget, pools: Pools, count: int) -> list[str]:
    """One line per contact point the pools could not give to every canary that should have it."""
    lines = []
    host = f"a host of {budget.host_patients:,} patients (generate.host_patients)"
    phones = budget.unfilled["phone"]
    if phones:
        blocks = len({number[:-3] for number in pools.phones})
        mean = [expected_in_block("mobile", size, budget.host_patients, budget.shares) for size in BLOCK_SIZES]
        tens, per_block = pool_tens(budget, pools)
        wanted = budget.carried["phone"] + phones
        density = (f"at the host's block density a 10,000-block of the pool about {per_block:.1f} canaries: "
                   f"{wanted:,} phones need about {math.ceil(wanted / per_block):,} blocks of 10,000" if per_block > 0
                   else "no 10,000-block of the pool holds enough numbers to reach the host's block density")
        lines.append(
            f"pool.phones ran out: {phones} of {count} canaries should have a phone and have none "
            f"(pool: {len(pools.phones):,} numbers in {blocks:,} block(s) of 1,000 and {tens:,} of 10,000; for {host} "
            f"a block carries at most {poisson_quantile(mean[0])} mobiles per 1,000 and {poisson_quantile(mean[1])} "
            f"per 10,000, and {density}); add numbers from other blocks")
    # Landline-only canaries given a mobile because the zone's home numbers ran out (a pool without any
    # home number of the zone is the operator's known choice: not repeated at every seed).
    homes = {k.split(":", 1)[1]: n for k, n in budget.unfilled.items() if k.startswith("landline:") and n}
    owned_zones = {phone_category(number[:-3] + "000") for number in {n[:-3]: n for n in pools.phones}.values()}
    homes = {zone: n for zone, n in homes.items() if f"landline:{zone}" in owned_zones}
    if homes:
        zones = ", ".join(f"{zone} ({n})" for zone, n in sorted(homes.items()))
        lines.append(
            f"pool.phones: the home numbers of zone(s) {zones} ran out: {sum(homes.values())} of {count} canaries "
            "who should have only a landline got a mobile instead (each 10,000-block of home numbers carries its "
            "group at the host's block density); add home numbers of those zones from other blocks")
    emails = budget.unfilled["email"]
    if emails:
        lines.append(
            f"pool.mail_domains ran out: {emails} of {count} canaries should have an e-mail and have none "
            f"({len(pools.mail_domains)} owned domains, at most {domain_cap(budget.host_patients, budget.shares)} "
            f"canaries each for {host}); add domains or pool.mailbox_providers")
    return lines
