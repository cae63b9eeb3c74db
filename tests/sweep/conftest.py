"""Fixtures for the sweep tests: a registry with hand-made canaries and a one-call scan."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from canary.generate.seeding import derive_token
from canary.store.registry import add_canaries, add_system
from canary.watch.sweep.index import build_index
from canary.watch.sweep.limits import Limits
from canary.watch.sweep.scanner import ScanReport, scan
from canary.watch.sweep.search import native_module
from tests.support.records import make_record
from tests.support.sweep import HELENE

# Canary 0 of `sweep_canaries`: an accented identity and a used name, for the reformatting tests.


def _nir_key(body: str) -> str:
    return f"{97 - int(body) % 97:02d}"


@pytest.fixture
def sweep_canaries(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Five canaries on two systems; the first is HELENE (with a valid NIR key)."""
    add_system(db, "ehr-lyon", "ehr", establishment="CHU de test")
    add_system(db, "lab-nord", "lab", establishment="Labo de test")
    body = HELENE["nir"][:13]
    helene = dict(HELENE, nir=body + _nir_key(body))
    canaries = []
    for i in range(5):
        cid = f"sw{i:04d}"
        record = make_record(100 + i, **(helene if i == 0 else {}))
        canaries.append({"id": cid, "system": "ehr-lyon" if i < 3 else "lab-nord", "generation": 1,
                         "created_at": "2026-01-01T00:00:00Z", "token": derive_token("k", cid), **record})
    add_canaries(db, canaries)
    return canaries


def engines() -> list[str]:
    """Both engines where the native core is built, and always in CI (which installs its headers)."""
    return ["native", "python"] if native_module() is not None or os.environ.get("CI") else ["python"]


@pytest.fixture(params=engines())
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def run_scan(db: sqlite_utils.Database, sweep_canaries, engine: str) -> Callable[..., ScanReport]:
    """A scan with the engine under test: every matching test runs on both engines."""
    def _scan(*paths: Path | str, limits: Limits | None = None, jobs: int = 1) -> ScanReport:
        limits = dataclasses.replace(limits or Limits(), engine=engine)
        return scan(build_index(db), [str(p) for p in paths], limits, jobs=jobs)

    return _scan
