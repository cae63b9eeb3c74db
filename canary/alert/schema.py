"""Tables of canary.alert (append-only migrations, names prefixed with the domain).

The core ``alerts`` table is extended with the lifecycle (who acknowledged or resolved, when, why),
what was paged last (to re-page only on escalation) and per-system detail. ``alert_events`` links each
event to the one alert it was folded into; ``alert_state`` holds the correlation cursor, moved in the
same transaction as the alerts it produced. ``alert_destinations`` and ``alert_outbox`` are the
delivery side: one outbox row per (alert version x destination), kept until delivered.
"""

from __future__ import annotations

import sqlite_utils


def _alert_tables(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        ALTER TABLE alerts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE alerts ADD COLUMN paged TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE alerts ADD COLUMN by_system TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE alerts ADD COLUMN establishments TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE alerts ADD COLUMN accounts TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE alerts ADD COLUMN account_systems TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE alerts ADD COLUMN sources TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE alerts ADD COLUMN exfiltration INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE alerts ADD COLUMN acked_by TEXT;
        ALTER TABLE alerts ADD COLUMN acked_at TEXT;
        ALTER TABLE alerts ADD COLUMN resolved_by TEXT;
        ALTER TABLE alerts ADD COLUMN resolved_at TEXT;
        ALTER TABLE alerts ADD COLUMN note TEXT;
        CREATE INDEX alerts_state ON alerts(state, id);

        CREATE TABLE alert_events (
            event_id INTEGER PRIMARY KEY REFERENCES events(id),
            alert_id INTEGER NOT NULL REFERENCES alerts(id)
        );
        CREATE INDEX alert_events_alert ON alert_events(alert_id);

        CREATE TABLE alert_state (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );

        CREATE TABLE alert_destinations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            url TEXT NOT NULL,
            kind TEXT NOT NULL,
            min_severity TEXT NOT NULL DEFAULT 'low',
            systems TEXT NOT NULL DEFAULT '[]',
            secret TEXT,
            created_at TEXT NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0,
            failing_since REAL,
            retry_at REAL,
            warned_for REAL,
            last_error TEXT,
            last_success_at TEXT
        );

        CREATE TABLE alert_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            alert_id INTEGER NOT NULL REFERENCES alerts(id),
            version INTEGER NOT NULL,
            destination_id INTEGER NOT NULL REFERENCES alert_destinations(id) ON DELETE CASCADE,
            idempotency_key TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            lease_owner TEXT,
            lease_until REAL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            delivered_at TEXT,
            UNIQUE (alert_id, version, destination_id)
        );
        CREATE INDEX alert_outbox_due ON alert_outbox(state, next_attempt_at);
        """
    )


_OUTBOX_COLUMNS = ("id, alert_id, version, destination_id, idempotency_key, payload, state, attempts, next_attempt_at, "
                   "lease_owner, lease_until, last_error, created_at, delivered_at")


def _rebuild_outbox(db: sqlite_utils.Database, kinds: tuple[str, ...], *, copied: str, unique: str = "") -> None:
    """Rebuild ``alert_outbox`` with these message kinds (SQLite cannot change a CHECK or UNIQUE constraint
    in place), rows kept. One statement at a time: ``executescript`` would commit the migration half-way."""
    allowed = ", ".join(f"'{kind}'" for kind in kinds)
    db.execute(
        f"""CREATE TABLE alert_outbox_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            alert_id INTEGER NOT NULL REFERENCES alerts(id),
            version INTEGER NOT NULL,
            destination_id INTEGER NOT NULL REFERENCES alert_destinations(id) ON DELETE CASCADE,
            idempotency_key TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            lease_owner TEXT,
            lease_until REAL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            delivered_at TEXT,
            kind TEXT NOT NULL DEFAULT 'page' CHECK (kind IN ({allowed})){"," if unique else ""}
            {unique}
        )"""
    )
    db.execute(f"INSERT INTO alert_outbox_new ({copied}) SELECT {copied} FROM alert_outbox")
    db.execute("DROP TABLE alert_outbox")
    db.execute("ALTER TABLE alert_outbox_new RENAME TO alert_outbox")
    db.execute("CREATE INDEX alert_outbox_due ON alert_outbox(state, next_attempt_at)")


def _state_notices(db: sqlite_utils.Database) -> None:
    """Outbox rows get a ``kind``: the page itself, or the notice that it was acknowledged or resolved.

    SQLite cannot change a UNIQUE constraint in place, so the table is rebuilt (rows kept, as pages).
    One statement at a time: ``executescript`` would commit the migration's transaction half-way.
    """
    _rebuild_outbox(db, ("page", "acknowledged", "resolved"), copied=_OUTBOX_COLUMNS,
                    unique="UNIQUE (alert_id, version, destination_id, kind)")


def _seen_again(db: sqlite_utils.Database) -> None:
    """How many more times the same dump was swept after the first (canary.alert.correlate)."""
    db.execute("ALTER TABLE alerts ADD COLUMN seen_again INTEGER NOT NULL DEFAULT 0")


def _incidents(db: sqlite_utils.Database) -> None:
    """One alert per incident across channels (``channels``), and an append-only timeline of what the
    people working it did (``alert_history``): notes are never overwritten."""
    db.execute("ALTER TABLE alerts ADD COLUMN channels TEXT NOT NULL DEFAULT '[]'")
    db.execute("UPDATE alerts SET channels = json_array(channel)")
    db.execute(
        """CREATE TABLE alert_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            alert_id INTEGER NOT NULL REFERENCES alerts(id),
            at TEXT NOT NULL,
            by TEXT,
            action TEXT NOT NULL,
            from_state TEXT,
            to_state TEXT,
            note TEXT
        )"""
    )
    db.execute("CREATE INDEX alert_history_alert ON alert_history(alert_id, id)")
    # What was done before this table existed is kept as the first entries of each timeline.
    for who, when, state in (("acked_by", "acked_at", "acknowledged"), ("resolved_by", "resolved_at", "resolved")):
        db.execute(f"INSERT INTO alert_history (alert_id, at, by, action, to_state, note) "
                   f"SELECT id, {when}, {who}, ?, ?, CASE WHEN state = ? THEN note END FROM alerts "
                   f"WHERE {when} IS NOT NULL ORDER BY {when}", [state, state, state])


def _update_notices(db: sqlite_utils.Database) -> None:
    """Outbox rows of kind ``updated``: follow-up notices of an incident that gained evidence
    (canary.alert.followup), several per alert version, told apart by their idempotency key.

    The table is rebuilt (SQLite cannot change a CHECK or UNIQUE constraint in place), rows kept.
    """
    _rebuild_outbox(db, ("page", "acknowledged", "resolved", "updated"), copied=f"{_OUTBOX_COLUMNS}, kind")
    db.execute("CREATE INDEX alert_outbox_alert ON alert_outbox(alert_id, destination_id, state)")


MIGRATIONS = [("alert-001-lifecycle-outbox", _alert_tables), ("alert-002-state-notices", _state_notices),
              ("alert-003-seen-again", _seen_again), ("alert-004-incidents", _incidents),
              ("alert-005-update-notices", _update_notices)]
