"""Rules a thief could apply to the clinical part of a record to spot a fake.

Each problem is reported as (rule, message). Rules:
  bad_record, bad_date, unknown_code, label_mismatch, onset_before_birth, onset_in_future,
  sex_mismatch, age_mismatch, pregnancy_sex, pregnancy_age, unknown_drug, atc_mismatch,
  cip13_invalid, drug_start_before_birth, drug_start_in_future, drug_end_before_start,
  drug_before_marketing, drug_age_mismatch, drug_sex_mismatch, allergy_conflict.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from stdnum import ean

from canary.generate._clinical_tables import (
    FEMALE_ONLY_PREFIXES,
    MALE_ONLY_PREFIXES,
    PREGNANCY_AGES,
    ClinicalLookups,
    age_at,
    is_pregnancy_code,
)

Problems = list[tuple[str, str]]


def _date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def check_record(tables: ClinicalLookups, record: dict[str, Any], today: date) -> Problems:
    sex = record.get("sex")
    try:
        birth = _date(record.get("birth_date"))
    except (TypeError, ValueError):
        birth = None
    if sex not in ("F", "M") or birth is None:
        return [("bad_record", "sex or birth date missing or malformed")]
    problems: Problems = []
    for condition in record.get("conditions") or []:
        problems += _check_condition(tables, condition, sex, birth, today)
    for prescription in record.get("prescriptions") or []:
        problems += _check_prescription(tables, prescription, sex, birth, today)
    problems += _check_allergies(tables, record)
    return problems


def _check_condition(tables: ClinicalLookups, condition: dict[str, Any], sex: str, birth: date,
                     today: date) -> Problems:
    code = str(condition.get("code") or "")
    known = tables.conditions.get(code)
    problems: Problems = []
    if known is None:
        problems.append(("unknown_code", f"{code or '(empty)'}: not a code of the curated CIM-10 table"))
    elif condition.get("label") != known.label:
        problems.append(("label_mismatch", f"{code}: label differs from the ATIH label {known.label!r}"))
    try:
        onset = _date(condition.get("onset"))
    except (TypeError, ValueError):
        return [*problems, ("bad_date", f"{code}: onset {condition.get('onset')!r} is not a date")]
    if onset is not None and onset < birth:
        problems.append(("onset_before_birth", f"{code}: onset {onset} before birth {birth}"))
    if onset is not None and onset > today:
        problems.append(("onset_in_future", f"{code}: onset {onset} after {today}"))
    age = age_at(birth, onset if onset is not None else today)
    if is_pregnancy_code(code):
        if sex == "M":
            problems.append(("pregnancy_sex", f"{code}: pregnancy code on a man"))
        elif not PREGNANCY_AGES[0] <= age <= PREGNANCY_AGES[1]:
            problems.append(("pregnancy_age", f"{code}: pregnancy at age {age}"))
        return problems
    table_sex = known.sex if known else "*"
    if (sex == "F" and (table_sex == "M" or code.startswith(MALE_ONLY_PREFIXES))) or (
        sex == "M" and (table_sex == "F" or code.startswith(FEMALE_ONLY_PREFIXES))
    ):
        problems.append(("sex_mismatch", f"{code}: not possible for sex {sex}"))
    if known is not None:
        dated = onset is not None or known.kind in ("acute", "pregnancy")
        if age < known.min_age or (dated and age > known.max_age):
            problems.append(("age_mismatch", f"{code}: age {age} outside {known.min_age}-{known.max_age}"))
    return problems


def _check_prescription(tables: ClinicalLookups, item: dict[str, Any], sex: str, birth: date, today: date) -> Problems:
    name = str(item.get("drug") or "")
    rows = tables.drugs_by_name.get(name, ())
    problems: Problems = []
    if not rows:
        problems.append(("unknown_drug", f"{name or '(empty)'}: not in the drug table"))
    elif item.get("atc") not in {row.atc for row in rows}:
        problems.append(("atc_mismatch", f"{name}: ATC {item.get('atc')!r} does not belong to this drug"))
    cip13 = item.get("cip13")
    if cip13 is not None and not (
        isinstance(cip13, str) and len(cip13) == 13 and cip13.startswith("34009") and ean.is_valid(cip13)
    ):
        problems.append(("cip13_invalid", f"{name}: CIP13 {cip13!r} is not a valid 34009 EAN-13"))
    try:
        start, end = _date(item.get("start")), _date(item.get("end"))
    except (TypeError, ValueError):
        return [*problems, ("bad_date", f"{name}: start or end is not a date")]
    if start is None:
        return [*problems, ("bad_date", f"{name}: no start date")]
    if start < birth:
        problems.append(("drug_start_before_birth", f"{name}: starts {start}, before birth {birth}"))
    if start > today:
        problems.append(("drug_start_in_future", f"{name}: starts {start}, after {today}"))
    if end is not None and end < start:
        problems.append(("drug_end_before_start", f"{name}: ends {end} before it starts {start}"))
    if rows:
        if start.year < min(row.since for row in rows):
            problems.append(("drug_before_marketing", f"{name}: prescribed in {start.year}, before it was sold"))
        age = age_at(birth, start)
        if not any(row.min_age <= age <= row.max_age for row in rows):
            problems.append(("drug_age_mismatch", f"{name}: not a form given at age {age}"))
        if not any(row.sex in ("*", sex) for row in rows):
            problems.append(("drug_sex_mismatch", f"{name}: not given to sex {sex}"))
    return problems


def _check_allergies(tables: ClinicalLookups, record: dict[str, Any]) -> Problems:
    conflicts = {a.substance: a.conflicts for a in tables.allergies}
    atcs = [(str(p.get("drug")), str(p.get("atc") or "")) for p in record.get("prescriptions") or []]
    problems: Problems = []
    for allergy in record.get("allergies") or []:
        prefixes = conflicts.get(allergy.get("substance"), ())
        for drug, atc in atcs:
            if prefixes and atc.startswith(prefixes):
                problems.append(("allergy_conflict", f"{drug} prescribed despite allergy to {allergy['substance']}"))
    return problems
