"""Clinical part of a canary: antecedents (CIM-10), prescriptions and allergies.

Loading: `ClinicalTables.load(seeds_dir)` reads `seeds/clinical/` once into an immutable object
with `make(...)` and `check(...)` methods. `make_clinical(...)` and `check_clinical(...)` are thin
wrappers: they take an optional `tables=` (a loaded `ClinicalTables`, fastest) and otherwise use
the tables of the default seeds directory ($CANARY_SEEDS or the repository's seeds/), read once
through a cached loader (`load_clinical_tables`). Everything random comes from the `rng` passed in.

Returned shape (keys of the canary record), dates as "YYYY-MM-DD":
    {"conditions": [{"code", "label", "onset"|None}],
     "prescriptions": [{"drug", "cip13": None, "atc", "dosage", "start", "end"|None}],
     "allergies": [{"substance", "reaction"|None}]}
`cip13` is always None: no verified CIP13 table ships with the project, and a well-formed code
that is absent from the public drug database would betray the canary.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal, TypedDict

from canary.generate._clinical_checks import check_record
from canary.generate._clinical_tables import (
    Allergy,
    Condition,
    Drug,
    age_at,
    age_band,
    anniversary,
    is_pregnancy_code,
    read_allergies,
    read_conditions,
    read_drugs,
)
from canary.generate.admin import Weighted, default_seeds_dir
from canary.store import shapes

__all__ = ["ClinicalTables", "check_clinical", "load_clinical_tables", "make_clinical"]

ACUTE_LOOKBACK_DAYS = 730  # acute episodes kept in a record: the last two years
NO_ONSET_SHARE = 0.2  # chronic antecedents often carry no date
DEFAULT_COURSE_DAYS = (5, 10)  # a long-term drug given for an acute episode
RENEWAL_DAYS = 90  # long-term treatments are renewed every three months
RECENT_RENEWAL_SHARE = 0.7  # records mostly show the latest prescription of a long-term treatment
MAX_ALLERGIES = 3
# Records are never complete: share of a patient's antecedents the record actually carries, per age
# band (young adults see doctors least; older patients' files are kept up to date for renewals).
RECORDED_SHARE = (0.8, 0.7, 0.6, 0.6, 0.7, 0.85, 0.9)
NO_REACTION_SHARE = 0.25
# Antecedents that cannot be recorded together.
EXCLUSIVE = (
    frozenset({"E10.9", "E11.9"}),
    frozenset({"Z34.9", "Z30.4"}),  # a pregnant woman is not on contraception
    frozenset({"Z34.9", "N95.1"}),
    frozenset({"Z34.9", "N80.9"}),  # nor on a continuous progestin
)


class ClinicalPart(TypedDict):
    """The clinical keys of a generated record."""

    conditions: list[shapes.Condition]
    prescriptions: list[shapes.Prescription]
    allergies: list[shapes.Allergy]


@dataclass(frozen=True)
class ClinicalTables:
    conditions: dict[str, Condition]
    drugs_by_group: dict[str, tuple[Drug, ...]]
    drugs_by_name: dict[str, tuple[Drug, ...]]
    allergies: tuple[Allergy, ...]
    # (sex, age band) -> [(probability, item)] with probability > 0, precomputed for speed
    condition_odds: dict[tuple[str, int], tuple[tuple[float, Condition], ...]]
    allergy_odds: dict[tuple[str, int], tuple[tuple[float, Allergy], ...]]

    @classmethod
    def load(cls, seeds_dir: Path | None = None) -> ClinicalTables:
        folder = Path(seeds_dir or default_seeds_dir())
        folder = folder / "clinical" if (folder / "clinical").is_dir() else folder
        conditions = read_conditions(folder / "conditions.tsv")
        drugs = read_drugs(folder / "drugs.tsv")
        allergies = read_allergies(folder / "allergies.tsv")
        by_group: dict[str, list[Drug]] = {}
        by_name: dict[str, list[Drug]] = {}
        for drug in drugs:
            by_group.setdefault(drug.group, []).append(drug)
            by_name.setdefault(drug.drug, []).append(drug)
        condition_odds, allergy_odds = {}, {}
        for sex in ("F", "M"):
            for band in range(7):
                condition_odds[sex, band] = tuple(
                    (p * RECORDED_SHARE[band], c) for c in conditions
                    if c.sex in ("*", sex) and (p := c.probability(sex, band)) > 0
                )
                allergy_odds[sex, band] = tuple(
                    (p, a) for a in allergies if (p := a.probability(sex, band)) > 0
                )
        return cls(
            conditions={c.code: c for c in conditions},
            drugs_by_group={g: tuple(d) for g, d in by_group.items()},
            drugs_by_name={n: tuple(d) for n, d in by_name.items()},
            allergies=tuple(allergies),
            condition_odds=condition_odds,
            allergy_odds=allergy_odds,
        )

    # -- generation -----------------------------------------------------------------------
    def make(self, rng: random.Random, *, sex: str, birth_date: date, today: date) -> ClinicalPart:
        if sex not in ("F", "M") or birth_date > today:
            raise ValueError(f"need sex 'F' or 'M' and a birth date not after today, got {sex!r}, {birth_date}")
        age = age_at(birth_date, today)
        band = age_band(age)
        allergies = self._allergies(rng, sex, band)
        conflicts = tuple(prefix for allergy, _ in allergies for prefix in allergy.conflicts)
        conditions: list[tuple[Condition, date | None]] = []
        taken: set[str] = set()
        for probability, condition in self.condition_odds[sex, band]:
            if rng.random() >= probability:
                continue
            if any(condition.code in group and taken & group for group in EXCLUSIVE):
                continue
            onset = self._onset(rng, condition, birth_date, today, age)
            if onset is False:
                continue
            conditions.append((condition, onset))
            taken.add(condition.code)
        prescriptions: list[shapes.Prescription] = []
        seen_atc: set[str | None] = set()
        for condition, onset in conditions:
            if condition.treatments and rng.random() * 100 < condition.treat_rate:
                for group, share in condition.treatments:
                    if share < 100 and rng.random() * 100 >= share:
                        continue
                    item = self._prescription(rng, sex, condition, group, onset, birth_date, today, conflicts)
                    if item is not None and item["atc"] not in seen_atc:
                        seen_atc.add(item["atc"])
                        prescriptions.append(item)
        conditions.sort(key=lambda pair: (pair[1] is None, pair[1] or today))
        prescriptions.sort(key=lambda item: item["start"])
        return {
            "conditions": [
                {"code": c.code, "label": c.label, "onset": onset.isoformat() if onset else None}
                for c, onset in conditions
            ],
            "prescriptions": prescriptions,
            "allergies": [{"substance": a.substance, "reaction": reaction} for a, reaction in allergies],
        }

    def _allergies(self, rng: random.Random, sex: str, band: int) -> list[tuple[Allergy, str | None]]:
        found: list[tuple[Allergy, str | None]] = []
        for probability, allergy in self.allergy_odds[sex, band]:
            if rng.random() < probability and len(found) < MAX_ALLERGIES:
                reaction = None if rng.random() < NO_REACTION_SHARE else allergy.reactions.pick(rng)
                found.append((allergy, reaction))
        return found

    def _onset(
        self, rng: random.Random, c: Condition, birth: date, today: date, age: int,
    ) -> date | None | Literal[False]:
        """Onset date, None when undated, False when the condition cannot fit this patient."""
        if c.kind in ("acute", "pregnancy"):
            lookback = ACUTE_LOOKBACK_DAYS if c.kind == "acute" else 250
            earliest = 0 if c.kind == "acute" else 30
            onset = today - timedelta(days=rng.randint(earliest, lookback))
            if onset < birth:
                onset = birth + timedelta(days=rng.randint(0, (today - birth).days))
            return onset if c.min_age <= age_at(birth, onset) <= c.max_age else False
        low, high = max(c.min_age, c.onset_min), min(c.max_age, c.onset_max, age)
        if low > high:  # outside the typical onset ages: any age the hard limits allow
            low, high = c.min_age, min(c.max_age, age)
            if low > high:
                return False
        if not is_pregnancy_code(c.code) and rng.random() < NO_ONSET_SHARE:
            return None
        onset_age = rng.randint(low, high)
        start = anniversary(birth, onset_age)
        if start > today:
            return False
        span = min(364, (today - start).days)
        return start + timedelta(days=rng.randint(0, span))

    def _prescription(
        self, rng: random.Random, sex: str, condition: Condition, group: str, onset: date | None,
        birth: date, today: date, conflicts: tuple[str, ...],
    ) -> shapes.Prescription | None:
        start = self._start(rng, condition, onset, birth, today)
        start_age = age_at(birth, start)
        # A long-term treatment still runs today: its form must also suit the patient's current age.
        course = condition.kind in ("acute", "pregnancy")
        current_age = age_at(birth, today)
        choices = [
            (d, d.weight) for d in self.drugs_by_group.get(group, ())
            if d.sex in ("*", sex) and d.min_age <= start_age and d.since <= start.year
            and (start_age if course or d.days else current_age) <= d.max_age
            and not d.atc.startswith(conflicts)
        ]
        if not choices:
            return None
        drug: Drug = Weighted.of(choices).pick(rng)
        if drug.days:
            end = start + timedelta(days=rng.randint(*drug.days))
        elif condition.kind in ("acute", "pregnancy"):
            end = start + timedelta(days=rng.randint(*DEFAULT_COURSE_DAYS))
        elif onset is not None and (today - start).days < RENEWAL_DAYS:
            end = start + timedelta(days=RENEWAL_DAYS)  # current three-month prescription
        else:
            end = None  # long-term treatment still running
        return {"drug": drug.drug, "cip13": None, "atc": drug.atc, "dosage": drug.dosage,
                "start": start.isoformat(), "end": end.isoformat() if end else None}

    def _start(self, rng: random.Random, condition: Condition, onset: date | None, birth: date, today: date) -> date:
        if onset is None:  # undated antecedent: a prescription of the last year, after birth
            start = today - timedelta(days=rng.randint(0, min(365, (today - birth).days)))
        elif condition.kind in ("acute", "pregnancy"):
            start = onset + timedelta(days=rng.randint(0, 2))
        elif rng.random() < RECENT_RENEWAL_SHARE:
            start = max(onset, today - timedelta(days=rng.randint(0, RENEWAL_DAYS - 1)))
        else:  # first prescription, still running
            start = onset + timedelta(days=rng.randint(0, 60))
        return min(max(start, birth), today)

    # -- checks ---------------------------------------------------------------------------
    def check(self, record: dict[str, Any], today: date) -> list[tuple[str, str]]:
        return check_record(self, record, today)


@functools.cache
def load_clinical_tables(seeds_dir: Path) -> ClinicalTables:
    """Tables for one seeds directory, read once (read-only afterwards)."""
    return ClinicalTables.load(seeds_dir)


def _tables(tables: ClinicalTables | None) -> ClinicalTables:
    return tables or load_clinical_tables(default_seeds_dir())


def make_clinical(
    rng: random.Random, *, sex: str, birth_date: date, today: date, tables: ClinicalTables | None = None
) -> ClinicalPart:
    """Antecedents, prescriptions and allergies consistent with the patient's sex and age."""
    return _tables(tables).make(rng, sex=sex, birth_date=birth_date, today=today)


def check_clinical(record: dict[str, Any], today: date, tables: ClinicalTables | None = None) -> list[tuple[str, str]]:
    """(rule, message) for each clinical detail of `record` an attacker could spot as fake."""
    return _tables(tables).check(record, today)
