"""Where the host's patients were born, as aggregates: learnt by ``profile build``, followed by the generator.

Each patient with a known birth place and residence falls in one category, relative to where they
live now and to the establishment's department (the site):

- ``local``: born in the department they live in;
- ``site``: living outside the site's department, born in it;
- ``nearby``: born in a department near their own (catchment.NEARBY_KM, as the generator models it);
- ``france``: born elsewhere in France (overseas included);
- ``abroad``: born outside France.

Counts are kept by age group (profile.CONTACT_AGES) and by whether the patient lives in the site's
department (``in``/``out``), each count under MIN_COUNT suppressed into ``other``: nothing of any
one patient is kept. Birth places are read from an INSEE commune code, a postcode, a country code or
a commune name (the first that resolves).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from canary.generate.reference import department_of_place
from canary.normalize import fold
from canary.weighted import WeightedTable

CATEGORIES = ("local", "site", "nearby", "france", "abroad")
# Profile fields (for --mapping) and the columns read as such without a mapping.
BIRTH_FIELDS = ("birth_commune", "birth_postcode", "birth_country", "birth_place")
BIRTH_COLUMNS: Mapping[str, str] = MappingProxyType({
    # Mediboard's patients table
    "commune_naissance_insee": "birth_commune", "cp_naissance": "birth_postcode",
    "pays_naissance_insee": "birth_country", "lieu_naissance": "birth_place",
    # canary export (JSON keys flattened, CSV columns) and the planter's default file layout
    "birth_place.code": "birth_commune", "birth_place.name": "birth_place",
    "birth_place_code": "birth_commune", "birth_place_name": "birth_place", "birth_country": "birth_country",
})
MIN_CELL = 30  # a cell with fewer published patients borrows the shares of all ages
_FRANCE = frozenset(("FRANCE", "FR", "FRA", "100", "250", "99100", "FRANCAISE", "FRANCE METROPOLITAINE"))
ABROAD = "abroad"


def _fold(text: str) -> str:
    """A place name as the commune table's names compare (accents, case, hyphens gone; SAINT as ST)."""
    return fold(text).replace("SAINT ", "ST ")


class BirthPlaceReader:
    """Department of birth (or ``abroad``) from the values of one row; tables loaded on first need."""

    def __init__(self) -> None:
        self._communes: Mapping[str, Any] | None = None
        self._names: dict[str, str | None] | None = None
        self._countries: frozenset[str] | None = None

    def _load(self) -> None:
        from canary.generate.admin import default_seeds_dir
        from canary.generate.reference import load_communes

        self._communes = load_communes()
        departments: dict[str, set[str]] = {}
        for commune in self._communes.values():
            for name in (commune.name, commune.city):
                departments.setdefault(_fold(name), set()).add(commune.department)
        # A name shared by communes of several departments says nothing.
        self._names = {name: next(iter(d)) if len(d) == 1 else None for name, d in departments.items()}
        lines = (default_seeds_dir() / "places" / "countries.tsv").read_text(encoding="utf-8").splitlines()
        self._countries = frozenset(_fold(line.split("\t")[1]) for line in lines[1:]
                                    if line.count("\t") >= 1 and not line.startswith("99100"))

    def communes(self) -> Mapping[str, Any]:
        if self._communes is None:
            self._load()
        return self._communes or {}

    def department(self, values: Mapping[str, list[str]]) -> str | None:
        """``values``: field -> raw values of the row. None when nothing resolves."""
        country = next(iter(values.get("birth_country") or ()), "").strip().upper()
        if country and _fold(country) not in _FRANCE and country.lstrip("0") not in _FRANCE:
            return ABROAD
        for code in values.get("birth_commune") or ():
            code = code.strip().upper()
            if code.startswith("99"):
                return None if code == "99100" else ABROAD
            department = self._commune_department(code)
            if department:
                return department
        for postcode in values.get("birth_postcode") or ():
            postcode = postcode.strip()
            if len(postcode) == 5 and postcode.isdigit():
                return ABROAD if postcode.startswith("99") else department_of_place("postcode", postcode)
        for name in values.get("birth_place") or ():
            if self._names is None:
                self._load()
            folded = _fold(name)
            if folded in (self._countries or ()):
                return ABROAD
            department = (self._names or {}).get(folded)
            if department:
                return department
        return None

    def _commune_department(self, code: str) -> str | None:
        if len(code) != 5:
            return None
        if self._communes is None:
            self._load()
        communes = self._communes or {}
        if code.startswith("20"):  # Corsica before 1976
            commune = communes.get("2A" + code[2:]) or communes.get("2B" + code[2:])
        else:
            commune = communes.get(code)
        if commune is not None:
            return str(commune.department)
        return code[:3] if code.startswith("97") else None


