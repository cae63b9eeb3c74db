"""Places: where patients live (by population), where they were born (maternity towns, abroad),
which INSEE code their birth was registered under, and a plausible street address."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import TYPE_CHECKING

from canary.generate.nir import CORSICA_SPLIT, birth_place_code, monthly_births
from canary.generate.reference import BIRTH_ERAS, BirthCountry, Commune, Reference
from canary.store.shapes import Address
from canary.weighted import WeightedTable

if TYPE_CHECKING:
    from canary.generate.registers.lookup import Registers

# Share of people born abroad, by birth year (INSEE immigrant population by age; hospital patients
# born before 1980 are older immigrants, children are mostly born in France).
_FOREIGN_SHARE = ((1930, 0.08), (1950, 0.11), (1980, 0.13), (2000, 0.10), (10_000, 0.04))
# Born in the department where they live now (INSEE: about half of adults).
_LOCAL_BIRTH_SHARE = 0.5
_LOCAL_BIRTH_SHARE_CHILD = 0.8
# When codes came into use. Before 1968 the communes of 91-95 were in Seine / Seine-et-Oise under
# other codes; overseas departments date from 1946; Lyon 8e / 9e and Marseille's arrondissements
# were created later than some of our patients' births.
_DEPARTMENT_FROM = MappingProxyType(
    {dept: date(1968, 1, 1) for dept in ("91", "92", "93", "94", "95")}
    | {dept: date(1946, 3, 19) for dept in ("971", "972", "973", "974")}
    | {"976": date(2011, 3, 31)}
)
_CODE_FROM = MappingProxyType({"69388": date(1959, 8, 12), "69389": date(1964, 7, 12)})
_MARSEILLE_ARRONDISSEMENTS_FROM = date(1946, 1, 1)
_FOREIGN_MONTHLY_REGISTRATIONS = 400.0
# Of the people born in France outside their department, those born in a nearby one (INSEE place
# of birth vs residence: most moves are regional).
NEARBY_BIRTH_SHARE = 0.35  # NIRs given per month to people born abroad, one cohort


@dataclass(frozen=True, slots=True)
class BirthPlace:
    code: str
    name: str
    monthly_births: float  # to place the NIR order number (see nir.order_range)
    name_origin: str | None = None  # born abroad in a country with names of its own


def commune_valid_on(commune: Commune, birth_date: date) -> bool:
    start = _CODE_FROM.get(commune.code) or _DEPARTMENT_FROM.get(commune.department)
    if commune.code.startswith("132") and commune.kind == "ARM":
        start = _MARSEILLE_ARRONDISSEMENTS_FROM
    return start is None or birth_date >= start


def birth_code_valid(ref: Reference, code: str, birth_date: date) -> bool:
    """Whether ``code`` is an INSEE birth-place code a birth on ``birth_date`` could carry."""
    if code.startswith("99"):
        if code == "99100" or code not in ref.countries:
            return False
        known = next((c for t in ref.birth_countries.values() for c in t.items if c.code == code), None)
        return known is None or known.born_from is None or birth_date >= known.born_from
    if code.startswith("20"):
        return birth_date < CORSICA_SPLIT and any(p + code[2:] in ref.communes for p in ("2A", "2B"))
    if code[:2] in ("2A", "2B") and birth_date < CORSICA_SPLIT:
        return False
    commune = ref.communes.get(code)
    return commune is not None and commune_valid_on(commune, birth_date)


def birth_place_name(ref: Reference, code: str) -> str | None:
    if code.startswith("99"):
        return ref.countries.get(code)
    if code.startswith("20"):
        commune = ref.communes.get("2A" + code[2:]) or ref.communes.get("2B" + code[2:])
    else:
        commune = ref.communes.get(code)
    return commune.name if commune else None


def pick_residence(ref: Reference, rng: random.Random) -> Commune:
    return ref.residences.pick(rng)


def pick_birth_place(ref: Reference, rng: random.Random, birth_date: date, home: Commune, *,
                     abroad_possible: bool = True, nearby: WeightedTable[str] | None = None,
                     category: str | None = None, site_department: str | None = None) -> BirthPlace:
    """``nearby``: departments near ``home`` (catchment.Geography.nearby): people not born in their
    own department were often born in the next ones. ``category`` (profile_births.CATEGORIES, drawn
    from the host's shares): where, relative to home and to ``site_department``; None: the national model."""
    if category is not None:
        return _birth_place_in(ref, rng, birth_date, home, category if abroad_possible or category != "abroad"
                               else "local", nearby, site_department)
    year = birth_date.year
    foreign_share = next(share for end, share in _FOREIGN_SHARE if year < end)
    if rng.random() < foreign_share and abroad_possible:
        table = ref.birth_countries[ref.cohort(year)]
        for _ in range(20):
            country = table.pick(rng)
            if country.born_from is None or birth_date >= country.born_from:
                share = _share(table, country.code)
                return BirthPlace(country.code, country.name, _FOREIGN_MONTHLY_REGISTRATIONS * share,
                                  country.name_origin)
    era = ref.birth_era(year)
    local = _LOCAL_BIRTH_SHARE_CHILD if year >= 2008 else _LOCAL_BIRTH_SHARE
    for _ in range(50):
        roll = rng.random()
        department = home.department if roll < local else None
        if department is None and nearby is not None and roll < local + NEARBY_BIRTH_SHARE * (1 - local):
            department = nearby.pick(rng)
        commune = ref.birth_places[(era, department)].pick(rng)
        if commune_valid_on(commune, birth_date):
            maternity = BIRTH_ERAS[era][1] > 0
            return BirthPlace(birth_place_code(commune.code, birth_date), commune.name,
                              monthly_births(commune.population, maternity=maternity))
    raise RuntimeError("no valid birth place found")  # unreachable with the shipped tables


def _birth_place_in(ref: Reference, rng: random.Random, birth_date: date, home: Commune, category: str,
                    nearby: WeightedTable[str] | None, site: str | None) -> BirthPlace:
    """A birth place of one category of the host's profile (local, site, nearby, france, abroad)."""
    if category == "abroad":
        table = ref.birth_countries[ref.cohort(birth_date.year)]
        for _ in range(50):
            country = table.pick(rng)
            if country.born_from is None or birth_date >= country.born_from:
                share = _share(table, country.code)
                return BirthPlace(country.code, country.name, _FOREIGN_MONTHLY_REGISTRATIONS * share,
                                  country.name_origin)
        category = "france"
    era = ref.birth_era(birth_date.year)
    close = frozenset(nearby.items) if nearby is not None else frozenset()
    # Departments each category must avoid (they belong to another one).
    avoid = {"nearby": {home.department, site}, "france": {home.department, site, *close}}.get(category, set())
    for attempt in range(200):
        department: str | None = None  # late attempts: anywhere (no commune of that code existed yet)
        if attempt < 100 and (category == "local" or category == "site" and site):
            department = home.department if category == "local" else site
        elif attempt < 100 and category == "nearby" and nearby is not None:
            department = nearby.pick(rng)
        commune = ref.birth_places[(era, department)].pick(rng)
        if commune.department in avoid and attempt < 100 or not commune_valid_on(commune, birth_date):
            continue
        maternity = BIRTH_ERAS[era][1] > 0
        return BirthPlace(birth_place_code(commune.code, birth_date), commune.name,
                          monthly_births(commune.population, maternity=maternity))
    raise RuntimeError("no valid birth place found")  # unreachable with the shipped tables


def _share(table: WeightedTable[BirthCountry], code: str) -> float:
    return table.share(next(i for i, c in enumerate(table.items) if c.code == code))


def make_address(ref: Reference, rng: random.Random, commune: Commune,
                 registers: Registers | None = None) -> Address:
    """A real BAN address point when the registers cover the commune, else a plausible street address."""
    if registers is not None:
        point = registers.address(rng, commune.code)
        if point is not None:
            return point
    street = ref.streets_for(commune).pick(rng)
    # House numbers: low numbers dominate; long streets only in towns.
    longest = 40 if commune.population < 2_000 else 120 if commune.population < 20_000 else 220
    if street.kind in ("place", "impasse", "allée"):
        longest = min(longest, 24)  # short by nature
    if street.max_number:
        longest = street.max_number
    number = str(int(longest * rng.random() ** 2) + 1)
    roll = rng.random()
    if roll < 0.03:
        number += " bis"
    elif roll < 0.035:
        number += " ter"
    line = f"{number} {street.kind} {street.name}" if street.kind else f"{number} {street.name}"
    postcode = commune.postcodes[0] if len(commune.postcodes) == 1 else _pick_postcode(rng, commune.postcodes)
    return {"line": line, "postcode": postcode, "city": commune.city, "commune_code": commune.code}


def _pick_postcode(rng: random.Random, postcodes: tuple[str, ...]) -> str:
    # A town's main postcodes end in 0 (31000, 31100...); the others serve outlying hamlets.
    weights = [4 if code.endswith("0") else 1 for code in postcodes]
    return rng.choices(postcodes, weights)[0]
