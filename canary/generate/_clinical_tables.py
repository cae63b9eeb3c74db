"""Rows of the clinical seed tables (seeds/clinical/*.tsv) and the small date helpers they need."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

from canary.generate.admin import Weighted

# Age bands of the prevalence columns: 0-4, 5-14, 15-29, 30-44, 45-59, 60-74, 75+.
BAND_LIMITS = (5, 15, 30, 45, 60, 75)
BAND_COLUMNS = ("p0_4", "p5_14", "p15_29", "p30_44", "p45_59", "p60_74", "p75")
PREGNANCY_PREFIXES = ("O", "Z32", "Z33", "Z34", "Z35", "Z36", "Z37", "Z39")
PREGNANCY_AGES = (15, 50)
# Code prefixes only one sex can carry, whether or not the code is in the table.
MALE_ONLY_PREFIXES = ("C60", "C61", "C62", "C63", *(f"N{n}" for n in range(40, 52)))
FEMALE_ONLY_PREFIXES = (
    *(f"C{n}" for n in range(51, 59)),
    *(f"N{n}" for n in range(70, 99)),
    *PREGNANCY_PREFIXES,
)


def age_band(age: int) -> int:
    return next((i for i, limit in enumerate(BAND_LIMITS) if age < limit), len(BAND_LIMITS))


def age_at(birth: date, when: date) -> int:
    return when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))


def anniversary(birth: date, age: int) -> date:
    try:
        return birth.replace(year=birth.year + age)
    except ValueError:  # born on 29 February
        return date(birth.year + age, 3, 1)


def is_pregnancy_code(code: str) -> bool:
    return code.startswith(PREGNANCY_PREFIXES)


def _prevalence(row: dict[str, str]) -> tuple[float, ...]:
    return tuple(float(row[column]) / 100 for column in BAND_COLUMNS)


@dataclass(frozen=True)
class Condition:
    code: str
    label: str
    sex: str  # "F", "M" or "*"
    min_age: int  # hard limits on the age at onset
    max_age: int
    kind: str  # chronic, acute, history, pregnancy
    prevalence: tuple[float, ...]  # share of records carrying it, per age band
    f_mult: float
    m_mult: float
    onset_min: int  # typical ages at onset
    onset_max: int
    treatments: tuple[tuple[str, float], ...]  # (drug group, % of treated patients who get it)
    treat_rate: float

    def probability(self, sex: str, band: int) -> float:
        return self.prevalence[band] * (self.f_mult if sex == "F" else self.m_mult)


@dataclass(frozen=True)
class Drug:
    group: str
    drug: str
    atc: str
    sex: str
    min_age: int
    max_age: int
    dosage: str
    days: tuple[int, int] | None  # fixed course length, None for long-term use
    since: int  # year the product became available in France: no prescription before it
    weight: float


@dataclass(frozen=True)
class Allergy:
    substance: str
    conflicts: tuple[str, ...]  # ATC prefixes the patient must not be prescribed
    prevalence: tuple[float, ...]
    f_mult: float
    m_mult: float
    reactions: Weighted[str]

    def probability(self, sex: str, band: int) -> float:
        return self.prevalence[band] * (self.f_mult if sex == "F" else self.m_mult)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _treatments(text: str) -> tuple[tuple[str, float], ...]:
    groups = []
    for index, part in enumerate(filter(None, text.split("+"))):
        name, _, share = part.partition(":")
        groups.append((name, 100.0 if index == 0 or not share else float(share)))
    return tuple(groups)


def read_conditions(path: Path) -> list[Condition]:
    return [
        Condition(
            code=row["code"], label=row["label"], sex=row["sex"],
            min_age=int(row["min_age"]), max_age=int(row["max_age"]), kind=row["kind"],
            prevalence=_prevalence(row), f_mult=float(row["f_mult"]), m_mult=float(row["m_mult"]),
            onset_min=int(row["onset_min"]), onset_max=int(row["onset_max"]),
            treatments=_treatments(row["treatments"]), treat_rate=float(row["treat_rate"]),
        )
        for row in _rows(path)
    ]


def read_drugs(path: Path) -> list[Drug]:
    drugs = []
    for row in _rows(path):
        low, _, high = row["days"].partition("-")
        drugs.append(Drug(
            group=row["group"], drug=row["drug"], atc=row["atc"], sex=row["sex"],
            min_age=int(row["min_age"]), max_age=int(row["max_age"]), dosage=row["dosage"],
            days=(int(low), int(high)) if low else None, since=int(row["since"]), weight=float(row["weight"]),
        ))
    return drugs


def read_allergies(path: Path) -> list[Allergy]:
    allergies = []
    for row in _rows(path):
        reactions = []
        for part in row["reactions"].split("|"):
            name, _, weight = part.partition(":")
            reactions.append((name, float(weight or 1)))
        allergies.append(Allergy(
            substance=row["substance"],
            conflicts=tuple(filter(None, row["conflicts"].split(","))),
            prevalence=_prevalence(row), f_mult=float(row["f_mult"]), m_mult=float(row["m_mult"]),
            reactions=Weighted.of(reactions),
        ))
    return allergies


class ClinicalLookups(Protocol):
    """What the record checks read of the loaded tables (``clinical.ClinicalTables`` has it)."""

    @property
    def conditions(self) -> Mapping[str, Condition]: ...

    @property
    def drugs_by_name(self) -> Mapping[str, tuple[Drug, ...]]: ...

    @property
    def allergies(self) -> tuple[Allergy, ...]: ...
