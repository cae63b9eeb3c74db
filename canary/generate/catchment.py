"""Where an establishment's patients live: a gravity model over communes around its site.

Hospital activity is local: most patients live in the establishment's department and the next
ones, a few come from far away (referrals, holidays, people who moved). A commune's pull is its
population times a distance decay ``exp(-d / RANGE_KM) * (1 + d / NEAR_KM) ** -0.5`` (the
exponential stands for the competition of closer hospitals: far big cities have their own),
times SAME_DEPARTMENT_PULL inside the site's own department (hospital networks, GP referrals and
the ambulance service follow department lines); a national share by population stands for
everybody else. Calibrated so that 70-90 % of patients live in the site's department (ATIH PMSI:
the share of a department's stays taken by its own residents), measured on the shipped tables:
Lyon 85 %, Brest 90 %, Marseille 88 %, Aurillac 78 %, Guéret 69 %; Paris and its inner suburbs
40-50 % (small departments in one conurbation).
"""

from __future__ import annotations

import gzip
import math
import random
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from canary.errors import CanaryError
from canary.generate.reference import Commune
from canary.weighted import WeightedTable, pick_at

RANGE_KM = 25.0
NEAR_KM = 5.0
SAME_DEPARTMENT_PULL = 2.5
NATIONAL_SHARE = 0.10  # patients from anywhere in France, by population
NEARBY_KM = 160.0
_EARTH_KM = 6371.0

Point = tuple[float, float]  # (lat, lon) in degrees


