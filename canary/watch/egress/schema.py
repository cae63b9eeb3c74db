"""Tables of canary.watch.egress (append-only migrations, names prefixed with the domain)."""

from __future__ import annotations

import sqlite_utils


def _passed(db: sqlite_utils.Database) -> None:
    # What went through without being matched, per day: a body over egress.max_body_bytes, a match
    # past its deadline, a peer that broke the protocol. Counts, not events: an everyday large upload
    # must not page anyone, but a sudden rise is visible with 'canary egress status'.
    db.executescript(
        """
        CREATE TABLE egress_passed (
            day TEXT NOT NULL,         -- YYYY-MM-DD (UTC)
            channel TEXT NOT NULL,     -- egress-web | egress-mail
            reason TEXT NOT NULL,      -- over_limit | timeout | protocol_error
            count INTEGER NOT NULL DEFAULT 0,
            bytes INTEGER NOT NULL DEFAULT 0,
            last_at TEXT NOT NULL,
            PRIMARY KEY (day, channel, reason)
        );
        """
    )


MIGRATIONS = [("egress_001_passed", _passed)]
