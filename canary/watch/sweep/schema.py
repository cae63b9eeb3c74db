"""Tables of canary.watch.sweep (append-only migrations, names prefixed with the domain)."""

from __future__ import annotations

import sqlite_utils


def _tables(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sweep_feeds (
            name TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            schedule TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_run_at TEXT,          -- last attempt
            last_success_at TEXT,      -- last run that reached its source: the catch-up clock
            last_status TEXT,
            last_error TEXT
        );
        CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY,
            feed TEXT,
            sources TEXT NOT NULL,     -- JSON list of what was scanned
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,      -- running | ok | failed
            files INTEGER NOT NULL DEFAULT 0,
            bytes INTEGER NOT NULL DEFAULT 0,
            skipped TEXT NOT NULL DEFAULT '[]',
            error TEXT
        );
        CREATE TABLE sweep_findings (
            id INTEGER PRIMARY KEY,
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            canary_id TEXT NOT NULL REFERENCES canaries(id),
            system TEXT NOT NULL,
            file TEXT NOT NULL,
            fields TEXT NOT NULL,      -- JSON list
            confidence TEXT NOT NULL,
            severity TEXT NOT NULL,
            line INTEGER,
            "offset" INTEGER,
            evidence TEXT,             -- masked snippet
            event_id INTEGER,
            UNIQUE (sweep_id, canary_id, file)
        );
        CREATE INDEX sweep_findings_canary ON sweep_findings(canary_id);
        """
    )


MIGRATIONS: list = [("sweep-001-feeds-sweeps-findings", _tables)]
