"""``webhook``: a call or text to a canary number, as the VoIP provider reports it (``/hooks/call``, ``/hooks/sms``)."""

from __future__ import annotations

import logging
from typing import Any

import sqlite_utils

from canary.store.registry import find_by_marker
from canary.watch.tripwire.kinds.base import SightingKind, StoreSettings, store_hit

log = logging.getLogger("canary.tripwire")


def find_canary(db: sqlite_utils.Database, payload: dict[str, Any]) -> str | None:
    number = payload.get("number")
    canary_id = find_by_marker(db, "phone", number) if number else None
    if canary_id is None:
        log.info("webhook %s for a number that is no canary", payload["hit"]["channel"])
    return canary_id


def store(db: sqlite_utils.Database, payload: dict[str, Any], dedup: str | None, settings: StoreSettings) -> Any:
    return store_hit(db, payload, dedup, settings, find_canary)


KIND = SightingKind(name="webhook", listener="canary.watch.tripwire.callback", payload_keys=("hit", "number"),
                    store=store)
