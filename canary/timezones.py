"""The one time zone people read times in (setting ``display.timezone``): console, alert texts, notices.

Stored times and JSON stay UTC; only what is written for people is converted, always with the zone named.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlite_utils

DEFAULT_ZONE = "Europe/Paris"
_LABELS = {"Europe/Paris": ("heure de Paris", "Paris time"), "UTC": ("UTC", "UTC")}


@dataclass(frozen=True)
class Zone:
    name: str
    tz: tzinfo
    label_fr: str
    label_en: str

    def show(self, value: str | None) -> str:
        """``YYYY-MM-DD HH:MM`` in this zone for a stored ISO time; the text itself if it is not one."""
        moment = parse_iso(value)
        if moment is None:
            return value or "?"
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def zone_named(name: str) -> Zone:
    """The zone ``name``; UTC when the system has no time zone data (labelled so, never silently)."""
    try:
        tz: tzinfo = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        name, tz = "UTC", UTC
    label_fr, label_en = _LABELS.get(name, (name, name))
    return Zone(name, tz, label_fr, label_en)


def display_zone(db: sqlite_utils.Database) -> Zone:
    from canary.settings import get_str

    return zone_named(get_str(db, "display.timezone"))
