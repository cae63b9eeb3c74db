"""Administrative part of a canary: health-insurance coverage and the treating physician.

Loading: `AdminTables.load(seeds_dir)` reads the tables of `seeds/admin/` once into an immutable
object whose `make(...)` method builds the administrative part. `make_administrative(...)` is the
thin functional wrapper the patient generator calls: its `reference_dir` is either an `AdminTables`
already loaded (fastest, no lookup) or a seeds directory, loaded once per path through a cached
loader (`load_admin_tables`). Everything random comes from the `rng` passed in, so the same seed
gives the same output.

Returned shape (the `coverage` and `gp` keys of the canary record):
    {"coverage": {"regime", "caisse", "caisse_code", "amc": {"name", "member_number"} | None},
     "gp": {"rpps", "family_name", "first_name", "city", "specialty"}}
`caisse_code` and `specialty` are additions to the record contract; readers may ignore them.
With `physicians` (the loaded RPPS extract, `canary.generate.registers`), the GP is a real physician
practising near the commune where the extract covers it; elsewhere the synthetic one below.
"""

from __future__ import annotations

import csv
import functools
import os
import random
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from pathlib import Path
from typing import Generic, Protocol, TypedDict, TypeVar

from stdnum import luhn

from canary.store.shapes import Complementary, Coverage, Physician

__all__ = ["AdminTables", "default_seeds_dir", "load_admin_tables", "make_administrative", "rpps_number"]

REGIME_GENERAL = "Régime général"
ALSACE_MOSELLE = "Régime général – régime local d'Alsace-Moselle"
MSA = "Régime agricole (MSA)"
CSS = "Complémentaire santé solidaire"

# Special régimes: (label, caisse, share of the population, min age, max age, departments or None).
# Shares follow the order of magnitude of each régime's protected population in France
# (general régime about 88 %, MSA about 5.5 %, the special ones well under 1 % each).
SPECIAL_REGIMES = (
    ("Régime des militaires", "CNMSS", 0.011, 0, 120, None),
    ("Régime spécial de la SNCF", "CPRP SNCF", 0.007, 0, 120, None),
    ("Régime spécial de la RATP", "CCAS RATP", 0.0025, 0, 120, {"75", "77", "78", "91", "92", "93", "94", "95"}),
    ("Régime des marins", "ENIM", 0.0015, 0, 120,
     {"14", "17", "22", "29", "33", "34", "35", "44", "50", "56", "59", "62", "76", "83", "85", "13", "2A", "2B"}),
    ("Régime des clercs et employés de notaires", "CRPCEN", 0.0015, 0, 120, None),
    ("Régime minier", "CANSSM", 0.004, 65, 120, {"57", "59", "62", "42", "71", "30", "81", "13", "54"}),
    ("Régime des cultes", "CAVIMAC", 0.0015, 65, 120, None),
)
MSA_SHARE = 0.055
ALSACE_MOSELLE_DEPARTMENTS = {"57", "67", "68"}
ALSACE_MOSELLE_SHARE = 0.8  # salaried and retired people; others stay in the plain general régime

# Complémentaire santé solidaire is more frequent in young families; some people have no AMC at all.
CSS_BY_AGE = ((18, 0.14), (30, 0.12), (60, 0.09), (75, 0.06), (200, 0.04))
NO_AMC_BY_AGE = ((18, 0.02), (30, 0.06), (60, 0.04), (75, 0.04), (200, 0.06))
MILITARY_AMC = "Unéo"  # the mutual insurer of the armed forces

PEDIATRICIAN_SHARE = 0.2  # children under 16 followed by a paediatrician rather than a GP
GP_SAME_TOWN_SHARE = 0.7  # patient living in a town with practices sees a GP of that town
DOCTOR_FEMALE_SHARE = 0.52
# Cities split into arrondissements: the town table holds the whole city's code.
ARRONDISSEMENT_CITIES = (("751", "75056"), ("6938", "69123"), ("132", "13055"))


REPO_SEEDS = Path(__file__).resolve().parents[2] / "seeds"
# A built wheel carries the seed tables inside the package (setup.py copies seeds/ there).
PACKAGED_SEEDS = Path(__file__).resolve().parents[1] / "_seeds"


def default_seeds_dir() -> Path:
    """$CANARY_SEEDS, else the repository's seeds/ folder (a checkout, an editable install), else the
    copy a built wheel carries."""
    env = os.environ.get("CANARY_SEEDS")
    if env:
        return Path(env)
    return REPO_SEEDS if REPO_SEEDS.is_dir() or not PACKAGED_SEEDS.is_dir() else PACKAGED_SEEDS


