"""Helpers of the access-log tests: line makers, event reading, waiting."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

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


