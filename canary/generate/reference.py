"""All seed tables, read once from the seeds folder into immutable, pick-ready structures."""

from __future__ import annotations

import gzip
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType

from canary.generate.admin import default_seeds_dir
from canary.generate.name_tables import NameTables, load_name_tables
from canary.generate.text import has_marker_word, ins_form, is_ins_name
from canary.weighted import WeightedTable, zipf_weights

FIRST_DECADE, LAST_DECADE = 1901, 2011
# Birth cohorts for the country-of-birth weights (columns of birth_countries.tsv).
COHORTS = ((1950, "w_before_1950"), (1980, "w_1950_1979"), (10_000, "w_from_1980"))
# Where babies were born: at home in any commune before the war, then in ever fewer, larger towns
# with a maternity ward. (first birth year of the era, smallest commune population that has one)
BIRTH_ERAS = ((0, 0), (1945, 2_000), (1965, 8_000), (1985, 20_000))


@dataclass(frozen=True, slots=True)
class Commune:
    code: str
    kind: str  # COM, or ARM for a Paris/Lyon/Marseille arrondissement
    name: str
    city: str
    postcodes: tuple[str, ...]
    population: int
    department: str


@dataclass(frozen=True, slots=True)
class BirthCountry:
    code: str
    name: str
    born_from: date | None
    name_origin: str | None  # key of seeds/names/origin_names.tsv, None: French lists


@dataclass(frozen=True, slots=True)
class Street:
    kind: str
    name: str
    max_number: int | None = None  # known for curated big-city streets


