"""Fixtures for the egress tests: a registry with canaries on two systems and ICAP services on loopback."""

from __future__ import annotations

import dataclasses
import gzip
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from canary.store import open_db
from canary.store.events import list_events
from canary.store.registry import add_canaries, add_system
from canary.store.seeding import derive_token
from canary.watch.egress.icap import IcapService
from canary.watch.egress.inspect import EgressConfig, Inspector
from tests.conftest import make_record


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


def start_icap(db_path: Path, **config: Any) -> IcapService:
    settings = dataclasses.replace(EgressConfig(), **config)
    service = IcapService(db_path, "127.0.0.1", 0, Inspector(db_path, config=settings))
    service.start()
    return service


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


def events_for(db_path: Path, url_part: str) -> list[dict[str, Any]]:
    db = open_db(db_path)
    try:
        return [e for e in list_events(db) if url_part in str(e["details"].get("url", "")) or
                url_part in str(e["details"].get("subject", ""))]
    finally:
        db.close()


def passed_counts(db_path: Path) -> dict[tuple[str, str], tuple[int, int]]:
    db = open_db(db_path)
    try:
        return {(r[0], r[1]): (r[2], r[3]) for r in
                db.execute("SELECT channel, reason, SUM(count), SUM(bytes) FROM egress_passed GROUP BY 1, 2")}
    finally:
        db.close()


def csv_rows(*canaries: dict[str, Any], phone_only: bool = False) -> bytes:
    lines = ["nom;prenom;naissance;nir;telephone"]
    for c in canaries:
        phone = "0" + c["phones"][0][3:]
        if phone_only:
            lines.append(f"X;Y;;;{phone[:2]} {phone[2:4]} {phone[4:6]} {phone[6:8]} {phone[8:]}")
        else:
            lines.append(f"{c['birth_name']};{c['first_names'][0]};{c['birth_date']};{c['nir']};{phone}")
    lines.append("DURAND;Paul;1970-01-01;;")
    return ("\n".join(lines) + "\n").encode("utf-8")


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def xlsx(*canaries: dict[str, Any]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Nom", "Prénom", "NIR", "Téléphone"])
    for c in canaries:
        sheet.append([c["birth_name"], c["first_names"][0], c["nir"], "0" + c["phones"][0][3:]])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
