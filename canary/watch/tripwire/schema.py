"""Tables of canary.watch.tripwire (append-only migrations, names prefixed with the domain)."""

from __future__ import annotations

import sqlite_utils


def _tables(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- Operator rules that mark hits as expected (severity info); the hit is still stored.
        CREATE TABLE tripwire_ignore_rules (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('cidr', 'user_agent')),
            value TEXT NOT NULL,
            system TEXT REFERENCES systems(name) ON UPDATE CASCADE ON DELETE CASCADE,
            note TEXT,
            created_at TEXT NOT NULL
        );
        -- Mail sent to canary addresses, kept for analysis (size capped at reception).
        CREATE TABLE tripwire_messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at TEXT NOT NULL,
            channel TEXT NOT NULL,
            canary_ids TEXT NOT NULL,
            peer TEXT,
            mail_from TEXT,
            rcpt_to TEXT NOT NULL,
            subject TEXT,
            message_id TEXT,
            size INTEGER NOT NULL,
            truncated INTEGER NOT NULL DEFAULT 0,
            raw BLOB NOT NULL
        );
        -- How far each polled IMAP mailbox has been read.
        CREATE TABLE tripwire_imap_state (
            mailbox TEXT PRIMARY KEY,
            uidvalidity INTEGER NOT NULL,
            last_uid INTEGER NOT NULL,
            polled_at TEXT NOT NULL
        );
        """
    )


def _probes(db: sqlite_utils.Database) -> None:
    # Probe mails sent to consumer mailboxes before a canary carries them ('canary contacts confirm'):
    # matched by Message-ID so a probe is never an alert.
    db.executescript(
        """
        CREATE TABLE tripwire_probes (
            message_id TEXT PRIMARY KEY,
            address TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            received_at TEXT,
            route TEXT
        );
        """
    )


MIGRATIONS = [("tripwire-001-rules-messages-imap", _tables), ("tripwire-002-probes", _probes)]
