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


def _token_owner(db: sqlite_utils.Database) -> None:
    # A token belongs to an account: it dies with it and never acts above its role. Tokens made in the
    # console or the API before owners existed belong to the account that made them (or to the owner of
    # the token that made them); tokens made on the host stay ownerless (listed so, bounded by their role).
    db.executescript(
        """
        ALTER TABLE api_tokens ADD COLUMN owner TEXT;
        UPDATE api_tokens SET owner = created_by WHERE created_by IN (SELECT name FROM users);
        UPDATE api_tokens SET owner = (SELECT t.owner FROM api_tokens t WHERE 'token:' || t.name = api_tokens.created_by
                                       AND t.owner IS NOT NULL ORDER BY t.id LIMIT 1)
            WHERE owner IS NULL AND created_by LIKE 'token:%';
        CREATE INDEX api_tokens_owner ON api_tokens(owner);
        """
    )


def _canary_memos(db: sqlite_utils.Database) -> None:
    # What the team wants to remember about one canary (where it was planted by hand, a ticket): a row of
    # its own, so the generated record stays as generated; every change is in the audit log.
    db.execute(
        """CREATE TABLE canary_memos (
            canary_id TEXT PRIMARY KEY REFERENCES canaries(id) ON DELETE CASCADE,
            memo TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )


MIGRATIONS = [("web-001-roles-audit-tokens", _roles_audit_tokens), ("web-002-token-owner", _token_owner),
              ("web-003-canary-memos", _canary_memos)]
