"""What every kind of tripwire sighting provides: how the writer turns what a listener saw into events.

A listener (HTTP callback, call/SMS webhook, DNS, SMTP) acknowledges its peer, then hands the writer a
sighting: its kind and a JSON-able payload, which may wait in the journal (canary.store.journal) and be
stored later. ``canary.watch.tripwire.sightings`` never asks which kind it holds: it calls the kind's
``store``, at once or at replay (then with the dedup key ``journal:<id>``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlite_utils

from canary.store.events import record_event
from canary.watch.tripwire.hits import Hit, record_hit
from canary.watch.tripwire.ignore import matching_rule
from canary.watch.tripwire.noise import NoisePolicy, noise_reason


class StoreSettings(Protocol):
    """What storing reads, built once per ``serve`` from the settings (``sightings.SightingStore``)."""

    @property
    def policy(self) -> NoisePolicy: ...

    @property
    def mail_max_bytes(self) -> int: ...


@dataclass(frozen=True)
class SightingKind:
    """One kind of sighting: who hands it to the writer and how it becomes events."""

    # The kind written in the journal (never renamed: a journal left by an older run is replayed).
    name: str
    # The listener module that makes these sightings, for the docs and the symmetry test.
    listener: str
    # Payload keys every sighting of this kind carries (the listener's side of the contract).
    payload_keys: tuple[str, ...]
    # (db, payload, dedup key of a replayed sighting or None, settings) -> what the writer reports back.
    # Looks the canary up, applies noise and ignore rules, records the event(s); the same work whether a
    # canary is named or not (a visitor must not tell a real token from a made-up one by the answer's time).
    store: Callable[[sqlite_utils.Database, dict[str, Any], str | None, StoreSettings], Any]


def store_hit(db: sqlite_utils.Database, payload: dict[str, Any], dedup: str | None, settings: StoreSettings,
              find_canary: Callable[[sqlite_utils.Database, dict[str, Any]], str | None]) -> Any:
    """The common path of a sighting carrying one ``Hit``: its canary found by the kind, then recorded."""
    hit = Hit(**payload["hit"])
    if dedup and hit.dedup_key is None:
        hit.dedup_key = dedup
    canary_id = find_canary(db, payload)
    if canary_id is None:
        same_work_as_a_hit(db, hit, settings.policy)
        return None
    return record_hit(db, hit, canary_id, settings.policy)


def same_work_as_a_hit(db: sqlite_utils.Database, hit: Hit, policy: NoisePolicy) -> None:
    """What storing a hit costs, for a token that names no canary, leaving nothing behind.

    The answer waits for the writer's commit; when a made-up token skipped the lookups and the insert,
    a real one answered measurably later (+0.17 ms median on loopback, ``bench/callbacks.py --timing``)
    and a visitor could tell real tokens from made-up ones by timing alone. So the same reads are made
    and the event is written inside a savepoint that is rolled back: the same work, nothing stored
    (measured after: the medians differ by less than the noise between two halves of one series).
    """
    db.execute("SELECT system FROM canaries WHERE id = ?", [""]).fetchone()
    noise = noise_reason(db, policy, channel=hit.channel, canary_id="", source_ip=hit.source_ip,
                         user_agent=hit.user_agent, hint=hit.noise_hint, time=hit.time)
    rule = matching_rule(db, system=None, source_ip=hit.source_ip, user_agent=hit.user_agent)
    details = {**hit.details, "group": f"tripwire:{hit.channel}:-", "noise": noise, "ignored_by": rule}
    db.execute("SAVEPOINT same_work")
    record_event(db, channel=hit.channel, source=hit.source, severity="high", details=details, time=hit.time)
    db.execute("ROLLBACK TO same_work")
    db.execute("RELEASE same_work")
