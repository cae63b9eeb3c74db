"""Fixtures for the egress tests: a registry with canaries on two systems and ICAP services on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from canary.generate.seeding import derive_token
from canary.store import open_db
from canary.store.registry import add_canaries, add_system
from canary.watch.egress.icap import IcapService
from tests.support.egress import start_icap
from tests.support.records import make_record


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Four canaries: eg0000-eg0001 on ehr-lyon, eg0002-eg0003 on lab-nord."""
    path = tmp_path_factory.mktemp("egress") / "canary.db"
    db = open_db(path)
    add_system(db, "ehr-lyon", "ehr", establishment="CHU de test")
    add_system(db, "lab-nord", "lab", establishment="Labo de test")
    canaries = []
    for i in range(4):
        cid = f"eg{i:04d}"
        canaries.append({"id": cid, "system": "ehr-lyon" if i < 2 else "lab-nord", "generation": 1,
                         "created_at": "2026-01-01T00:00:00Z", "token": derive_token("k", cid),
                         **make_record(200 + i)})
    add_canaries(db, canaries)
    db.close()
    return path, canaries


@pytest.fixture(scope="module")
def icap_monitor(registry) -> Iterator[IcapService]:
    service = start_icap(registry[0], max_body_bytes=1024 * 1024)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def icap_block(registry) -> Iterator[IcapService]:
    service = start_icap(registry[0], block=True, max_body_bytes=1024 * 1024)
    yield service
    service.stop()
