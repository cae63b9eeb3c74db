"""Helpers of the access-log tests: line makers, event reading, waiting."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from canary.store.registry import now_iso

SYSTEM = "ehr-mediboard"


def ipp(canary: dict[str, Any]) -> str:
    return str(canary["ipp"])


def mediboard_line(patient: str, *, user: str = "jdupont", minute: int = 0, second: int = 0,
                   action: str = "dPpatients.vw_full_patients", ip: str = "10.2.3.4") -> str:
    return (f"2026-11-14 09:{minute:02d}:{second:02d}+01:00 user={user} ip={ip} action={action} "
            f"ipp={patient} module=dPpatients")


def access_events(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    rows = list(db.query("SELECT * FROM events WHERE channel = 'access-log' ORDER BY id"))
    for row in rows:
        row["details"] = json.loads(row["details"])
    return rows


def plant(db: Any, canaries: list[dict[str, Any]], first_id: int = 7000, guid: bool = False) -> dict[str, int]:
    """The ids Mediboard gave the planted canaries (plantings.external_id: ``7000`` or ``CPatient-7000``)."""
    ids = {}
    for n, canary in enumerate(canaries):
        ids[canary["id"]] = first_id + n
        external_id = f"CPatient-{first_id + n}" if guid else str(first_id + n)
        db["plantings"].insert({"canary_id": canary["id"], "system": SYSTEM, "channel": "mllp",
                                "target": "mllp://127.0.0.1:2575", "state": "planted", "external_id": external_id,
                                "planned_at": now_iso(), "planted_at": now_iso(), "updated_at": now_iso()})
    return ids
