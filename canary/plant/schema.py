"""Tables of canary.plant (append-only migrations, names prefixed with the domain)."""

from __future__ import annotations

import sqlite_utils


def _plantings(db: sqlite_utils.Database) -> None:
    # One row per (canary, target): its lifecycle there. Other domains read id, canary_id, system,
    # channel, target, state, external_id, planted_at, retired_at, error and updated_at.
    db.executescript(
        """
        CREATE TABLE plantings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            canary_id TEXT NOT NULL REFERENCES canaries(id) ON DELETE CASCADE,
            system TEXT NOT NULL,
            channel TEXT NOT NULL CHECK (channel IN ('mllp', 'fhir', 'file')),
            target TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'planned'
                CHECK (state IN ('planned', 'planted', 'retired', 'failed')),
            external_id TEXT,
            resources TEXT NOT NULL DEFAULT '[]',
            options TEXT NOT NULL DEFAULT '{}',
            attempts INTEGER NOT NULL DEFAULT 0,
            in_flight INTEGER NOT NULL DEFAULT 0,
            planned_at TEXT NOT NULL,
            planted_at TEXT,
            retired_at TEXT,
            error TEXT,
            updated_at TEXT NOT NULL,
            UNIQUE (canary_id, target)
        );
        CREATE INDEX plantings_system ON plantings(system, state);
        CREATE INDEX plantings_target ON plantings(target, state);
        """
    )


MIGRATIONS = [("plant-001-plantings", _plantings)]