def load_points(seeds_dir: Path) -> dict[str, Point]:
    """INSEE code -> (lat, lon) of the commune (seeds/places/commune_points.tsv.gz)."""
    points: dict[str, Point] = {}
    with gzip.open(seeds_dir / "places" / "commune_points.tsv.gz", "rt", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            code, lat, lon = line.rstrip("\n").split("\t")
            points[code] = (float(lat), float(lon))
    return points


def distance_km(a: Point, b: Point) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def department_of_finess(departments: Collection[str], finess: str) -> str:
    """The department a FINESS number belongs to; CanaryError if none. Corsica is 2A/2B; overseas
    numbers read 970 then the department's digit (9701... Guadeloupe, 9704... La Réunion)."""
    finess = finess.strip().upper()
    if finess.startswith("970"):
        department = "97" + finess[3:4]
    elif finess.startswith("97"):
        department = finess[:3]
    else:
        department = finess[:2]
    if department not in departments:
        raise CanaryError(f"unknown FINESS {finess!r}: {department!r} is not a French department")
    return department


def seed_departments(seeds_dir: Path) -> frozenset[str]:
    """Department codes of seeds/places/departments.tsv, without loading every table."""
    lines = (seeds_dir / "places" / "departments.tsv").read_text(encoding="utf-8").splitlines()
    return frozenset(line.split("\t", 1)[0] for line in lines[1:] if line and not line.startswith("#"))


def site_commune(finess: str | None, commune: str | None, postcode: str | None) -> str | None:
    """A system's site as `system add|edit` take it: check the FINESS department, then resolve the
    commune and/or postcode to an INSEE code (None when neither is given); CanaryError: one line."""
    from canary.generate.admin import default_seeds_dir
    from canary.generate.reference import load_communes

    if finess:
        department_of_finess(seed_departments(default_seeds_dir()), finess)
    if not (commune or postcode):
        return None
    return resolve_commune(load_communes(), commune, postcode).code


def resolve_commune(communes: Mapping[str, Commune], commune: str | None, postcode: str | None) -> Commune:
    """The establishment's commune from an INSEE code or a name, and/or a postcode; CanaryError if
    none or several match (the message lists the candidates). ``communes``: Reference.communes or
    reference.load_communes()."""
    candidates = list(communes.values())
    if postcode:
        postcode = postcode.strip()
        candidates = [c for c in candidates if postcode in c.postcodes]
        if not candidates:
            raise CanaryError(f"unknown postcode {postcode!r}: no commune has it")
    if commune:
        wanted = commune.strip()
        if wanted.upper() in communes:
            by_code = communes[wanted.upper()]
            if by_code not in candidates:
                raise CanaryError(f"commune {wanted!r} does not have postcode {postcode!r}")
            return by_code
        folded = _fold(wanted)
        candidates = [c for c in candidates if folded in (_fold(c.name), _fold(c.city))]
        if not candidates:
            where = f" with postcode {postcode}" if postcode else ""
            raise CanaryError(f"unknown commune {wanted!r}{where}: give its INSEE code or its exact name")
    if len(candidates) > 1 and len({c.city for c in candidates}) == 1 and all(c.kind == "ARM" for c in candidates):
        # "Lyon", "Paris", "Marseille": any arrondissement is a fine centre for the catchment.
        return max(candidates, key=lambda c: c.population)
    if len(candidates) > 1:
        listed = ", ".join(f"{c.code} {c.name} ({c.department})" for c in candidates[:6])
        more = "..." if len(candidates) > 6 else ""
        raise CanaryError(f"{len(candidates)} communes match; give the INSEE code with --commune: {listed}{more}")
    return candidates[0]


def _fold(text: str) -> str:
    from canary.normalize import fold

    return fold(text).replace("-", " ").replace("'", " ").replace("SAINT ", "ST ").strip()


@dataclass(frozen=True)
class Site:
    """Where an establishment is: its commune (explicit, or the department's largest town when only
    the FINESS is known) and how we know."""

    commune: Commune
    source: str  # "commune" (system add --commune/--postcode) or "finess" (department of the FINESS)

    @property
    def department(self) -> str:
        return self.commune.department

    def describe(self) -> str:
        how = "given" if self.source == "commune" else "from the FINESS department"
        return f"{self.commune.code} {self.commune.name} ({self.commune.department}, {how})"


def site_of_system(communes: Mapping[str, Commune], system: Mapping[str, Any]) -> Site | None:
    """The site of a ``systems`` row, or None (no commune and no FINESS: national mix)."""
    code = system.get("site_commune")
    if code:
        commune = communes.get(code)
        if commune is None:
            raise CanaryError(f"system {system['name']!r}: site commune {code} is not in the seed tables")
        return Site(commune, "commune")
    if system.get("finess"):
        department = department_of_finess({c.department for c in communes.values()}, system["finess"])
        # The largest town (Paris, Lyon, Marseille counted whole, not by arrondissement).
        towns: dict[str, list[Commune]] = defaultdict(list)
        for commune in communes.values():
            if commune.department == department:
                towns[commune.city].append(commune)
        town = max(towns.values(), key=lambda members: sum(c.population for c in members))
        return Site(max(town, key=lambda c: c.population), "finess")
    return None


@dataclass(frozen=True, eq=False)
class Geography:
    """Commune points and what is derived from them once: department centres and, per department,
    the nearby departments people born near home come from."""

    points: Mapping[str, Point]
    nearby: Mapping[str, WeightedTable[str]]

    @classmethod
    def load(cls, communes: Mapping[str, Commune], seeds_dir: Path) -> Geography:
        """``communes``: Reference.communes or reference.load_communes(); ``seeds_dir``: where the points are."""
        raw = load_points(seeds_dir)
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for commune in communes.values():
            if commune.code in raw:
                lat, lon = raw[commune.code]
                acc = sums[commune.department]
                acc[0] += lat * commune.population
                acc[1] += lon * commune.population
                acc[2] += commune.population
        centres = {d: (s[0] / s[2], s[1] / s[2]) for d, s in sums.items() if s[2]}
        # A commune without a point of its own (a handful) sits at its department's centre.
        points = {code: raw.get(code) or centres[c.department] for code, c in communes.items()
                  if code in raw or c.department in centres}
        population: dict[str, int] = defaultdict(int)
        for commune in communes.values():
            population[commune.department] += commune.population
        nearby: dict[str, WeightedTable[str]] = {}
        for department, centre in centres.items():
            close = [(other, distance_km(centre, there)) for other, there in centres.items() if other != department]
            close = [(other, km) for other, km in close if km <= NEARBY_KM] or [min(close, key=lambda x: x[1])]
            nearby[department] = WeightedTable([o for o, _ in close],
                                               [population[o] / (1 + km / 50) ** 2 for o, km in close])
        return cls(MappingProxyType(points), MappingProxyType(nearby))


@dataclass(frozen=True, eq=False)
class Catchment:
    """Residences of one establishment's patients: pick() in O(log n)."""

    site: Site
    residences: WeightedTable[Commune]
    national: WeightedTable[Commune]
    national_share: float = NATIONAL_SHARE

    @classmethod
    def around(cls, communes: Mapping[str, Commune], geography: Geography, site: Site) -> Catchment:
        centre = geography.points[site.commune.code]
        ranked = sorted((c for c in communes.values() if c.code in geography.points), key=lambda c: c.code)
        weights = []
        for commune in ranked:
            km = distance_km(centre, geography.points[commune.code])
            pull = SAME_DEPARTMENT_PULL if commune.department == site.department else 1.0
            weights.append(commune.population * pull * math.exp(-km / RANGE_KM) * (1.0 + km / NEAR_KM) ** -0.5)
        return cls(site, WeightedTable(ranked, weights), WeightedTable(ranked, [c.population for c in ranked]))

    def pick(self, rng: random.Random) -> Commune:
        if rng.random() < self.national_share:
            return self.national.pick(rng)
        return self.residences.pick(rng)

    def pick_at(self, u: float) -> Commune:
        """The residence at quantile ``u`` in [0, 1): the national tail first, then the catchment."""
        if u < self.national_share:
            return pick_at(self.national, u / self.national_share)
        return pick_at(self.residences, (u - self.national_share) / (1 - self.national_share))

    def without(self, codes: Collection[str]) -> WeightedTable[Commune] | None:
        """The same draw (tail included) restricted to communes not in ``codes``; None if nothing is left."""
        # Both tables are built over the same communes in the same order (see around()).
        kept = [(c, (1 - self.national_share) * self.residences.share(i) + self.national_share * self.national.share(i))
                for i, c in enumerate(self.residences.items) if c.code not in codes]
        return WeightedTable([c for c, _ in kept], [w for _, w in kept]) if kept else None

    def department_share(self) -> float:
        """Expected share of patients living in the site's department."""
        local = sum(self.residences.share(i) for i, c in enumerate(self.residences.items)
                    if c.department == self.site.department)
        national = sum(self.national.share(i) for i, c in enumerate(self.national.items)
                       if c.department == self.site.department)
        return (1 - self.national_share) * local + self.national_share * national
