"""Tables of canary.watch.accesslog (append-only migrations, names prefixed with the domain)."""

from __future__ import annotations

import sqlite_utils


def _accesslog_tables(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- One row per watched audit trail. The counters are updated in the same transaction as the
        -- events of the lines they count, so they never disagree with the events table.
        CREATE TABLE accesslog_sources (
            name TEXT PRIMARY KEY,
            system TEXT NOT NULL REFERENCES systems(name) ON UPDATE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('syslog', 'file', 'fhir')),
            url TEXT NOT NULL,
            format TEXT NOT NULL,
            pattern TEXT,
            fields TEXT NOT NULL DEFAULT '{}',
            every INTEGER,
            created_at TEXT NOT NULL,
            lines INTEGER NOT NULL DEFAULT 0,
            malformed INTEGER NOT NULL DEFAULT 0,
            matched INTEGER NOT NULL DEFAULT 0,
            events INTEGER NOT NULL DEFAULT 0,
            last_line_at TEXT,
            last_malformed TEXT,
            last_error TEXT,
            last_error_at TEXT
        );
        CREATE INDEX accesslog_sources_system ON accesslog_sources(system);
        -- Where a reader stopped: file identity and byte offset, or a FHIR cursor.
        CREATE TABLE accesslog_positions (
            source TEXT PRIMARY KEY REFERENCES accesslog_sources(name) ON DELETE CASCADE,
            path TEXT,
            inode INTEGER,
            device INTEGER,
            offset INTEGER NOT NULL DEFAULT 0,
            cursor TEXT,
            updated_at TEXT NOT NULL
        );
        -- Known jobs (backup, ETL) whose reads are recorded at severity info instead of paged.
        CREATE TABLE accesslog_allow_rules (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            system TEXT NOT NULL REFERENCES systems(name) ON UPDATE CASCADE,
            account TEXT NOT NULL,
            owner TEXT NOT NULL,
            reason TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX accesslog_allow_rules_system ON accesslog_allow_rules(system, account);
        """
    )


MIGRATIONS = [("accesslog-001-tables", _accesslog_tables)]


def _sql_sources(db: sqlite_utils.Database) -> None:
    """Allow ``kind = 'sql'`` (an EHR audit table read from its database) and give sources an
    ``options`` column (JSON: the IPP lookup query of a database source).

    SQLite cannot change a CHECK constraint in place: the table is rebuilt. Its positions are set
    aside first, because dropping the old table would cascade-delete them. One statement at a time:
    executescript would commit the migration's transaction half-way.
    """
    old_columns = ("name, system, kind, url, format, pattern, fields, every, created_at, lines, malformed, "
                   "matched, events, last_line_at, last_malformed, last_error, last_error_at")
    for statement in (
        "CREATE TEMP TABLE accesslog_positions_keep AS SELECT * FROM accesslog_positions",
        "DROP TABLE accesslog_positions",
        """CREATE TABLE accesslog_sources_new (
            name TEXT PRIMARY KEY,
            system TEXT NOT NULL REFERENCES systems(name) ON UPDATE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('syslog', 'file', 'fhir', 'sql')),
            url TEXT NOT NULL,
            format TEXT NOT NULL,
            pattern TEXT,
            fields TEXT NOT NULL DEFAULT '{}',
            every INTEGER,
            created_at TEXT NOT NULL,
            lines INTEGER NOT NULL DEFAULT 0,
            malformed INTEGER NOT NULL DEFAULT 0,
            matched INTEGER NOT NULL DEFAULT 0,
            events INTEGER NOT NULL DEFAULT 0,
            last_line_at TEXT,
            last_malformed TEXT,
            last_error TEXT,
            last_error_at TEXT,
            options TEXT NOT NULL DEFAULT '{}'
        )""",
        f"INSERT INTO accesslog_sources_new ({old_columns}) SELECT {old_columns} FROM accesslog_sources",
        "DROP TABLE accesslog_sources",
        "ALTER TABLE accesslog_sources_new RENAME TO accesslog_sources",
        "CREATE INDEX accesslog_sources_system ON accesslog_sources(system)",
        """CREATE TABLE accesslog_positions (
            source TEXT PRIMARY KEY REFERENCES accesslog_sources(name) ON DELETE CASCADE,
            path TEXT,
            inode INTEGER,
            device INTEGER,
            offset INTEGER NOT NULL DEFAULT 0,
            cursor TEXT,
            updated_at TEXT NOT NULL
        )""",
        "INSERT INTO accesslog_positions SELECT * FROM accesslog_positions_keep",
        "DROP TABLE accesslog_positions_keep",
    ):
        db.execute(statement)


MIGRATIONS.append(("accesslog-002-sql-sources", _sql_sources))


def _received_counters(db: sqlite_utils.Database) -> None:
    """What reached each source's reader (bytes, and messages or lines before parsing), so a line lost
    between the socket or the file and the parser shows as ``lines_received`` above ``lines``."""
    db.execute("ALTER TABLE accesslog_sources ADD COLUMN bytes_received INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE accesslog_sources ADD COLUMN lines_received INTEGER NOT NULL DEFAULT 0")


MIGRATIONS.append(("accesslog-003-received-counters", _received_counters))
