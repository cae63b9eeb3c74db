"""Deliveries as people read them: which destination (its address without secrets), in their language."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from canary.alert.destinations import list_destinations
from canary.web.roles import allows


def destination_names(db: sqlite_utils.Database, role: str) -> dict[int, str]:
    """Destination id -> how the console names it: ``#1 json://siem.example.fr/hook`` (secrets masked) for
    analysts and admins, ``#1 (json)`` for viewers (where alerts go is the SOC's business)."""
    return {d.id: f"#{d.id} {d.shown_url}" if allows(role, "analyst") else f"#{d.id} ({d.kind})"
            for d in list_destinations(db)}


def failing_destinations(db: sqlite_utils.Database, role: str) -> list[dict[str, Any]]:
    """Destinations with a message already retried (``failing`` on the overview), with their last error."""
    names = destination_names(db, role)
    rows = db.execute(
        "SELECT destination_id, COUNT(*), MAX(last_error) FROM alert_outbox WHERE state = 'pending' AND attempts > 0 "
        "GROUP BY destination_id ORDER BY destination_id").fetchall()
    return [{"id": row[0], "name": names.get(row[0], f"#{row[0]}"), "messages": row[1],
             "error": row[2] if allows(role, "analyst") else None} for row in rows]
