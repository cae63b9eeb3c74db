"""Shared fixtures: a real registry file per test and hand-made canaries that follow the record contract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from click.testing import CliRunner, Result

from canary.cli import get_cli
from canary.generate.seeding import derive_token
from canary.store import open_db
from canary.store.registry import add_canaries, add_system
from tests.support.records import make_record


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
