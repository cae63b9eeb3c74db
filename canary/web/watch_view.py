"""What the "watch sources" page shows: access-log sources with their counters and last errors, and
each tripwire channel's configuration and latest activity.

The listeners run in the ``serve`` process, not in the console's request threads, so their state is
read from what they leave in the registry: the last event each channel stored and the IMAP poll marks.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from canary.settings import get_str
from canary.web import cuts
from canary.web.roles import allows

TRIPWIRE_CHANNELS = ("http", "dns", "smtp", "imap", "call", "sms")


def access_sources(db: sqlite_utils.Database, role: str) -> list[dict[str, Any]]:
    """``canary logs list --json`` rows, their addresses cut to the role."""
    from canary.watch.accesslog.sources import LIST_KEYS, list_sources

    return [cuts.access_source({key: source[key] for key in LIST_KEYS}, role) for source in list_sources(db)]


def allow_rules(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Active access-log allow rules (``canary logs allow list --json`` rows)."""
    from canary.watch.accesslog.allow import list_rules

    return list_rules(db)


def tripwire_state(db: sqlite_utils.Database, role: str) -> dict[str, Any]:
    marks = ", ".join("?" for _ in TRIPWIRE_CHANNELS)
    # One pass over the events for every channel (there is no index on channel to probe six times).
    seen = {row[0]: row[1:] for row in db.execute(
        f"SELECT channel, MAX(time), SUM(time >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day')) FROM events "
        f"WHERE channel IN ({marks}) GROUP BY channel", list(TRIPWIRE_CHANNELS)).fetchall()}
    channels = [{"channel": channel, "last_event": seen.get(channel, (None, 0))[0],
                 "last_24h": int(seen.get(channel, (None, 0))[1] or 0)} for channel in TRIPWIRE_CHANNELS]
    # Polled mailboxes are canary addresses, that is marker values: not for viewers.
    mailboxes = [] if not allows(role, "analyst") else [
        dict(zip(("mailbox", "last_uid", "polled_at"), row, strict=True)) for row in db.execute(
            "SELECT mailbox, last_uid, polled_at FROM tripwire_imap_state ORDER BY mailbox").fetchall()]
    ignore = [dict(row) for row in db.query(
        "SELECT id, kind, value, system, note, created_at FROM tripwire_ignore_rules ORDER BY id")]
    return {"base_url": get_str(db, "tripwire.base_url") or None,
            "dns_zone": get_str(db, "tripwire.dns_zone") or None,
            "channels": channels, "mailboxes": mailboxes, "ignore_rules": ignore}
