"""Names: first names by sex and birth decade, surnames by frequency, married women's used names."""

from __future__ import annotations

import random

from canary.generate.reference import FIRST_DECADE, Reference
from canary.generate.weighted import WeightedTable

# How many first names the civil register holds: three or four were usual for people born before
# 1960, two is the norm today (the first one is the usual first name).
_NAME_COUNTS = (
    (1960, WeightedTable((1, 2, 3, 4), (15, 32, 43, 10))),
    (1990, WeightedTable((1, 2, 3, 4), (22, 45, 29, 4))),
    (10_000, WeightedTable((1, 2, 3, 4), (28, 47, 23, 2))),
)
# Share of women using a spouse's name, by age (INSEE, Enquête Famille; rounded).
_USED_NAME_SHARE = ((20, 0.0), (25, 0.04), (30, 0.2), (35, 0.38), (50, 0.5), (65, 0.55), (200, 0.62))
_MEN_USED_NAME_SHARE = 0.004
# People born abroad mostly carry their country's names; the rest (children of French expatriates,
# mixed families) have names from the French lists.
ORIGIN_NAMING_SHARE = 0.8
_ORIGIN_NAME_COUNTS = WeightedTable((1, 2, 3), (55, 40, 5))


def pick_first_names(ref: Reference, rng: random.Random, sex: str, birth_year: int,
                     origin: str | None = None) -> list[str]:
    """The usual first name from the birth decade; later ones often honour the parents' or
    grandparents' generation, so they come from a decade 25 to 55 years earlier. People born
    abroad and named after their country (``origin``) take that country's names."""
    if origin and (origin, sex) in ref.origin_first_names:
        table = ref.origin_first_names[(origin, sex)]
        names: list[str] = []
        for _ in range(_ORIGIN_NAME_COUNTS.pick(rng)):
            name = table.pick(rng)
            if name not in names:
                names.append(name)
        return names
    decade = ref.decade(birth_year)
    count = next(table for end, table in _NAME_COUNTS if birth_year < end).pick(rng)
    names = [ref.first_names[(sex, decade)].pick(rng)]
    for _ in range(count - 1):
        older = ref.decade(max(FIRST_DECADE, birth_year - rng.choice((0, 25, 30, 55))))
        for _attempt in range(5):
            name = ref.first_names[(sex, older)].pick(rng)
            if name not in names and not _same_root(name, names):
                names.append(name)
                break
    return names


def _same_root(name: str, names: list[str]) -> bool:
    # "MARIE" next to "MARIE-CLAIRE" reads like a data-entry error.
    parts = set(name.split("-"))
    return any(parts & set(other.split("-")) for other in names)


def pick_surname(ref: Reference, rng: random.Random, *, avoid: str | None = None,
                 origin: str | None = None) -> str:
    table = ref.origin_surnames.get(origin or "", ref.surnames)
    for _ in range(20):
        name = table.pick(rng)
        if name != avoid:
            return name
    return pick_surname(ref, rng, avoid=avoid)  # a short origin list all taken: French lists


def used_name_share(sex: str, age: int) -> float:
    if sex == "M":
        return _MEN_USED_NAME_SHARE if age >= 25 else 0.0
    return next(share for limit, share in _USED_NAME_SHARE if age < limit)
