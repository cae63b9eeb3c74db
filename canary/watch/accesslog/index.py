"""The ids a system's audit trail may name, mapped to canaries: one dict, loaded once, refreshed cheaply.

A log line is matched by dictionary lookups of the ids it carries, never by a query per line.
"""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from canary.normalize import nir_key

# Marker kinds an access log can carry. They are unique across the registry, so a canary of another
# system found in this system's trail is still recognised (and flagged: data moved between systems).
LOG_MARKER_KINDS = ("ipp", "nir", "nir13")
REFRESH_SECONDS = 10.0


def plantings_table_exists(db: sqlite_utils.Database) -> bool:
    return db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'plantings'"
    ).fetchone() is not None


class CanaryIndex:
    """``lookup(raw id) -> (canary_id, how)`` for one system's trail, plus each canary's home system."""

    def __init__(self, db: sqlite_utils.Database, system: str) -> None:
        self.system = system
        self.ids: dict[str, tuple[str, str]] = {}
        self.home: dict[str, str] = {}
        self._signature: tuple[Any, ...] | None = None
        self._checked = 0.0
        self.load(db)

    def _current_signature(self, db: sqlite_utils.Database) -> tuple[Any, ...]:
        canaries = db.execute("SELECT COUNT(*), MAX(rowid) FROM canaries").fetchone()
        plantings = (db.execute("SELECT COUNT(*), MAX(rowid) FROM plantings").fetchone()
                     if plantings_table_exists(db) else None)
        return (tuple(canaries), tuple(plantings) if plantings else None)

    def load(self, db: sqlite_utils.Database) -> None:
        ids: dict[str, tuple[str, str]] = {}
        marks = ",".join("?" * len(LOG_MARKER_KINDS))
        for kind, value, canary_id in db.execute(
            f"SELECT kind, value, canary_id FROM markers WHERE kind IN ({marks})", LOG_MARKER_KINDS
        ):
            ids[value] = (canary_id, kind)
        if plantings_table_exists(db):
            # External ids only mean something inside their own system, and win over markers there.
            for canary_id, external_id in db.execute(
                "SELECT canary_id, external_id FROM plantings WHERE system = ? AND external_id IS NOT NULL",
                [self.system],
            ):
                ids[str(external_id)] = (canary_id, "external_id")
        self.ids = ids
        self.home = dict(db.execute("SELECT id, system FROM canaries").fetchall())
        self._signature = self._current_signature(db)
        self._checked = time.monotonic()

    def refresh(self, db: sqlite_utils.Database, force: bool = False) -> None:
        """Reload if canaries or plantings changed; checks at most every REFRESH_SECONDS."""
        if not force and time.monotonic() - self._checked < REFRESH_SECONDS:
            return
        self._checked = time.monotonic()
        if force or self._current_signature(db) != self._signature:
            self.load(db)

    def lookup(self, raw: str) -> tuple[str, str] | None:
        hit = self.ids.get(raw)
        if hit is not None or (raw.isdigit() and len(raw) < 13):
            return hit  # a plain number is looked up as is: the common miss stays cheap
        value = raw.strip()
        if "|" in value:  # FHIR token: system|value
            value = value.rsplit("|", 1)[-1]
        if "/" in value:  # FHIR reference: Patient/123
            hit = self.ids.get(value) or self.ids.get(value.rsplit("/", 1)[-1])
            if hit is not None:
                return hit
        hit = self.ids.get(value) or self.ids.get(value.upper())
        if hit is None and len(value) >= 13:
            nir = nir_key(value)
            if nir:
                hit = self.ids.get(nir)
        return hit
