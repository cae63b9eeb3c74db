"""What a tripwire listener saw, as plain data that can wait in the journal and be stored later.

Each listener builds a ``Sighting`` (kind + JSON-able payload + unique id) and hands it to the writer.
Storing it (token lookup, noise, ignore rules, event) is the kind's own code (canary.watch.tripwire.kinds),
the same whether it runs at once in the writer's batch or later from the journal (canary.store.journal);
a replayed sighting carries the dedup key ``journal:<id>`` (``:<canary>`` for mail), so it can never be
stored twice.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from canary.store.journal import Entry
from canary.watch.tripwire.hits import Hit
from canary.watch.tripwire.kinds import KINDS
from canary.watch.tripwire.kinds.mail import mail_payload
from canary.watch.tripwire.noise import NoisePolicy

__all__ = ["Sighting", "SightingStore", "hit_from", "hit_payload", "mail_payload"]


@dataclass
class Sighting:
    """One acknowledged sighting; ``store(db)`` runs in the writer (its ``journal_entry`` if refused)."""

    kind: str
    payload: dict[str, Any]
    store_with: SightingStore
    id: str = field(default_factory=lambda: secrets.token_hex(10))

    def journal_entry(self) -> Entry:
        return {"id": self.id, "kind": self.kind, "payload": self.payload}

    def __call__(self, db: sqlite_utils.Database) -> Any:
        return self.store_with.store(db, self.journal_entry())


@dataclass(frozen=True)
class SightingStore:
    """Turns sightings into events; built once per ``serve`` from the settings."""

    policy: NoisePolicy
    mail_max_bytes: int = 1_048_576

    def sighting(self, kind: str, payload: dict[str, Any]) -> Sighting:
        if kind not in KINDS:
            raise ValueError(f"unknown sighting kind {kind!r}")
        return Sighting(kind, payload, self)

    def replay(self, db: sqlite_utils.Database, entry: Entry) -> Any:
        return self.store(db, entry, replayed=True)

    def store(self, db: sqlite_utils.Database, entry: Entry, *, replayed: bool = False) -> Any:
        kind = KINDS.get(entry["kind"])
        if kind is None:
            raise ValueError(f"unknown sighting kind {entry['kind']!r}")
        return kind.store(db, entry["payload"], f"journal:{entry['id']}" if replayed else None, self)


def hit_payload(hit: Hit) -> dict[str, Any]:
    return dataclasses.asdict(hit)


def hit_from(data: dict[str, Any]) -> Hit:
    return Hit(**data)
