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


def _schedule(db: sqlite_utils.Database) -> None:
    # A trickle: canaries of one system given planned arrival times at one target (plant --over, rotate
    # --over); `canary serve` plants each item when it is due. Items are claimed in a transaction, so a
    # due item is planted by one runner once, and what was due while serve was down is planted at restart.
    # plant_counters: per-target counters of the HL7 message control id (MSH-10) when it is a counter.
    db.executescript(
        """
        CREATE TABLE plant_trickles (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            system TEXT NOT NULL,
            channel TEXT NOT NULL,
            target TEXT NOT NULL,
            options TEXT NOT NULL DEFAULT '{}',
            over_seconds INTEGER NOT NULL,
            retire_before INTEGER,
            state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),
            outcome TEXT,
            created_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX plant_trickles_target ON plant_trickles(system, target, state);
        CREATE TABLE plant_schedule (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            trickle_id INTEGER NOT NULL REFERENCES plant_trickles(id) ON DELETE CASCADE,
            canary_id TEXT NOT NULL REFERENCES canaries(id) ON DELETE CASCADE,
            due_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'scheduled'
                CHECK (state IN ('scheduled', 'claimed', 'planted', 'failed', 'skipped')),
            claimed_at TEXT,
            done_at TEXT,
            error TEXT,
            UNIQUE (trickle_id, canary_id)
        );
        CREATE INDEX plant_schedule_due ON plant_schedule(state, due_at);
        CREATE TABLE plant_counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        """
    )


MIGRATIONS = [("plant-001-plantings", _plantings), ("plant-002-schedule", _schedule)]
