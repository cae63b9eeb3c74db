"""What the egress watch saw and let through, for ``canary egress status``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

CHANNELS = ("egress-web", "egress-mail")


def egress_status(db: sqlite_utils.Database, days: int) -> list[dict[str, Any]]:
    """Per day and channel: sightings (events, distinct uploads or mails) and bodies passed unmatched by reason."""
    since = (datetime.now(UTC) - timedelta(days=max(0, days - 1))).date().isoformat()
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(day: str, channel: str) -> dict[str, Any]:
        return rows.setdefault((day, channel), {"day": day, "channel": channel, "sightings": 0, "messages": 0,
                                                "blocked": 0, "over_limit": 0, "timeout": 0, "timeout_blocked": 0,
                                                "protocol_error": 0,
                                                "passed_bytes": 0})

    for day, channel, sightings, messages, blocked in db.execute(
            """SELECT substr(time, 1, 10), channel, COUNT(*), COUNT(DISTINCT json_extract(details, '$.group')),
                      SUM(action = 'blocked')
               FROM events WHERE channel IN (?, ?) AND time >= ? GROUP BY 1, 2""", [*CHANNELS, since]):
        entry = row(day, channel)
        entry.update(sightings=sightings, messages=messages, blocked=blocked or 0)
    for day, channel, reason, count, size in db.execute(
            "SELECT day, channel, reason, count, bytes FROM egress_passed WHERE day >= ?", [since]):
        entry = row(day, channel)
        entry[reason] = count
        if reason != "timeout_blocked":  # refused at the deadline (fail closed): not let through
            entry["passed_bytes"] += size
    return [rows[key] for key in sorted(rows, reverse=True)]
