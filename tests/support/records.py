"""Hand-made canary records that follow the record contract (docs/architecture.md), unique per number."""

from __future__ import annotations

import json
from typing import Any

FIRST = ["Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Jean", "Philippe", "Michel", "Alain", "Patrick"]
LAST = ["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent"]


def make_record(i: int, **overrides: Any) -> dict[str, Any]:
    """A complete canary record (as in docs/architecture.md) with values unique to ``i``."""
    sex = "F" if i % 2 == 0 else "M"
    year = 1940 + i % 60
    record = {
        "sex": sex,
        "birth_name": LAST[i % 10].upper() + ("" if i < 10 else f"-{LAST[(i // 10) % 10].upper()}"),
        "used_name": None,
        "first_names": [FIRST[i % 10], "Claire" if sex == "F" else "Louis"],
        "birth_date": f"{year}-{(i % 12) + 1:02d}-{(i % 28) + 1:02d}",
        "birth_place": {"code": "69123", "name": "Lyon"},
        "nir": None,
        "identity_status": "VALI",
        "address": {"line": f"{i + 1} rue des Lilas", "postcode": "69003", "city": "Lyon", "commune_code": "69383"},
        "phones": [f"+3361234{i:04d}"],
        "email": f"{FIRST[i % 10].lower()}.{LAST[i % 10].lower()}{i}@mail.example.fr",
        "ipp": f"{40000000 + i}",
        "coverage": {"regime": "Régime général", "caisse": "CPAM du Rhône", "amc": None},
        "gp": {"rpps": "10003456789", "family_name": "GIRARD", "first_name": "Anne", "city": "Lyon"},
        "conditions": [{"code": "I10", "label": "Hypertension essentielle (primitive)", "onset": "2015-03-01"}],
        "prescriptions": [{"drug": "AMLODIPINE 5 mg, comprimé", "cip13": None, "atc": "C08CA01",
                           "dosage": "1 comprimé le matin", "start": "2015-03-01", "end": None}],
        "allergies": [],
        "tokens": {"url": None, "hostname": None},
    }
    record["nir"] = _nir(sex, year, (i % 12) + 1, "69383", 100 + i)
    record.update(overrides)
    return record


def _nir(sex: str, year: int, month: int, place: str, order: int) -> str:
    body = f"{1 if sex == 'M' else 2}{year % 100:02d}{month:02d}{place}{order:03d}"
    return body + f"{97 - int(body) % 97:02d}"


class FixtureGenerator:
    """Fills the seeding protocol (``canary.generate.seeding``) with fixture-shaped records numbered from
    ``start``, far from the hand canaries' numbers."""

    def __init__(self, start: int = 500) -> None:
        self.next = start

    def generate(self, rng: Any, *, today: Any, taken: Any) -> dict[str, Any]:
        self.next += 1
        return make_record(self.next)


def qualify(db: Any, canary_ids: list[str], status: str = "QUAL") -> None:
    """Give hand canaries an INS-bearing identity status (their fixture default is VALI)."""
    for canary_id in canary_ids:
        row = db.execute("SELECT record FROM canaries WHERE id = ?", [canary_id]).fetchone()
        record = json.loads(row[0]) | {"identity_status": status}
        db.execute("UPDATE canaries SET record = ? WHERE id = ?", [json.dumps(record), canary_id])
    db.conn.commit()
