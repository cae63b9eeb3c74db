"""Tables of canary.generate (append-only migrations, names prefixed with the domain)."""

from __future__ import annotations

import sqlite_utils


def _contact_points(db: sqlite_utils.Database) -> None:
    # Contact points a canary should carry but does not yet: a consumer mailbox waiting for the
    # operator to open it (pending -> confirmed), or one the pools could not give (unfilled).
    # A pending value is reserved here so no other canary is proposed the same address; it becomes
    # a marker only when confirmed.
    db.executescript(
        """
        CREATE TABLE contact_points (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            canary_id TEXT NOT NULL REFERENCES canaries(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('email', 'phone')),
            value TEXT,
            provider TEXT,
            state TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'unfilled')),
            created_at TEXT NOT NULL,
            confirmed_at TEXT
        );
        CREATE UNIQUE INDEX contact_points_value ON contact_points(kind, value) WHERE value IS NOT NULL;
        CREATE INDEX contact_points_canary ON contact_points(canary_id);
        CREATE INDEX contact_points_state ON contact_points(state);
        """
    )


def _audits(db: sqlite_utils.Database) -> None:
    # The last self-audit of each system (`canary plan SYSTEM --against EXPORT`): figures only (AUC, feature
    # names, filter shares), never a row of the export (canary.generate.self_audit).
    db.executescript(
        """
        CREATE TABLE generate_audits (
            system TEXT PRIMARY KEY REFERENCES systems(name) ON UPDATE CASCADE ON DELETE CASCADE,
            built_at TEXT NOT NULL,
            audit TEXT NOT NULL
        );
        """
    )


MIGRATIONS = [("generate-001-contact-points", _contact_points), ("generate-002-audits", _audits)]