class BirthLearner:
    """Counts (age group, residence department, birth department) while rows stream by."""

    def __init__(self, fields: Mapping[str, list[str]], values: Callable[[Mapping[str, Any], list[str]], list[str]]):
        self._columns = {f: fields[f] for f in BIRTH_FIELDS if f in fields}
        self._values = values
        self._reader = BirthPlaceReader()
        self._seen: Counter[tuple[str, str, str]] = Counter()
        self.known = 0

    def add(self, row: Mapping[str, Any], group: str, home: str | None) -> None:
        if not self._columns or home is None or group == "unknown":
            return
        birth = self._reader.department({f: self._values(row, c) for f, c in self._columns.items()})
        if birth is not None:
            self._seen[(group, home, birth)] += 1
            self.known += 1

    def result(self, site_department: str | None) -> tuple[dict[str, Any] | None, str | None]:
        """(profile section, None) or (None, why it could not be learnt)."""
        if not self._columns:
            return None, ("no birth-place column (lieu_naissance, cp_naissance, commune_naissance_insee, "
                          "pays_naissance_insee, or --mapping COLUMN=" + "|".join(BIRTH_FIELDS) + ")")
        if self.known < 5 * MIN_CELL:
            return None, f"only {self.known} patients with both a readable birth place and a residence"
        from canary.generate.admin import default_seeds_dir
        from canary.generate.catchment import Geography

        homes: Counter[str] = Counter()
        for (_, home, _), n in self._seen.items():
            homes[home] += n
        site = site_department or homes.most_common(1)[0][0]
        nearby = Geography.load(self._reader.communes(), default_seeds_dir()).nearby
        cells: dict[str, Counter[str]] = {}
        for (group, home, birth), n in self._seen.items():
            where = "in" if home == site else "out"
            category = classify(home, birth, site, frozenset(nearby[home].items) if home in nearby else frozenset())
            for key in (f"{group}:{where}", f"all:{where}"):
                cells.setdefault(key, Counter())[category] += n
        shares = {}
        for key, counter in sorted(cells.items()):
            kept = {c: counter[c] for c in CATEGORIES if counter[c] >= 10}
            shares[key] = {"counts": kept, "other": sum(counter.values()) - sum(kept.values())}
        section = {"site_department": site, "site_source": "system" if site_department else "most patients live there",
                   "patients": self.known, "cells": shares}
        return section, None


def classify(home: str, birth: str, site: str, nearby: frozenset[str]) -> str:
    if birth == ABROAD:
        return "abroad"
    if birth == home:
        return "local"
    if birth == site:
        return "site"
    if birth in nearby:
        return "nearby"
    return "france"


@dataclass(frozen=True, eq=False)
class BirthShares:
    """The learnt categories as tables, per ``GROUP:in|out`` (falling back to ``all:in|out``)."""

    site_department: str
    tables: Mapping[str, WeightedTable[str]]

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> BirthShares | None:
        section = data.get("births")
        if not section:
            return None
        tables = {}
        for key, cell in (section.get("cells") or {}).items():
            counts = {c: n for c, n in (cell.get("counts") or {}).items() if c in CATEGORIES and n}
            if sum(counts.values()) >= MIN_CELL:
                tables[key] = WeightedTable([c for c in CATEGORIES if c in counts],
                                            [counts[c] for c in CATEGORIES if c in counts])
        if not tables:
            return None
        return cls(str(section["site_department"]), MappingProxyType(tables))

    def table(self, group: str, home_department: str) -> tuple[str, WeightedTable[str]] | None:
        """(trait name for even draws, categories) for a patient of that age group living there."""
        where = "in" if home_department == self.site_department else "out"
        for key in (f"{group}:{where}", f"all:{where}"):
            if key in self.tables:
                return key, self.tables[key]
        return None


def describe_births(data: Mapping[str, Any]) -> str | None:
    """One line for ``profile show``: shares by category over all ages."""
    section = data.get("births")
    if not section:
        return None
    totals: Counter[str] = Counter()
    for key, cell in section["cells"].items():
        if key.startswith("all:"):
            totals.update(cell["counts"])
            totals["other"] += cell["other"]
    whole = sum(totals.values()) or 1
    shares = ", ".join(f"{c} {totals[c] / whole:.0%}" for c in (*CATEGORIES, "other") if totals[c])
    return f"birth places ({section['patients']:,} known; site department {section['site_department']}): {shares}"
