"""Reading what a watcher stored, from a connection of its own (it sees the writer's commits at once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from canary.store import open_db
from canary.store.events import list_events


def events_of(db_path: Path, channel: str | None = None) -> list[Any]:
    fresh = open_db(db_path, migrate_schema=False)
    try:
        return list(list_events(fresh, channel=channel))
    finally:
        fresh.close()