@dataclass(frozen=True, eq=False)
class Reference:
    """Read-only tables; build with :meth:`load`. Safe to share between generators and threads."""

    seeds_dir: Path
    first_names: Mapping[tuple[str, int], WeightedTable[str]]
    first_name_sets: Mapping[tuple[str, int], frozenset[str]]
    origin_first_names: Mapping[tuple[str, str], WeightedTable[str]]  # (origin, sex)
    origin_surnames: Mapping[str, WeightedTable[str]]
    country_origins: Mapping[str, str]  # 99xxx code -> origin, for countries with their own names
    communes: Mapping[str, Commune]
    residences: WeightedTable[Commune]
    birth_places: Mapping[tuple[int, str | None], WeightedTable[Commune]]
    phone_zones: Mapping[str, str]
    countries: Mapping[str, str]
    birth_countries: Mapping[int, WeightedTable[BirthCountry]]
    streets: tuple[tuple[int, WeightedTable[Street]], ...]
    city_streets: Mapping[str, WeightedTable[Street]]  # Paris/Lyon/Marseille, by arrondissement

    @classmethod
    def load(cls, seeds_dir: Path | None = None) -> Reference:
        seeds = Path(seeds_dir or default_seeds_dir())
        if not (seeds / "names" / "first_names.tsv.gz").is_file():
            raise FileNotFoundError(f"no seed tables in {seeds} (set CANARY_SEEDS to the seeds folder)")
        first_names, first_name_sets = _first_names(seeds)
        origin_first, origin_surnames = _origin_names(seeds)
        communes = {c.code: c for c in _communes(seeds)}
        departments = list(_rows(seeds / "places" / "departments.tsv"))
        countries = {r["code"]: r["name"] for r in _rows(seeds / "places" / "countries.tsv")}
        ranked = sorted(communes.values(), key=lambda c: c.code)
        return cls(
            seeds_dir=seeds,
            first_names=MappingProxyType(first_names),
            first_name_sets=MappingProxyType(first_name_sets),
            origin_first_names=MappingProxyType(origin_first),
            origin_surnames=MappingProxyType(origin_surnames),
            country_origins=MappingProxyType({r["code"]: r["name_origin"] for r in
                                              _rows(seeds / "places" / "birth_countries.tsv") if r["name_origin"]}),
            communes=MappingProxyType(communes),
            residences=WeightedTable(ranked, [c.population for c in ranked]),
            birth_places=MappingProxyType(_birth_places(ranked)),
            phone_zones=MappingProxyType({r["code"]: r["phone_zone"] for r in departments}),
            countries=MappingProxyType(countries),
            birth_countries=MappingProxyType(_birth_countries(seeds, countries)),
            streets=_streets(seeds),
            city_streets=MappingProxyType(_city_streets(seeds)),
        )

    @property
    def names(self) -> NameTables:
        """Surname counts nationally and by department, first-name lifts (read on first use)."""
        return load_name_tables(self.seeds_dir)

    @property
    def surnames(self) -> WeightedTable[str]:
        """The surnames real residents carry, by their national count (without the rare tail)."""
        return self.names.seen

    @property
    def surname_set(self) -> frozenset[str]:
        return self.names.names

    @staticmethod
    def decade(year: int) -> int:
        """The first-name table for a birth year (INSEE decades 1901-1910 ... 2011-2020)."""
        return min(max(FIRST_DECADE + 10 * ((year - FIRST_DECADE) // 10), FIRST_DECADE), LAST_DECADE)

    @staticmethod
    def birth_era(year: int) -> int:
        return max(i for i, (start, _) in enumerate(BIRTH_ERAS) if year >= start)

    @staticmethod
    def cohort(year: int) -> int:
        return next(i for i, (end, _) in enumerate(COHORTS) if year < end)

    def streets_for(self, commune: Commune) -> WeightedTable[Street]:
        if commune.code in self.city_streets:
            return self.city_streets[commune.code]
        table = self.streets[0][1]
        for start, candidate in self.streets:
            if commune.population >= start:
                table = candidate
        return table


def _rows(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a TSV seed table (comment lines start with #; no quoting in our tables)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        lines = [line for line in fh.read().splitlines() if line and not line.startswith("#")]
    header = lines[0].split("\t")
    for line in lines[1:]:
        yield dict(zip(header, line.split("\t"), strict=True))


def _first_names(seeds: Path) -> tuple[dict[tuple[str, int], WeightedTable[str]],
                                        dict[tuple[str, int], frozenset[str]]]:
    ranked: dict[tuple[str, int], list[str]] = defaultdict(list)
    usable: dict[str, str | None] = {}  # the same names recur in every decade: fold each once
    for row in _rows(seeds / "names" / "first_names.tsv.gz"):
        if row["name"] not in usable:
            name = ins_form(row["name"])
            usable[row["name"]] = name if is_ins_name(name) and not has_marker_word(name) else None
        usable_name = usable[row["name"]]
        if usable_name:
            ranked[(row["sex"], int(row["decade"]))].append(usable_name)
    tables: dict[tuple[str, int], WeightedTable[str]] = {}
    sets: dict[tuple[str, int], frozenset[str]] = {}
    for (sex, decade), names in ranked.items():
        # Names got more diverse with time. Calibrated on INSEE shares: the top name ~4 % of births
        # and the top 100 ~70 % in the 1950s, ~1.5 % and ~50 % in the 2010s.
        progress = (decade - FIRST_DECADE) / (LAST_DECADE - FIRST_DECADE)
        weights = zipf_weights(len(names), offset=8 + 12 * progress, exponent=1.45 - 0.25 * progress)
        tables[(sex, decade)] = WeightedTable(names, weights)
        sets[(sex, decade)] = frozenset(names)
    return tables, sets


def _origin_names(seeds: Path) -> tuple[dict[tuple[str, str], WeightedTable[str]], dict[str, WeightedTable[str]]]:
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in _rows(seeds / "names" / "origin_names.tsv"):
        name = ins_form(row["name"])
        if is_ins_name(name) and not has_marker_word(name):
            grouped[(row["origin"], row["kind"])].append(name)
    first = {key: WeightedTable(names, zipf_weights(len(names), 3.0)) for key, names in grouped.items()
             if key[1] in ("F", "M")}
    surnames = {origin: WeightedTable(names, zipf_weights(len(names), 3.0))
                for (origin, kind), names in grouped.items() if kind == "S"}
    return first, surnames


def _communes(seeds: Path) -> Iterator[Commune]:
    for row in _rows(seeds / "places" / "communes.tsv.gz"):
        yield Commune(
            code=row["code"], kind=row["kind"], name=row["name"], city=row["city"],
            postcodes=tuple(row["postcodes"].split("|")), population=int(row["population"]),
            department=row["department"],
        )


def load_communes(seeds_dir: Path | None = None) -> dict[str, Commune]:
    """Only the commune table (for placing an establishment without loading every name table)."""
    return {c.code: c for c in _communes(Path(seeds_dir or default_seeds_dir()))}


def _birth_places(communes: list[Commune]) -> dict[tuple[int, str | None], WeightedTable[Commune]]:
    """Per birth era: a national table and one per department (people are often born near home)."""
    by_department: dict[str, list[Commune]] = defaultdict(list)
    for commune in communes:
        by_department[commune.department].append(commune)
    tables: dict[tuple[int, str | None], WeightedTable[Commune]] = {}
    for era, (_, minimum) in enumerate(BIRTH_ERAS):
        eligible = [c for c in communes if c.population >= minimum]
        tables[(era, None)] = WeightedTable(eligible, [c.population for c in eligible])
        for department, members in by_department.items():
            local = [c for c in members if c.population >= minimum]
            # A rural department's maternity is in its largest town.
            local = local or [max(members, key=lambda c: c.population)]
            tables[(era, department)] = WeightedTable(local, [c.population for c in local])
    return tables


def _birth_countries(seeds: Path, countries: Mapping[str, str]) -> dict[int, WeightedTable[BirthCountry]]:
    rows = list(_rows(seeds / "places" / "birth_countries.tsv"))
    tables = {}
    for index, (_, column) in enumerate(COHORTS):
        picked = [r for r in rows if float(r[column]) > 0]
        items = []
        for r in picked:
            if r["code"] not in countries:
                raise ValueError(f"birth_countries.tsv: {r['code']} is not an INSEE country code")
            born_from = date.fromisoformat(r["born_from"]) if r["born_from"] else None
            items.append(BirthCountry(r["code"], countries[r["code"]], born_from, r["name_origin"] or None))
        tables[index] = WeightedTable(items, [float(r[column]) for r in picked])
    return tables


def _streets(seeds: Path) -> tuple[tuple[int, WeightedTable[Street]], ...]:
    """One table per population band where the set of ordinary street names is constant."""
    rows = list(_rows(seeds / "addresses" / "streets.tsv"))
    bounds = sorted({int(r["min_population"]) for r in rows} | {int(r["max_population"]) + 1 for r in rows
                                                                 if r["max_population"]})
    out = []
    for start in bounds:
        usable = [r for r in rows if int(r["min_population"]) <= start
                  and (not r["max_population"] or start <= int(r["max_population"]))]
        out.append((start, WeightedTable([Street(r["type"], r["name"]) for r in usable],
                                         [float(r["weight"]) for r in usable])))
    return tuple(out)


def _city_streets(seeds: Path) -> dict[str, WeightedTable[Street]]:
    grouped: dict[str, list[Street]] = defaultdict(list)
    for r in _rows(seeds / "addresses" / "streets_plm.tsv"):
        grouped[r["commune_code"]].append(Street(r["type"], r["name"], int(r["max_number"])))
    # Longer streets hold more homes.
    return {code: WeightedTable(streets, [s.max_number or 1 for s in streets]) for code, streets in grouped.items()}


def department_of_place(kind: str, code: str) -> str:
    """Department of an INSEE commune code or of a postcode (20xxx: 2A below 20200, else 2B)."""
    if code.startswith("97"):
        return code[:3]
    if kind == "postcode" and code.startswith("20"):
        return "2A" if code < "20200" else "2B"
    return code[:2]