def department_of(commune_code: str) -> str:
    return commune_code[:3] if commune_code.startswith("97") else commune_code[:2]


def rpps_number(rng: random.Random) -> str:
    """11 digits, the last a Luhn check digit, in the 100/101 ranges that real RPPS numbers use."""
    prefix = "100" if rng.random() < 0.7 else "101"
    body = prefix + f"{rng.randrange(10_000_000):07d}"
    return body + luhn.calc_check_digit(body)


T = TypeVar("T")


class PhysicianSource(Protocol):
    """Real physicians (the loaded RPPS extract): one practising near a commune, or None if not covered."""

    def physician(self, rng: random.Random, commune_code: str, specialty: str) -> Physician | None: ...


class AdministrativePart(TypedDict):
    """The administrative keys of a generated record."""

    coverage: Coverage
    gp: Physician


@dataclass(frozen=True)
class Weighted(Generic[T]):
    """Items with cumulative weights, for a fast weighted pick from a random number."""

    items: tuple[T, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, pairs: Sequence[tuple[T, float]]) -> Weighted[T]:
        return cls(tuple(item for item, _ in pairs), tuple(accumulate(w for _, w in pairs)))

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


@dataclass(frozen=True)
class Caisse:
    name: str
    code: str
    msa: str


@dataclass(frozen=True)
class Town:
    commune_code: str
    name: str


@dataclass(frozen=True)
class Amc:
    name: str
    member_format: str
    min_age: int
    max_age: int


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _admin_dir(reference_dir: Path) -> Path:
    reference_dir = Path(reference_dir)
    return reference_dir / "admin" if (reference_dir / "admin").is_dir() else reference_dir


