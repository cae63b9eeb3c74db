"""``http``: a callback URL, a Host or a document's picture carrying a token (the callback listener)."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from canary.watch.tripwire.hits import canary_for_tokens
from canary.watch.tripwire.kinds.base import SightingKind, StoreSettings, store_hit


def find_canary(db: sqlite_utils.Database, payload: dict[str, Any]) -> str | None:
    """The first of the request's token-shaped strings (path, Host, query) that names a canary."""
    return canary_for_tokens(db, payload["candidates"])


def store(db: sqlite_utils.Database, payload: dict[str, Any], dedup: str | None, settings: StoreSettings) -> Any:
    return store_hit(db, payload, dedup, settings, find_canary)


KIND = SightingKind(name="http", listener="canary.watch.tripwire.callback", payload_keys=("hit", "candidates"),
                    store=store)
