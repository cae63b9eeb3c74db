"""Core tables: systems, canaries, markers, events, alerts, settings, users."""

from __future__ import annotations

import sqlite_utils


def _core_tables(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE systems (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            establishment TEXT,
            finess TEXT,
            notes TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE canaries (
            id TEXT PRIMARY KEY,
            system TEXT NOT NULL REFERENCES systems(name) ON UPDATE CASCADE,
            generation INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
            token TEXT NOT NULL UNIQUE,
            record TEXT NOT NULL
        );
        CREATE INDEX canaries_system ON canaries(system, generation);
        -- One row per identifying value; the primary key is what makes a sighting map to one canary.
        CREATE TABLE markers (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            canary_id TEXT NOT NULL REFERENCES canaries(id) ON DELETE CASCADE,
            PRIMARY KEY (kind, value)
        ) WITHOUT ROWID;
        CREATE INDEX markers_canary ON markers(canary_id);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            channel TEXT NOT NULL,
            canary_id TEXT REFERENCES canaries(id),
            system TEXT,
            source TEXT,
            severity TEXT NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
            account TEXT,
            action TEXT,
            details TEXT,
            dedup_key TEXT UNIQUE
        );
        CREATE INDEX events_time ON events(time);
        CREATE INDEX events_canary ON events(canary_id);
        CREATE INDEX events_system ON events(system, time);
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
            severity TEXT NOT NULL,
            channel TEXT NOT NULL,
            systems TEXT NOT NULL DEFAULT '[]',
            canaries TEXT NOT NULL DEFAULT '[]',
            count INTEGER NOT NULL DEFAULT 0,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            window TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX alerts_key ON alerts(key, state);
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """
    )


def _login_failures(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE login_failures (
            name TEXT NOT NULL,
            source TEXT,
            at TEXT NOT NULL
        );
        CREATE INDEX login_failures_name ON login_failures(name, at);
        """
    )


def _web_sessions(db: sqlite_utils.Database) -> None:
    # Console sessions kept server-side (the cookie holds a random id, this table its SHA-256), so that
    # logging out or changing a password ends every copy of a cookie; failures are throttled per address.
    db.executescript(
        """
        CREATE TABLE web_sessions (
            id TEXT PRIMARY KEY,
            user TEXT NOT NULL,
            created_at TEXT NOT NULL,
            seen_at TEXT NOT NULL
        );
        CREATE INDEX web_sessions_user ON web_sessions(user);
        CREATE INDEX login_failures_source ON login_failures(name, source, at);
        """
    )


def _system_site(db: sqlite_utils.Database) -> None:
    # Where the establishment is (INSEE commune code; else its FINESS department is used) and how
    # many patients it holds (the planner's and lint's population size), plus the host profile:
    # aggregates of the system's real patients, never a patient's value (canary.generate.profile).
    db.executescript(
        """
        ALTER TABLE systems ADD COLUMN site_commune TEXT;
        ALTER TABLE systems ADD COLUMN patients INTEGER;
        CREATE TABLE host_profiles (
            system TEXT PRIMARY KEY REFERENCES systems(name) ON UPDATE CASCADE ON DELETE CASCADE,
            built_at TEXT NOT NULL,
            profile TEXT NOT NULL
        );
        """
    )


def _journal_replayed(db: sqlite_utils.Database) -> None:
    # Ids of journal entries already stored (canary.store.journal): a replay is exactly once.
    db.executescript(
        """
        CREATE TABLE journal_replayed (
            id TEXT PRIMARY KEY,
            replayed_at TEXT NOT NULL
        );
        """
    )


def _leases(db: sqlite_utils.Database) -> None:
    # One row per role that only one ``canary serve`` may act in at a time (scheduler, delivery).
    db.execute(
        """CREATE TABLE leases (
               name TEXT PRIMARY KEY,
               holder TEXT NOT NULL,
               host TEXT NOT NULL,
               pid INTEGER NOT NULL,
               acquired_at TEXT NOT NULL,
               expires_at REAL NOT NULL
           )"""
    )


def _readiness_probe(db: sqlite_utils.Database) -> None:
    # One row that /readyz commits: proof that the registry takes writes, not only that it is open.
    db.execute("CREATE TABLE readiness_probe (id INTEGER PRIMARY KEY CHECK (id = 1), probed_at TEXT NOT NULL)")


def _restores(db: sqlite_utils.Database) -> None:
    # backup_taken: written into a backup's image only (when it was taken). restores: one row per
    # restore of this registry; its generation starts a new epoch of outside identifiers.
    db.execute("CREATE TABLE backup_taken (id INTEGER PRIMARY KEY CHECK (id = 1), taken_at TEXT NOT NULL)")
    db.execute(
        """CREATE TABLE restores (
               generation INTEGER PRIMARY KEY AUTOINCREMENT,
               backup_taken_at TEXT,
               restored_at TEXT NOT NULL,
               backup_file TEXT NOT NULL
           )"""
    )


MIGRATIONS = [("core-001-tables", _core_tables), ("core-002-login-failures", _login_failures),
              ("core-003-web-sessions", _web_sessions),
              ("core-004-system-site-and-profile", _system_site),
              ("core-005-journal-replayed", _journal_replayed),
              ("core-006-leases", _leases),
              ("core-007-readiness-probe", _readiness_probe),
              ("core-008-restores", _restores)]
