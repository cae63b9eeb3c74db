"""Identifiers a target gave a canary (an IPP the receiver allocated): markers like the canary's own, so a
sighting of that value names the canary for every watcher."""

from __future__ import annotations

import sqlite_utils

from canary.plant.reports import PlantReport
from canary.store.tx import write_transaction


def add_marker(db: sqlite_utils.Database, canary_id: str, kind: str, value: str, report: PlantReport) -> None:
    """Record ``(kind, value)`` for ``canary_id``; a value already naming another canary is a warning."""
    with write_transaction(db):
        db.execute("INSERT INTO markers (kind, value, canary_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                   [kind, value, canary_id])
        owner = db.execute("SELECT canary_id FROM markers WHERE kind = ? AND value = ?", [kind, value]).fetchone()
    if owner and owner[0] != canary_id:
        report.warnings.append(f"{canary_id}: the {kind} {value} the target allocated already names canary "
                               f"{owner[0]}; a sighting of it names that one")
