"""``dns``: a query for a name carrying a token under the canary zone (the DNS listener)."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from canary.store.registry import find_by_marker
from canary.watch.tripwire.hits import canary_for_tokens
from canary.watch.tripwire.kinds.base import SightingKind, StoreSettings, store_hit


def find_canary(db: sqlite_utils.Database, payload: dict[str, Any]) -> str | None:
    """The exact hostname marker first (longest suffix first), then any token label of the name."""
    for suffix in payload["suffixes"]:
        canary_id = find_by_marker(db, "hostname", suffix)
        if canary_id:
            return canary_id
    return canary_for_tokens(db, payload["candidates"])


def store(db: sqlite_utils.Database, payload: dict[str, Any], dedup: str | None, settings: StoreSettings) -> Any:
    return store_hit(db, payload, dedup, settings, find_canary)


KIND = SightingKind(name="dns", listener="canary.watch.tripwire.dns", payload_keys=("hit", "suffixes", "candidates"),
                    store=store)
