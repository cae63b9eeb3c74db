"""Tables of canary.watch.sweep (append-only migrations, names prefixed with the domain)."""

from __future__ import annotations

from collections.abc import Callable

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


def _index_version(db: sqlite_utils.Database) -> None:
    """A counter bumped by any change to canaries or markers: the sweep index cache is valid while it
    stays the same. The epoch tells this registry from another one (a copy keeps it, on purpose)."""
    statements = [
        "CREATE TABLE sweep_index_state (id INTEGER PRIMARY KEY CHECK (id = 1), epoch TEXT NOT NULL, "
        "version INTEGER NOT NULL)",
        "INSERT INTO sweep_index_state (id, epoch, version) VALUES (1, lower(hex(randomblob(16))), 0)",
    ]
    for table in ("canaries", "markers"):
        for action in ("INSERT", "UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER sweep_index_{table}_{action.lower()} AFTER {action} ON {table} "
                "BEGIN UPDATE sweep_index_state SET version = version + 1 WHERE id = 1; END")
    db.executescript(";\n".join(statements) + ";")


def _runner(db: sqlite_utils.Database) -> None:
    """Which process runs a sweep (host, pid): a sweep left running by a process that is gone can be told
    from one still running, so it never blocks the console's bounded scans."""
    db.execute("ALTER TABLE sweeps ADD COLUMN runner_host TEXT")
    db.execute("ALTER TABLE sweeps ADD COLUMN runner_pid INTEGER")


def _source_state(db: sqlite_utils.Database) -> None:
    """What a feed's source kind remembers between runs (JSON; e.g. the Telegram exports already read)."""
    db.execute("ALTER TABLE sweep_feeds ADD COLUMN source_state TEXT")


Migration = tuple[str, Callable[[sqlite_utils.Database], None]]
MIGRATIONS: list[Migration] = [("sweep-001-feeds-sweeps-findings", _tables),
                               ("sweep-002-index-version", _index_version), ("sweep-003-runner", _runner),
                               ("sweep-004-source-state", _source_state)]