def _age(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def _by_age(table: tuple[tuple[int, float], ...], age: int) -> float:
    return next(share for limit, share in table if age < limit)


@dataclass(frozen=True)
class AdminTables:
    caisses: dict[str, Weighted[Caisse]]  # by department
    towns: dict[str, Weighted[Town]]  # by department, weight ~ sqrt(population)
    town_codes: dict[str, Town]
    amcs: Weighted[Amc]
    surnames: Weighted[str]
    first_names: dict[str, Weighted[str]]  # by sex, "F"/"M"

    @classmethod
    def load(cls, seeds_dir: Path | None = None) -> AdminTables:
        folder = _admin_dir(seeds_dir or default_seeds_dir())
        caisses: dict[str, list[tuple[Caisse, float]]] = {}
        for row in _read_tsv(folder / "caisses.tsv"):
            caisse = Caisse(row["caisse"], row["caisse_code"], row["msa"])
            caisses.setdefault(row["department"], []).append((caisse, float(row["weight"])))
        towns: dict[str, list[tuple[Town, float]]] = {}
        town_codes = {}
        for row in _read_tsv(folder / "gp_towns.tsv"):
            town = Town(row["commune_code"], row["name"])
            towns.setdefault(row["department"], []).append((town, int(row["population"]) ** 0.5))
            town_codes[town.commune_code] = town
        amcs = [
            (Amc(row["name"], row["member_format"], int(row["min_age"]), int(row["max_age"])),
             float(row["weight"]))
            for row in _read_tsv(folder / "amc.tsv")
        ]
        first_names: dict[str, list[tuple[str, float]]] = {"F": [], "M": []}
        for row in _read_tsv(folder / "gp_first_names.tsv"):
            first_names[row["sex"]].append((row["first_name"], float(row["weight"])))
        surnames = [(row["family_name"], float(row["weight"])) for row in _read_tsv(folder / "gp_surnames.tsv")]
        return cls(
            caisses={dep: Weighted.of(pairs) for dep, pairs in caisses.items()},
            towns={dep: Weighted.of(pairs) for dep, pairs in towns.items()},
            town_codes=town_codes,
            amcs=Weighted.of(amcs),
            surnames=Weighted.of(surnames),
            first_names={sex: Weighted.of(pairs) for sex, pairs in first_names.items()},
        )

    # -- coverage -------------------------------------------------------------------------
    def coverage(self, rng: random.Random, department: str, age: int) -> Coverage:
        caisses = self.caisses.get(department)
        if caisses is None:
            raise ValueError(f"no health-insurance caisse known for department {department!r}")
        caisse: Caisse = caisses.pick(rng)
        caisse_code: str | None  # no caisse code outside the general regime
        regime, caisse_name, caisse_code = REGIME_GENERAL, caisse.name, caisse.code
        draw = rng.random()
        if draw < MSA_SHARE:
            regime, caisse_name, caisse_code = MSA, caisse.msa, None
        else:
            draw -= MSA_SHARE
            for label, name, share, min_age, max_age, departments in SPECIAL_REGIMES:
                if draw < share:
                    if min_age <= age <= max_age and (departments is None or department in departments):
                        regime, caisse_name, caisse_code = label, name, None
                    break
                draw -= share
        local = department in ALSACE_MOSELLE_DEPARTMENTS and rng.random() < ALSACE_MOSELLE_SHARE
        if regime == REGIME_GENERAL and local:
            regime = ALSACE_MOSELLE
        return {"regime": regime, "caisse": caisse_name, "caisse_code": caisse_code,
                "amc": self.amc(rng, age, military=caisse_name == "CNMSS")}

    def amc(self, rng: random.Random, age: int, *, military: bool = False) -> Complementary | None:
        draw = rng.random()
        css = _by_age(CSS_BY_AGE, age)
        if draw < css:
            # Managed by the CPAM in most cases: the beneficiary is known by the NIR, no member number.
            return {"name": CSS, "member_number": None}
        if draw < css + _by_age(NO_AMC_BY_AGE, age):
            return None
        if military and rng.random() < 0.6:
            organism = next(a for a in self.amcs.items if a.name == MILITARY_AMC)
        else:
            organism = self.amcs.pick(rng)
            while not organism.min_age <= age <= organism.max_age:
                organism = self.amcs.pick(rng)
        return {"name": organism.name, "member_number": _member_number(rng, organism.member_format)}

    # -- treating physician ---------------------------------------------------------------
    def gp(self, rng: random.Random, commune_code: str, department: str, age: int,
           physicians: PhysicianSource | None = None) -> Physician:
        specialty = "Pédiatrie" if age < 16 and rng.random() < PEDIATRICIAN_SHARE else "Médecine générale"
        if physicians is not None:
            real = physicians.physician(rng, commune_code, specialty)
            if real is not None:
                return real
        sex = "F" if rng.random() < DOCTOR_FEMALE_SHARE else "M"
        return {
            "rpps": rpps_number(rng),
            "family_name": self.surnames.pick(rng),
            "first_name": self.first_names[sex].pick(rng),
            "city": self.gp_city(rng, commune_code, department),
            "specialty": specialty,
        }

    def gp_city(self, rng: random.Random, commune_code: str, department: str) -> str:
        for prefix, city_code in ARRONDISSEMENT_CITIES:
            if commune_code.startswith(prefix):
                commune_code = city_code
        own = self.town_codes.get(commune_code)
        if own is not None and rng.random() < GP_SAME_TOWN_SHARE:
            return own.name
        towns = self.towns.get(department)
        if towns is None:
            raise ValueError(f"no town known for department {department!r}")
        town: Town = towns.pick(rng)
        return town.name

    # -- whole part -----------------------------------------------------------------------
    def make(self, rng: random.Random, *, sex: str, birth_date: date, commune_code: str, today: date,
             physicians: PhysicianSource | None = None) -> AdministrativePart:
        age = _age(birth_date, today)
        department = department_of(commune_code)
        return {"coverage": self.coverage(rng, department, age),
                "gp": self.gp(rng, commune_code, department, age, physicians)}


def _member_number(rng: random.Random, member_format: str) -> str:
    """D = digit (never a leading zero), A = capital letter without I or O, anything else literal."""
    out = []
    for position, symbol in enumerate(member_format):
        if symbol == "D":
            out.append(str(rng.randrange(1 if position == 0 else 0, 10)))
        elif symbol == "A":
            out.append(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ"))
        else:
            out.append(symbol)
    return "".join(out)


@functools.cache
def load_admin_tables(seeds_dir: Path) -> AdminTables:
    """Tables for one seeds directory, read once (read-only afterwards)."""
    return AdminTables.load(seeds_dir)


def make_administrative(
    rng: random.Random,
    reference_dir: Path | AdminTables | None,
    *,
    sex: str,
    birth_date: date,
    commune_code: str,
    today: date,
    physicians: PhysicianSource | None = None,
) -> AdministrativePart:
    """Coverage and treating physician of a patient living in `commune_code` (INSEE code); with
    `physicians` (the loaded RPPS extract), a real physician practising near it where it is covered."""
    if isinstance(reference_dir, AdminTables):
        tables = reference_dir
    else:
        tables = load_admin_tables(Path(reference_dir) if reference_dir else default_seeds_dir())
    return tables.make(rng, sex=sex, birth_date=birth_date, commune_code=commune_code, today=today,
                       physicians=physicians)
