"""Shared fixtures: a real registry file per test and hand-made canaries that follow the record contract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from click.testing import CliRunner, Result

from canary.cli import get_cli
from canary.store import open_db
from canary.store.registry import add_canaries, add_system
from canary.store.seeding import derive_token

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


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "canary.db"


@pytest.fixture
def db(db_path: Path) -> sqlite_utils.Database:
    database = open_db(db_path)
    yield database
    database.close()


@pytest.fixture
def add_hand_canaries(db: sqlite_utils.Database) -> Callable[..., list[dict[str, Any]]]:
    """Register ``system`` (if needed) and add ``count`` hand-made canaries to it; return them."""
    counter = {"next": 0}

    def _add(system: str = "ehr-test", count: int = 3, kind: str = "ehr", generation: int = 1) -> list[dict]:
        if not db.execute("SELECT 1 FROM systems WHERE name = ?", [system]).fetchone():
            add_system(db, system, kind, establishment="Hôpital de test")
        canaries = []
        for _ in range(count):
            i = counter["next"]
            counter["next"] += 1
            cid = f"hand{i:06d}"
            canaries.append({"id": cid, "system": system, "generation": generation,
                             "created_at": "2026-01-01T00:00:00Z", "token": derive_token("k", cid),
                             **make_record(i)})
        add_canaries(db, canaries)
        return canaries

    return _add


@pytest.fixture
def cli(db_path: Path) -> Callable[..., Result]:
    """Run the real ``canary`` CLI in-process against this test's registry (created, as by ``canary init``)."""
    open_db(db_path).close()
    runner = CliRunner()

    def _run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(get_cli(), ["--db", str(db_path), *args], input=input, catch_exceptions=False)

    return _run
