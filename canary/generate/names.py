"""Names: first names by sex and birth decade, surnames by real frequency, both by department
(see name_tables.py), married women's used names."""

from __future__ import annotations

import random

from canary.generate.profile_names import HostFirstNames, HostSurnames
from canary.generate.reference import FIRST_DECADE, Reference
from canary.weighted import WeightedTable

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
_HOST_TRIES = 40  # draws of a name the host does not publish (its published ones cover a share at most)
# Whose names a person born in France carries: the department they live in, or the one they were
# born in (their parents' then). The councillors' tables count residents, migrants included, so the
# residence table alone already gives a department's mix, and every share taken from the birth
# department moves a batch away from it: measured on held-out residents of six departments
# (bench/names.py), the advantage of "surname borne by the department's residents" is 0.012 on
# average at 1.0, 0.024 at 0.85 (at most 0.052, Strasbourg), 0.030 at 0.7 (at most 0.073). 0.85
# keeps a link between birth place and name (which the councillors, without birth places, cannot
# measure) at about the 0.05 target.
RESIDENCE_NAMING_SHARE = 0.85


def naming_department(ref: Reference, rng: random.Random, home: str, birth_code: str) -> str:
    """The department whose names a person carries (see RESIDENCE_NAMING_SHARE)."""
    if rng.random() < RESIDENCE_NAMING_SHARE:
        return home
    return birth_department(ref, birth_code) or home


def birth_department(ref: Reference, code: str) -> str | None:
    """Department of an INSEE birth-place code (Corsica's 20xxx of before 1976 included), None abroad."""
    if code.startswith("99"):
        return None
    commune = ref.communes.get(code)
    if commune is None and code.startswith("20"):
        commune = ref.communes.get("2A" + code[2:]) or ref.communes.get("2B" + code[2:])
    return commune.department if commune else None


def pick_first_names(ref: Reference, rng: random.Random, sex: str, birth_year: int,
                     origin: str | None = None, department: str | None = None,
                     host: HostFirstNames | None = None) -> list[str]:
    """The usual first name from the birth decade; later ones often honour the parents' or
    grandparents' generation, so they come from a decade 25 to 55 years earlier. People born
    abroad and named after their country (``origin``) take that country's names. ``department``:
    the national tables with that department's lifts. ``host``: the host's own usual first names of
    the sex and decade (profile), drawn at the host's rate; the tables then skip them."""
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
    tables = ref.names
    cell = host.cell(sex, birth_year) if host else None
    usual = cell.pick(rng) if cell else None
    for _ in range(_HOST_TRIES if usual is None else 0):
        usual = tables.pick_first_name(rng, ref.first_names[(sex, decade)], sex, department)
        if cell is None or usual not in cell.published:  # the published ones already have their share
            break
    names = [usual or ""]
    for _ in range(count - 1):
        older = ref.decade(max(FIRST_DECADE, birth_year - rng.choice((0, 25, 30, 55))))
        for _attempt in range(5):
            # Middle names follow the nation's tables: the regional lean is on the usual name (and
            # each lifted draw costs a few picks).
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
                 origin: str | None = None, department: str | None = None,
                 host: HostSurnames | None = None) -> str:
    """A surname: the origin country's list for people named after it, else the host's own
    frequencies when ``host`` gives one, else the department's (see name_tables.py)."""
    table = ref.origin_surnames.get(origin or "")
    for _ in range(20):
        if table is not None:
            name = table.pick(rng)
        else:
            name = ((host.pick(rng) if host else None)
                    or ref.names.pick_surname(rng, department, host.published.__contains__ if host else None))
        if name != avoid:
            return name
    if table is not None:  # a short origin list all taken: French lists
        return pick_surname(ref, rng, avoid=avoid, department=department, host=host)
    return name


def used_name_share(sex: str, age: int) -> float:
    if sex == "M":
        return _MEN_USED_NAME_SHARE if age >= 25 else 0.0
    return next(share for limit, share in _USED_NAME_SHARE if age < limit)
