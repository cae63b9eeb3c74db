"""The console's own tables: roles on accounts, the audit log, API tokens.

The ``users``, ``web_sessions`` and ``login_failures`` tables were created by the core migrations
before the console had a schema of its own; they stay where they are.
"""

from __future__ import annotations

import sqlite_utils


def _roles_audit_tokens(db: sqlite_utils.Database) -> None:
    # Accounts made before roles existed could do everything: they stay admins.
    db.executescript(
        """
        ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
        ALTER TABLE users ADD COLUMN disabled_at TEXT;
        CREATE TABLE web_audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            who TEXT NOT NULL,
            via TEXT NOT NULL,
            source TEXT,
            action TEXT NOT NULL,
            target TEXT,
            details TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX web_audit_at ON web_audit(at);
        -- Append-only: the registry itself refuses to rewrite or erase history.
        CREATE TRIGGER web_audit_no_update BEFORE UPDATE ON web_audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TRIGGER web_audit_no_delete BEFORE DELETE ON web_audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            digest TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT,
            revoked_at TEXT,
            last_used_at TEXT
        );
        """
    )


MIGRATIONS = [("web-001-roles-audit-tokens", _roles_audit_tokens)]
